#include "daemon/jobs/job_request.h"

#include <tuple>

#include "common/limits.h"

namespace hone {

using nlohmann::json;

Status JobRequest::FromJson(const json& args, JobRequest* request) {
  *request = JobRequest();
  auto text = args.find("config_text");
  if (text == args.end() || !text->is_string())
    return Status::InvalidArgument(
        "submit needs \"config_text\", the config file's contents");
  request->config_text = text->get<std::string>();
  for (auto [name, field, fallback] :
       {std::tuple{"config_path", &request->config_path, "config"},
        std::tuple{"cwd", &request->cwd, "/"}}) {
    auto it = args.find(name);
    if (it != args.end() && !it->is_string())
      return Status::InvalidArgument(std::string("\"") + name + "\" must be a string");
    *field = it != args.end() ? it->get<std::string>() : fallback;
  }
  if (request->cwd.empty() || request->cwd[0] != '/')
    return Status::InvalidArgument("\"cwd\" must be an absolute path");
  if (auto cmd = args.find("command"); cmd != args.end()) {
    if (!cmd->is_array())
      return Status::InvalidArgument("\"command\" must be a list of strings");
    for (const json& arg : *cmd) {
      if (!arg.is_string())
        return Status::InvalidArgument("\"command\" must be a list of strings");
      request->command.push_back(arg.get<std::string>());
    }
  }
  if (auto warm = args.find("warm_start_job"); warm != args.end() && !warm->is_null()) {
    if (!warm->is_number_integer() || warm->get<int64_t>() < 1)
      return Status::InvalidArgument("\"warm_start_job\" must be a job number");
    request->warm_start_job = warm->get<int64_t>();
  }
  if (auto sets = args.find("overrides"); sets != args.end() && !sets->is_null()) {
    if (!sets->is_array() || sets->size() > limits::kMaxOverrides)
      return Status::InvalidArgument("\"overrides\" must be a list of at most " +
                                     std::to_string(limits::kMaxOverrides) +
                                     " KEY=VALUE strings");
    for (const json& set : *sets) {
      if (!set.is_string() ||
          set.get_ref<const std::string&>().size() > limits::kMaxValueBytes)
        return Status::InvalidArgument(
            "\"overrides\" must be KEY=VALUE strings of at most " +
            std::to_string(limits::kMaxValueBytes) + " bytes");
      request->overrides.push_back(set.get<std::string>());
    }
  }
  if (auto allow = args.find("allow_unknown"); allow != args.end() && !allow->is_null()) {
    if (!allow->is_boolean())
      return Status::InvalidArgument("\"allow_unknown\" must be true or false");
    request->allow_unknown = allow->get<bool>();
  }
  if (auto env = args.find("env"); env != args.end()) {
    if (!env->is_object())
      return Status::InvalidArgument("\"env\" must be an object of strings");
    size_t bytes = 0;
    for (const auto& [key, value] : env->items()) {
      if (!value.is_string() || key.empty() || key.find('=') != std::string::npos)
        return Status::InvalidArgument("\"env\" must map variable names to strings");
      request->env[key] = value.get<std::string>();
      bytes += key.size() + 1 + request->env[key].size();
    }
    if (bytes > limits::kMaxEnvBytes)
      return Status::InvalidArgument("the environment is " + std::to_string(bytes) +
                                     " bytes; the limit is " +
                                     std::to_string(limits::kMaxEnvBytes));
  }
  size_t command_bytes = 0;
  for (const std::string& arg : request->command) command_bytes += arg.size() + 1;
  if (command_bytes > limits::kMaxCommandBytes)
    return Status::InvalidArgument("the workload's command line is " +
                                   std::to_string(command_bytes) +
                                   " bytes; the limit is " +
                                   std::to_string(limits::kMaxCommandBytes));
  for (auto [name, value] : {std::pair{"cwd", &request->cwd},
                             std::pair{"config_path", &request->config_path}})
    if (value->size() > limits::kMaxPathBytes)
      return Status::InvalidArgument(std::string("\"") + name + "\" is " +
                                     std::to_string(value->size()) +
                                     " bytes long; the limit is " +
                                     std::to_string(limits::kMaxPathBytes));
  return Status::OK();
}

Status JobRequest::FromStored(const json& stored, JobRequest* request) {
  Status s = FromJson(stored, request);
  if (!s.ok()) return s;
  // Written by ToJson for a re-check; the state directory is not trusted.
  if (auto r = stored.find("recheck"); r != stored.end() && r->is_object()) {
    auto number = [&](const char* key, int64_t low, int64_t high, int64_t* out) {
      auto it = r->find(key);
      if (it == r->end() || !it->is_number_integer() || it->get<int64_t>() < low ||
          it->get<int64_t>() > high)
        return false;
      *out = it->get<int64_t>();
      return true;
    };
    int64_t rounds = 0;
    Recheck& recheck = request->recheck;
    if (!number("job", 1, INT64_MAX, &recheck.job) ||
        !number("trial", 0, INT32_MAX, &recheck.trial) ||
        !number("against", 0, INT32_MAX, &recheck.against) ||
        !number("rounds", 1, limits::kMaxRecheckRounds, &rounds) ||
        !r->contains("config") || !(*r)["config"].is_object() ||
        !r->contains("against_config") || !(*r)["against_config"].is_object())
      return Status::InvalidArgument("the stored request's re-check is malformed");
    recheck.rounds = static_cast<int>(rounds);
    recheck.config = (*r)["config"];
    recheck.against_config = (*r)["against_config"];
  }
  // Jobs stored before unknown keys were refused were accepted with them.
  if (!stored.contains("allow_unknown")) request->allow_unknown = true;
  // Written by ToJson: the submitter's, as SO_PEERCRED gave them.
  auto id = [&](const char* name, uint32_t* field) {
    auto it = stored.find(name);
    if (it == stored.end() || !it->is_number_unsigned() ||
        it->get<uint64_t>() > UINT32_MAX)
      return false;
    *field = it->get<uint32_t>();
    return true;
  };
  uint32_t uid = 0, gid = 0;
  if (!id("uid", &uid) || !id("gid", &gid))
    return Status::InvalidArgument("the stored request has no submitter (uid, gid)");
  request->user.uid = uid;
  request->user.gid = gid;
  auto groups = stored.find("groups");
  if (groups != stored.end() && groups->is_array()) {
    if (groups->size() > limits::kMaxGroups)
      return Status::InvalidArgument("the stored request has too many groups");
    for (const json& g : *groups) {
      if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX)
        return Status::InvalidArgument("the stored request's groups are malformed");
      request->user.groups.push_back(g.get<uint32_t>());
    }
  }
  return Status::OK();
}

json JobRequest::ToJson() const {
  json stored = {
      {"config_text", config_text},
      {"config_path", config_path},
      {"command", command},
      {"cwd", cwd},
      {"env", env},
      {"warm_start_job", warm_start_job ? json(warm_start_job) : json(nullptr)},
      {"allow_unknown", allow_unknown},
      {"overrides", overrides},
      {"uid", user.uid},
      {"gid", user.gid},
      {"groups", user.groups}};
  if (recheck.job > 0)
    stored["recheck"] = {
        {"job", recheck.job},         {"trial", recheck.trial},
        {"against", recheck.against}, {"rounds", recheck.rounds},
        {"config", recheck.config},   {"against_config", recheck.against_config}};
  return stored;
}

}  // namespace hone
