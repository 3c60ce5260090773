// JobRequest: a submit request's arguments, read from a client (honed runs as root
// and serves every member of a group), and the same request read back from the state
// directory, which is not trusted either. Each malformed field is refused with a
// message that names it; nothing throws.
#include "daemon/jobs/job_request.h"

#include <gtest/gtest.h>

#include <string>

#include "common/limits.h"

namespace hone {
namespace {

using nlohmann::json;

json Submit() {
  return {{"config_text", "domain: {}"}, {"cwd", "/tmp"}, {"command", {"./bench"}}};
}

// What FromJson says of `args`: "" when it accepts them.
std::string Refusal(const json& args) {
  JobRequest request;
  Status s = JobRequest::FromJson(args, &request);
  return s.ok() ? "" : s.message();
}

TEST(JobRequestTest, FieldsOfTheWrongShapeAreRefusedByName) {
  json args = Submit();
  EXPECT_EQ(Refusal(args), "");
  for (const char* name : {"cwd", "config_path"}) {
    args = Submit();
    args[name] = 5;
    EXPECT_EQ(Refusal(args), std::string("\"") + name + "\" must be a string");
  }
  for (json allow : {json("yes"), json(1), json::array({true}), json::object()}) {
    args = Submit();
    args["allow_unknown"] = allow;
    EXPECT_EQ(Refusal(args), "\"allow_unknown\" must be true or false") << allow;
  }
  args = Submit();
  args["allow_unknown"] = true;
  JobRequest request;
  ASSERT_TRUE(JobRequest::FromJson(args, &request).ok());
  EXPECT_TRUE(request.allow_unknown);

  json too_many = json::array();
  for (size_t i = 0; i <= limits::kMaxOverrides; ++i) too_many.push_back("seed=1");
  for (json sets :
       {json("seed=1"), json::array({1}), json::array({json::object()}),
        json::array({std::string(limits::kMaxValueBytes + 1, 'x')}), too_many}) {
    args = Submit();
    args["overrides"] = sets;
    EXPECT_NE(Refusal(args).find("\"overrides\" must be"), std::string::npos)
        << sets.dump().substr(0, 80);
  }
}

// A request honed wrote reads back as itself; the re-check it holds, written by
// honed, is read as untrusted: any field missing, out of range or of another type
// makes the stored request malformed, which fails that job alone.
TEST(JobRequestTest, AStoredReCheckIsReadBackOrRefusedWhateverTheStateDirectoryHolds) {
  JobRequest original;
  ASSERT_TRUE(JobRequest::FromJson(Submit(), &original).ok());
  original.user.uid = 1000;
  original.user.gid = 1000;
  original.recheck = {4, 7, 0, 5, json{{"n", 2}}, json{{"n", 1}}};
  JobRequest read;
  ASSERT_TRUE(JobRequest::FromStored(original.ToJson(), &read).ok());
  EXPECT_EQ(read.recheck.job, 4);
  EXPECT_EQ(read.recheck.trial, 7);
  EXPECT_EQ(read.recheck.rounds, 5);
  EXPECT_EQ(read.recheck.config, json({{"n", 2}}));
  EXPECT_EQ(read.ToJson(), original.ToJson());

  struct Case {
    const char* key;
    json value;
  } cases[] = {
      {"job", 0},
      {"job", -3},
      {"job", "4"},
      {"trial", -1},
      {"trial", int64_t{INT32_MAX} + 1},
      {"against", 1.5},
      {"rounds", 0},
      {"rounds", limits::kMaxRecheckRounds + 1},
      {"rounds", nullptr},
      {"config", json::array({2})},
      {"config", "n=2"},
      {"against_config", nullptr},
  };
  for (const Case& c : cases) {
    json stored = original.ToJson();
    stored["recheck"][c.key] = c.value;
    Status s = JobRequest::FromStored(stored, &read);
    EXPECT_FALSE(s.ok()) << c.key << " = " << c.value;
    EXPECT_EQ(s.message(), "the stored request's re-check is malformed") << c.key;
  }
  json missing = original.ToJson();
  missing["recheck"].erase("against_config");
  EXPECT_FALSE(JobRequest::FromStored(missing, &read).ok());
}

}  // namespace
}  // namespace hone
