// honed under hostile input (issue 14): input of unbounded depth or length, sent by
// a member of the socket group or printed by a job's scripts and workload, gets an
// error that names the limit, and honed keeps serving. Before the fix each of these
// crashed honed by stack overflow or was silently cut.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::CommandResult;
using test::Honed;
using test::TempDir;

// A config with knob k (`knob`, indented under it; default options [1, 2]), the
// metric m (`metric_yaml`, indented under it), one baseline sample, exhaustive
// search, and `extra` at the top level.
std::string Config(const std::string& metric_yaml, const std::string& extra = "",
                   const std::string& knob = "        options: [1, 2]\n") {
  return "domain:\n  common:\n    knobs:\n      k:\n" + knob + "    metrics:\n      m:\n" +
         metric_yaml + "    target: m:max\n" +
         "global_settings:\n  min_baseline_samples: 1\nstrategy: exhaustive\n" + extra;
}

// Launches `honed` with `env` (test seams such as HONE_TEST_FAIL_AT) and waits until
// it answers.
::testing::AssertionResult LaunchWith(Honed& honed, const std::vector<std::string>& env) {
  honed.Launch(env);
  if (test::WaitFor([&] { return honed.Hone({"ping"}).exit_code == 0; }, 30))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << test::ReadFile(honed.log_path());
}

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(honed_.Start()) << test::ReadFile(honed_.log_path()); }

  // Sends one request line and returns the reply to it.
  json Send(const json& request) {
    std::vector<std::string> replies = honed_.Raw(request.dump() + "\n", true, 10);
    if (replies.empty()) return json();
    return json::parse(replies.front(), nullptr, false);
  }

  json Submit(const std::string& config_text, std::vector<std::string> command = {"true"}) {
    return Send({{"v", 1},
                 {"id", 1},
                 {"cmd", "submit"},
                 {"args",
                  {{"config_text", config_text},
                   {"config_path", "hostile.yaml"},
                   {"command", command},
                   {"cwd", dir_.path()}}}});
  }

  bool Alive() { return honed_.Hone({"ping"}).exit_code == 0; }

  TempDir dir_;
  Honed honed_{dir_.path()};
};

TEST_F(HostileInputTest, Issue14APingNestedSixtyThousandLevelsGetsAnErrorAndHonedLives) {
  std::string line = "{\"v\":1,\"id\":4,\"cmd\":\"ping\",\"args\":{\"x\":" +
                     std::string(60000, '[') + std::string(60000, ']') + "}}\n";
  std::vector<std::string> replies = honed_.Raw(line, true, 10);
  ASSERT_EQ(replies.size(), 1u);
  json reply = json::parse(replies[0]);
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("limit of 64 levels"),
            std::string::npos)
      << reply.dump();
  EXPECT_TRUE(Alive());
}

TEST_F(HostileInputTest, Issue14AConstraintOfFiveThousandParenthesesIsRefusedAtSubmit) {
  std::string deep = std::string(5000, '(') + "k" + std::string(5000, ')') + " > 0";
  json reply = Submit(Config("        sample_script: echo 1\n",
                             "constraints:\n  - \"" + deep + "\"\n"));
  ASSERT_TRUE(reply.is_object());
  EXPECT_EQ(reply["ok"], false) << reply.dump();
  EXPECT_NE(reply.dump().find("the limit is 4096"), std::string::npos) << reply.dump();
  std::string nested = std::string(100, '(') + "k" + std::string(100, ')') + " > 0";
  reply = Submit(Config("        sample_script: echo 1\n",
                        "constraints:\n  - \"" + nested + "\"\n"));
  EXPECT_NE(reply.dump().find("nests deeper than the limit of 64"), std::string::npos)
      << reply.dump();
  EXPECT_TRUE(Alive());
}

TEST_F(HostileInputTest, Issue14AThousandKnobsAreRefusedAtSubmit) {
  std::string knobs;
  for (int i = 0; i < 1000; ++i)
    knobs += "      k" + std::to_string(i) + ":\n        options: [1, 2, 3]\n";
  json reply = Submit("domain:\n  common:\n    knobs:\n" + knobs +
                      "    metrics:\n      m:\n        sample_script: echo 1\n"
                      "    target: m:max\n");
  EXPECT_EQ(reply["ok"], false) << reply.dump();
  EXPECT_NE(reply.dump().find("more than 256 knobs"), std::string::npos) << reply.dump();
  EXPECT_TRUE(Alive());
}

TEST_F(HostileInputTest, Issue14ASampleScriptPrintingA27000DigitNumberIsReadNotACrash) {
  std::string config = dir_.Write(
      "k.yaml",
      Config("        sample_script: head -c 27000 /dev/zero | tr '\\\\0' 9; echo ' 5'\n"));
  CommandResult run = honed_.Hone({"run", "--json", config, "--", "true"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["state"], "completed");
  EXPECT_EQ(report["best"]["value"], 5);
  EXPECT_TRUE(Alive());
}

TEST_F(HostileInputTest, Issue14APatternMetricOverA27000DigitNumberIsReadNotACrash) {
  std::string workload = dir_.Write(
      "w.sh", "#!/bin/sh\nprintf 'rate: '; head -c 27000 /dev/zero | tr '\\0' 7; echo\n"
              "echo \"rate: $k\"\n",
      true);
  std::string config = dir_.Write(
      "k.yaml", Config("        pattern: 'rate: ([0-9]+)'\n"));
  CommandResult run = honed_.Hone({"run", "--json", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["best"]["value"], 2);
  EXPECT_TRUE(Alive());
}

TEST_F(HostileInputTest, Issue14AnOptionsScriptPrintingMoreThanItsLimitFailsTheJobNotCutIt) {
  std::string config = dir_.Write(
      "k.yaml", Config("        sample_script: echo 1\n", "",
                       "        options_script: seq 1 1000000\n"));
  CommandResult run = honed_.Hone({"run", "--json", config, "--", "true"});
  EXPECT_NE(run.exit_code, 0);
  json report = json::parse(run.out, nullptr, false);
  EXPECT_EQ(report.value("state", ""), "failed") << run.out;
  EXPECT_NE(report.value("message", "").find("options_script `seq 1 1000000` printed "
                                             "6888896 bytes; the limit is 1048576"),
            std::string::npos)
      << run.out;
  EXPECT_TRUE(Alive());
}

TEST_F(HostileInputTest, Issue14AConfigOverTheLimitIsAConfigErrorNotABrokenPipe) {
  std::string config = dir_.Write(
      "k.yaml", Config("        sample_script: echo 1\n") + "#" +
                    std::string(5 << 20, 'x') + "\n");
  CommandResult run = honed_.Hone({"run", config, "--", "true"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_EQ(run.err.find("Broken pipe"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("the limit is 1048576"), std::string::npos) << run.err;
}

// Issue 14: a job whose tuner failed to allocate stayed "running" for ever: cancel
// did nothing, the queue was stuck and SIGTERM was ignored. Now the job fails with
// the reason, and honed goes on.
TEST(HostileInputFaultTest, Issue14AnAllocationThatFailsEndsTheJobNotTheQueue) {
  TempDir dir;
  Honed honed(dir.path());
  ASSERT_TRUE(LaunchWith(honed, {"HONE_TEST_FAIL_AT=propose:3"}));
  std::string config = dir.Write(
      "k.yaml", Config("        sample_script: echo 1\n", "", "        options: [1, 2, 3]\n"));
  CommandResult first = honed.Hone({"run", "--json", config, "--", "true"});
  json report = json::parse(first.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << first.out << first.err;
  EXPECT_EQ(report["state"], "failed");
  EXPECT_NE(report.value("message", "").find("internal error in honed: std::bad_alloc"),
            std::string::npos)
      << report.dump();
  // The queue goes on: the next job runs to its end.
  CommandResult second = honed.Hone({"run", "--json", config, "--", "true"});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(json::parse(second.out, nullptr, false).value("state", ""), "completed");
  // And SIGTERM stops honed.
  EXPECT_EQ(honed.Stop(), 0);
}

TEST_F(HostileInputTest, Issue14ASecondHonedOnTheSameStateDirectoryRefusesToStart) {
  // Before the lock, a second honed on the directory killed the first one's
  // workloads as leftovers of a crash.
  CommandResult second = test::RunCommand(
      {std::string(HONE_BIN_DIR) + "/honed", "--socket", dir_.path() + "/second.sock",
       "--state-dir", honed_.state_dir()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("another honed (pid "), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("is using state directory " + honed_.state_dir()),
            std::string::npos)
      << second.err;
  EXPECT_TRUE(Alive());
}

TEST(HostileStateTest, Issue14HonedRefusesAStateDirectoryOthersCanWrite) {
  TempDir dir;
  std::string state = dir.path() + "/state";
  ASSERT_EQ(mkdir(state.c_str(), 0777), 0);
  ASSERT_EQ(chmod(state.c_str(), 0777), 0);
  CommandResult run = test::RunCommand({std::string(HONE_BIN_DIR) + "/honed", "--socket",
                                        dir.path() + "/s.sock", "--state-dir", state});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("is writable by its group or others (mode 0777)"),
            std::string::npos)
      << run.err;
  // --restore (ExecStopPost) trusts it no more than the daemon does.
  run = test::RunCommand({std::string(HONE_BIN_DIR) + "/honed", "--restore", "--socket",
                          dir.path() + "/s.sock", "--state-dir", state});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("writable by its group or others"), std::string::npos) << run.err;
}

// Issue 14: everything ran on one thread, so a slow proposal (a job with 40,000
// knobs) left honed deaf: no replies, SIGTERM ignored. Now the tuner works on a
// thread of its own: with a proposal held, honed still answers ping and status
// (a running job's report waits for the worker), and the job goes on once the
// proposal is released.
TEST(HostileInputFaultTest, Issue14HonedAnswersWhileAProposalIsSlow) {
  TempDir dir;
  Honed honed(dir.path());
  std::string hold = dir.path() + "/hold";
  ASSERT_TRUE(LaunchWith(honed, {"HONE_TEST_HOLD_AT=propose:3", "HONE_TEST_HOLD_FILE=" + hold}));
  std::string config = dir.Write(
      "k.yaml", Config("        sample_script: echo 1\n", "", "        options: [1, 2, 3]\n"));
  json submitted = honed.HoneJson({"submit", config, "--", "true"});
  ASSERT_TRUE(submitted.is_object());
  ASSERT_TRUE(test::WaitFor([&] { return access(hold.c_str(), F_OK) == 0; }, 30));
  // The proposal is held. A client that got no answer in 20 s would fail here.
  auto bounded = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"timeout", "20", std::string(HONE_BIN_DIR) + "/hone",
                                     "--socket", honed.socket(), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::RunCommand(argv);
  };
  EXPECT_EQ(bounded({"ping"}).exit_code, 0);
  CommandResult status = bounded({"status", "1"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(json::parse(status.out, nullptr, false).value("state", ""), "running");
  ASSERT_EQ(unlink(hold.c_str()), 0);
  json done;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        done = honed.HoneJson({"status", "1"});
        return done.value("state", "") == "completed";
      },
      60))
      << done.dump();
  EXPECT_EQ(honed.Stop(), 0);
}

// Issue 14: a stored job whose config crashed honed while it was read at start
// crashed it at every restart, until systemd gave up. Now honed remembers which
// job it was reading (the sentinel) and does not read that one again.
TEST(HostileInputFaultTest, Issue14AJobThatCrashedHonedAtLoadIsNotLoadedAgain) {
  TempDir dir;
  std::string config = dir.Write("k.yaml", Config("        sample_script: echo 1\n"));
  {
    Honed honed(dir.path());
    ASSERT_TRUE(honed.Start());
    ASSERT_EQ(honed.Hone({"run", config, "--", "true"}).exit_code, 0);
    ASSERT_EQ(honed.Hone({"run", config, "--", "true"}).exit_code, 0);
    honed.Stop();
  }
  Honed honed(dir.path());
  // Reading job 2 at start kills honed, as a crash in the parser would.
  honed.Launch({"HONE_TEST_CRASH_AT=load-job:2"});
  ASSERT_TRUE(honed.WaitForDeathBySigkill(30)) << test::ReadFile(honed.log_path());
  ASSERT_TRUE(honed.Start()) << test::ReadFile(honed.log_path());
  json second = honed.HoneJson({"status", "2"});
  EXPECT_EQ(second.value("state", ""), "completed");
  EXPECT_NE(second.value("message", "").find("honed died while loading this job"),
            std::string::npos)
      << second.dump();
  EXPECT_EQ(honed.HoneJson({"status", "1"}).value("message", "x"), "x");
}

// Issue 15: a job that was running when honed died is resumed; but one running at
// two deaths of honed in a row (it may be what kills honed) is failed, not resumed
// a third time.
TEST(HostileInputFaultTest, Issue15AJobRunningAtTwoDeathsOfHonedInARowIsNotResumedAgain) {
  TempDir dir;
  std::string config = dir.Write("k.yaml", Config("        sample_script: sleep 300\n"));
  Honed honed(dir.path());
  ASSERT_TRUE(honed.Start());
  ASSERT_TRUE(honed.HoneJson({"submit", config, "--", "true"}).is_object());
  auto running = [&] {
    return test::WaitFor(
        [&] { return honed.HoneJson({"status", "1"}).value("state", "") == "running"; },
        30);
  };
  ASSERT_TRUE(running());
  honed.Kill();
  ASSERT_TRUE(honed.Start());
  ASSERT_TRUE(running()) << "resumed after the first death";
  json job = honed.HoneJson({"status", "1"});
  EXPECT_EQ(job["resumed"]["times"], 1) << job.dump();
  honed.Kill();
  ASSERT_TRUE(honed.Start());
  job = honed.HoneJson({"status", "1"});
  EXPECT_EQ(job.value("state", ""), "failed") << job.dump();
  EXPECT_NE(job.value("message", "").find("2 times in a row; it is not resumed again"),
            std::string::npos)
      << job.dump();
}

// With --no-resume, a job that was running when honed died stays interrupted.
TEST(HostileInputFaultTest, Issue15WithNoResumeAJobRunningWhenHonedDiedStaysInterrupted) {
  TempDir dir;
  std::string config = dir.Write("k.yaml", Config("        sample_script: sleep 300\n"));
  Honed honed(dir.path(), {"--no-resume"});
  ASSERT_TRUE(honed.Start());
  ASSERT_TRUE(honed.HoneJson({"submit", config, "--", "true"}).is_object());
  ASSERT_TRUE(test::WaitFor(
      [&] { return honed.HoneJson({"status", "1"}).value("state", "") == "running"; }, 30));
  honed.Kill();
  ASSERT_TRUE(honed.Start());
  json job = honed.HoneJson({"status", "1"});
  EXPECT_EQ(job.value("state", ""), "interrupted") << job.dump();
  EXPECT_FALSE(job.contains("resumed")) << job.dump();
}

// Issue 14: two jobs with a 2.5 MB command line made every `list` reply longer than
// the protocol allows, for every user, and no job could be deleted.
TEST_F(HostileInputTest, Issue14AHugeCommandLineIsRefusedAndListStaysWithinBounds) {
  std::string config = Config("        sample_script: echo 1\n");
  json reply = Submit(config, {"true", std::string(2500000, 'x')});
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply.dump().find("the limit is 131072"), std::string::npos) << reply.dump();
  // Under the limit, a listing shows the start of it and says it is cut.
  for (int i = 0; i < 3; ++i) {
    reply = Submit(config, {"true", std::string(120000, 'y')});
    ASSERT_EQ(reply["ok"], true) << reply.dump();
  }
  CommandResult list = honed_.Hone({"--json", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json jobs = json::parse(list.out)["jobs"];
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0]["command_truncated"], true);
  EXPECT_EQ(jobs[0]["command"], json::array({"true"}));
  EXPECT_LT(list.out.size(), 20000u);
  // status shows the whole command.
  json status = honed_.HoneJson({"status", "2"});
  EXPECT_EQ(status["command"][1].get<std::string>().size(), 120000u);
}

TEST_F(HostileInputTest, Issue14ListIsPagedAndTheClientFollowsThePages) {
  std::string config = Config("        sample_script: echo 1\n");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Submit(config)["ok"], true);
  json page = Send({{"v", 1}, {"id", 1}, {"cmd", "list"}, {"args", {{"limit", 2}}}});
  ASSERT_EQ(page["ok"], true) << page.dump();
  EXPECT_EQ(page["result"]["jobs"].size(), 2u);
  EXPECT_EQ(page["result"]["next"], 2);
  page = Send({{"v", 1}, {"id", 1}, {"cmd", "list"}, {"args", {{"after", 4}, {"limit", 2}}}});
  EXPECT_EQ(page["result"]["jobs"].size(), 1u);
  EXPECT_TRUE(page["result"]["next"].is_null());
  page = Send({{"v", 1},
               {"id", 1},
               {"cmd", "list"},
               {"args", {{"newest_first", true}, {"limit", 1}}}});
  EXPECT_EQ(page["result"]["jobs"][0]["job"], 5);
  page = Send({{"v", 1}, {"id", 1}, {"cmd", "list"}, {"args", {{"limit", 100000}}}});
  EXPECT_EQ(page["ok"], false);
  EXPECT_NE(page.dump().find("from 1 to 500"), std::string::npos) << page.dump();
  CommandResult list = honed_.Hone({"--json", "list"});
  EXPECT_EQ(json::parse(list.out)["jobs"].size(), 5u);
}

TEST_F(HostileInputTest, Issue14AnEndedJobCanBeDeletedARunningOneCannot) {
  std::string config = dir_.Write("k.yaml", Config("        sample_script: echo 1\n"));
  ASSERT_EQ(honed_.Hone({"run", config, "--", "true"}).exit_code, 0);
  std::string settings = honed_.state_dir() + "/results/job-1.env";
  ASSERT_EQ(access(settings.c_str(), F_OK), 0);
  std::string hang = dir_.Write("hang.yaml", Config("        sample_script: sleep 300\n"));
  ASSERT_TRUE(honed_.HoneJson({"submit", hang, "--", "true"}).is_object());
  ASSERT_TRUE(test::WaitFor(
      [&] { return honed_.HoneJson({"status", "2"}).value("state", "") == "running"; },
      30));
  CommandResult refused = honed_.Hone({"delete", "2"});
  EXPECT_EQ(refused.exit_code, 4);
  EXPECT_NE(refused.err.find("is running; cancel it first"), std::string::npos)
      << refused.err;
  CommandResult deleted = honed_.Hone({"delete", "1"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_NE(deleted.out.find("job 1: deleted"), std::string::npos);
  EXPECT_EQ(honed_.Hone({"status", "1"}).exit_code, 4);
  EXPECT_NE(access(settings.c_str(), F_OK), 0);
  EXPECT_EQ(honed_.Hone({"delete", "1"}).exit_code, 4);  // no job 1 any more
  EXPECT_EQ(honed_.Hone({"cancel", "2"}).exit_code, 0);
}

// One member of the group could queue jobs without end, each up to a few MB, and
// fill the store's disk. A user has at most 64 queued at once.
TEST_F(HostileInputTest, AUserQueuesAtMost64JobsAtOnce) {
  std::string hang = Config("        sample_script: sleep 300\n");
  for (int i = 0; i < 65; ++i) ASSERT_EQ(Submit(hang)["ok"], true) << i;  // 1 runs
  json refused = Submit(hang);
  EXPECT_EQ(refused["ok"], false);
  EXPECT_EQ(refused["error"]["code"], "unavailable");
  EXPECT_NE(refused.dump().find("has 64 jobs queued, the limit"), std::string::npos)
      << refused.dump();
  EXPECT_EQ(honed_.Hone({"cancel", "2"}).exit_code, 0);
  EXPECT_EQ(Submit(hang)["ok"], true);
  EXPECT_EQ(honed_.Hone({"cancel", "1"}).exit_code, 0);
}

TEST(HostileStateTest, Issue14HonedKeepsOnlyTheNewestEndedJobs) {
  TempDir dir;
  Honed honed(dir.path(), {"--retain-jobs", "2"});
  ASSERT_TRUE(honed.Start());
  std::string config = dir.Write("k.yaml", Config("        sample_script: echo 1\n"));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(honed.Hone({"run", config, "--", "true"}).exit_code, 0);
  json jobs = honed.HoneJson({"list"})["jobs"];
  ASSERT_EQ(jobs.size(), 2u) << jobs.dump();
  EXPECT_EQ(jobs[0]["job"], 2);
  EXPECT_EQ(jobs[1]["job"], 3);
}

// The nice value in a /proc stat file (field 19), or 99 when it cannot be read.
int NiceIn(const std::filesystem::path& stat_path) {
  std::ifstream in(stat_path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 99;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 19 && fields >> field; ++i)  // field 3 is the state
    if (i == 19) return std::stoi(field);
  return 99;
}

// The nice values of the threads of `pid` other than its main thread.
std::vector<int> OtherThreadsNice(pid_t pid) {
  std::vector<int> values;
  std::error_code ec;
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(task, ec))
    if (entry.path().filename() != std::to_string(pid))
      values.push_back(NiceIn(entry.path() / "stat"));
  return values;
}

// A client's status must not wait behind the model's fits: the tuner's worker
// thread runs 10 nicer than the main thread, which serves the socket.
TEST_F(HostileInputTest, Issue14TheTunersWorkerRunsNicerThanTheThreadThatServesTheSocket) {
  const int own = NiceIn("/proc/" + std::to_string(honed_.pid()) + "/stat");
  ASSERT_NE(own, 99);
  const std::vector<int> expected = {std::min(own + 10, 19)};
  EXPECT_TRUE(test::WaitFor([&] { return OtherThreadsNice(honed_.pid()) == expected; }, 30))
      << "main thread's nice " << own << ", the other threads' "
      << testing::PrintToString(OtherThreadsNice(honed_.pid()));
}

}  // namespace
}  // namespace hone
