// A live job on a real running process: hone-test-live-service, whose rate depends
// on a script knob and a sysctl of a re-rooted tree that honed sets, with noise, a
// slow load swing and a phase change that the test makes part way.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/fake_machine.h"
#include "tests/live_service.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::FakeMachineTree;
using test::Honed;
using test::TempDir;
using test::WaitFor;

class LiveTest : public ::testing::Test {
 protected:
  LiveTest() {
    std::filesystem::create_directory(dir_.path() + "/root");
    std::filesystem::create_directory(dir_.path() + "/svc");
    tree_ = std::make_unique<FakeMachineTree>(dir_.path() + "/root");
    tree_->Write("proc/sys/vm/swappiness", "60\n");
    svc_ = dir_.path() + "/svc";
    dir_.Write("svc/a", "1\n");
    dir_.Write("svc/phase", "1\n");
    honed_ = std::make_unique<Honed>(dir_.path(),
                                     std::vector<std::string>{"--root", tree_->root()});
  }

  ~LiveTest() override {
    if (service_ > 0) {
      kill(service_, SIGKILL);
      waitpid(service_, nullptr, 0);
    }
  }

  std::string Sysctl() const { return tree_->root() + "/proc/sys/vm/swappiness"; }

  void StartService() {
    std::string binary = std::string(HONE_BIN_DIR) + "/hone-test-live-service";
    service_ = fork();
    ASSERT_GE(service_, 0);
    if (service_ == 0) {
      execl(binary.c_str(), binary.c_str(), "serve", svc_.c_str(), Sysctl().c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(svc_ + "/rate"); }, 30));
  }

  // `before_set`: shell run in svc_a's set_script before it writes the value (it may
  // refuse the value by exiting non-zero).
  std::string WriteConfig(const std::string& settings,
                          const std::string& before_set = "") {
    std::string service = std::string(HONE_BIN_DIR) + "/hone-test-live-service";
    return dir_.Write("live.yaml",
                      "workload:\n  kind: live\n"
                      "domain:\n  common:\n    knobs:\n"
                      "      svc_a:\n        options: [1, 2, 3, 4, 5, 6]\n"
                      "        get_script: cat " +
                          svc_ +
                          "/a\n"
                          "        set_script: " +
                          before_set + "echo $KNOB_VAL > " + svc_ +
                          "/a\n"
                          "      vm.swappiness: {options: [10, 30, 60]}\n"
                          "    metrics:\n      shell.rate:\n        sample_script: " +
                          service + " sample " + svc_ + " " + Sysctl() +
                          "\n    target: shell.rate:max\n"
                          "global_settings:\n  sampling_interval: 0.1\n"
                          "  min_samples_per_config: 3\n  max_regression_pct: 20\n" +
                          settings);
  }

  // A live job over svc_a whose target, `requests`, the service pushes.
  std::string WritePushConfig() {
    return dir_.Write("push.yaml",
                      "workload:\n  kind: live\n"
                      "domain:\n  common:\n    knobs:\n"
                      "      svc_a:\n        options: [1, 2, 3]\n"
                      "        get_script: cat " +
                          svc_ +
                          "/a\n"
                          "        set_script: echo $KNOB_VAL > " +
                          svc_ +
                          "/a\n"
                          "    metrics:\n      requests: {push: true}\n"
                          "    target: requests:max\n"
                          "global_settings:\n  sampling_interval: 0.2\n"
                          "  min_samples_per_config: 3\n");
  }

  // Cancels `job`, waits until it has ended, and checks that every knob is back.
  void CancelAndExpectKnobsBack(const std::string& job) {
    ASSERT_EQ(honed_->Hone({"cancel", job}).exit_code, 0);
    ASSERT_TRUE(WaitFor(
        [&] {
          return honed_->HoneJson({"status", job}).value("state", "") == "cancelled";
        },
        60));
    EXPECT_EQ(test::ReadFile(svc_ + "/a"), "1\n");
    EXPECT_EQ(tree_->Read("proc/sys/vm/swappiness"), "60\n");
  }

  json Live(int64_t job) {
    json status = honed_->HoneJson({"status", std::to_string(job)});
    if (!status.is_object() || !status.contains("progress")) return json();
    return status["progress"].value("live", json());
  }

  // Waits until the job has settled in phase `phase` or later; returns what it
  // holds then.
  json WaitSettled(int64_t job, int phase) {
    json live;
    bool settled = WaitFor(
        [&] {
          live = Live(job);
          return live.is_object() && live.value("phase", 0) >= phase &&
                 live.value("settled", false);
        },
        240);
    EXPECT_TRUE(settled) << live.dump();
    return live;
  }

  double Efficiency(const json& config, int phase) {
    return test::LiveServiceEfficiency(config["svc_a"].get<int>(),
                                       config["vm.swappiness"].get<int>(), phase);
  }
  double Best(int phase) {
    double best = 0;
    for (int a = 1; a <= 6; ++a)
      for (int s : {10, 30, 60})
        best = std::max(best, test::LiveServiceEfficiency(a, s, phase));
    return best;
  }

  TempDir dir_;
  std::unique_ptr<FakeMachineTree> tree_;
  std::string svc_;
  std::unique_ptr<Honed> honed_;
  pid_t service_ = -1;
};

TEST_F(LiveTest,
       TunesARunningServiceRevertsHarmRetunesAfterAPhaseChangeAndPutsKnobsBack) {
  StartService();
  ASSERT_TRUE(honed_->Start());
  std::string config = WriteConfig("");
  json submitted = honed_->HoneJson({"submit", config});
  ASSERT_TRUE(submitted.contains("job")) << submitted.dump();
  int64_t job = submitted["job"].get<int64_t>();

  json live = WaitSettled(job, 1);
  ASSERT_EQ(live.value("phase", 0), 1) << live.dump();
  EXPECT_GE(Efficiency(live["holding"], 1), 0.95 * Best(1)) << live.dump();
  EXPECT_GT(live["guard"]["reverts"].get<int>(), 0) << "nothing harmful was ever tried";

  // Every sample under a harmful configuration was followed by a revert before the
  // next: the service's log of what each sample saw never has two in a row.
  std::ifstream log(svc_ + "/samples.log");
  std::string line;
  int in_a_row = 0, most = 0, harmful = 0;
  while (std::getline(log, line)) {
    std::istringstream fields(line);
    int a = 0, s = 0, bad = 0;
    fields >> a >> s >> bad;
    in_a_row = bad ? in_a_row + 1 : 0;
    harmful += bad;
    most = std::max(most, in_a_row);
  }
  EXPECT_LE(most, 1) << "a harmful configuration outlived one sample";

  // The workload changes: the best moves.
  dir_.Write("svc/phase", "2\n");
  live = WaitSettled(job, 2);
  EXPECT_GE(Efficiency(live["holding"], 2), 0.95 * Best(2)) << live.dump();

  // Status, in words, shows the phase, the incumbent, the guard and the changes.
  test::CommandResult status = honed_->Hone({"status", std::to_string(job)});
  for (const char* part : {"Phase: 2", "Incumbent: svc_a=",
                           "Guard: max_regression_pct 20", "Recent changes:"})
    EXPECT_NE(status.out.find(part), std::string::npos) << part << "\n" << status.out;

  // Cancelled, the knobs go back to what they were before the job.
  CancelAndExpectKnobsBack(std::to_string(job));
  json report = honed_->HoneJson({"report", std::to_string(job)});
  EXPECT_EQ(report.value("kind", ""), "live") << report.dump();
  EXPECT_GE(report["phases"].size(), 2u) << report.dump();
}

TEST_F(LiveTest, HoneRunFollowsALiveJobUntilItsBudgetAndSaysWhatItFound) {
  StartService();
  ASSERT_TRUE(honed_->Start());
  std::string config = WriteConfig("  max_minutes: 0.1\n");
  test::CommandResult run = honed_->Hone({"run", config});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("live"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("Stopped because: budget spent: max_minutes (0.1)"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(test::ReadFile(svc_ + "/a"), "1\n");
  EXPECT_EQ(tree_->Read("proc/sys/vm/swappiness"), "60\n");
}

TEST_F(LiveTest, RecommendModeChangesNothingUntilAPersonAccepts) {
  StartService();
  ASSERT_TRUE(honed_->Start());
  std::string config = WriteConfig("  mode: recommend\n");
  json submitted = honed_->HoneJson({"submit", config});
  ASSERT_TRUE(submitted.contains("job")) << submitted.dump();
  std::string job = std::to_string(submitted["job"].get<int64_t>());
  json live;
  ASSERT_TRUE(WaitFor(
      [&] {
        live = Live(std::stoll(job));
        return live.is_object() && live.contains("proposal");
      },
      60))
      << live.dump();
  EXPECT_EQ(live.value("changes", -1), 0) << live.dump();
  EXPECT_EQ(test::ReadFile(svc_ + "/a"), "1\n");
  EXPECT_EQ(tree_->Read("proc/sys/vm/swappiness"), "60\n");
  test::CommandResult status = honed_->Hone({"status", job});
  EXPECT_NE(status.out.find("Proposal: "), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("hone accept " + job), std::string::npos) << status.out;

  json proposal = live["proposal"];
  test::CommandResult accepted = honed_->Hone({"accept", job});
  ASSERT_EQ(accepted.exit_code, 0) << accepted.err;
  EXPECT_NE(accepted.out.find("trying svc_a="), std::string::npos) << accepted.out;
  // The proposal runs (a trial, under the guard) at the end of the incumbent's epoch.
  ASSERT_TRUE(WaitFor(
      [&] {
        live = Live(std::stoll(job));
        if (!live.is_object()) return false;
        for (const json& c : live["recent_changes"])
          if (c["to"] == proposal) return true;
        return false;
      },
      60))
      << live.dump();
  CancelAndExpectKnobsBack(job);
}

TEST_F(LiveTest, AServiceThatPushesItsMetricIsSampledFromWhatItPushed) {
  ASSERT_TRUE(honed_->Start());
  std::string config = WritePushConfig();
  json submitted = honed_->HoneJson({"submit", config});
  ASSERT_TRUE(submitted.contains("job")) << submitted.dump();
  std::string job = std::to_string(submitted["job"].get<int64_t>());
  ASSERT_TRUE(WaitFor([&] { return Live(std::stoll(job)).is_object(); }, 60));
  // Nothing pushed yet: its samples are invalid, and say why.
  test::CommandResult unknown = honed_->Hone({"push", job, "latency", "3"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("no push metric 'latency' (its push metrics: requests)"),
            std::string::npos)
      << unknown.err;
  json live;
  ASSERT_TRUE(WaitFor(
      [&] {
        EXPECT_EQ(honed_->Hone({"push", job, "requests", "1000"}).exit_code, 0);
        live = Live(std::stoll(job));
        return live.is_object() &&
               live.value("samples", 0) - live.value("samples_invalid", 0) >= 5;
      },
      60))
      << live.dump();
  ASSERT_EQ(honed_->Hone({"cancel", job}).exit_code, 0);
}

TEST_F(LiveTest, ALiveJobRunsBesideSyncJobsAndWaitsOnlyForItsKnobs) {
  StartService();
  ASSERT_TRUE(honed_->Start());
  json first = honed_->HoneJson({"submit", WriteConfig("")});
  std::string live = std::to_string(first["job"].get<int64_t>());
  ASSERT_TRUE(WaitFor([&] { return Live(std::stoll(live)).is_object(); }, 60));

  // A sync job over an application knob runs to its end meanwhile.
  std::string sync =
      dir_.Write("sync.yaml",
                 "domain:\n  common:\n    knobs:\n      threads: {options: [1, 2]}\n"
                 "    target: duration:min\nstrategy: exhaustive\n");
  test::CommandResult run = honed_->Hone({"run", sync, "--", "true"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(honed_->HoneJson({"status", live}).value("state", ""), "running");

  // A second live job over the same knobs waits until the first lets them go.
  json second = honed_->HoneJson({"submit", WriteConfig("")});
  std::string waiting = std::to_string(second["job"].get<int64_t>());
  EXPECT_EQ(honed_->HoneJson({"status", waiting}).value("state", ""), "queued");
  ASSERT_EQ(honed_->Hone({"cancel", live}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Live(std::stoll(waiting)).is_object(); }, 60))
      << honed_->HoneJson({"status", waiting}).dump();
  EXPECT_EQ(honed_->HoneJson({"status", live}).value("state", ""), "cancelled");
  CancelAndExpectKnobsBack(waiting);
}

// Sends `text` on a fresh connection to the Unix socket `path`; false when it cannot.
bool SendTo(const std::string& path, const std::string& text) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  bool sent = fd >= 0 &&
              connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
              write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  return sent;
}

TEST_F(LiveTest, AServiceSpeaksStatsdOnTheMetricsSocket) {
  ASSERT_TRUE(honed_->Start());
  std::string config = WritePushConfig();
  json submitted = honed_->HoneJson({"submit", config});
  ASSERT_TRUE(submitted.contains("job")) << submitted.dump();
  int64_t job = submitted["job"].get<int64_t>();
  ASSERT_TRUE(WaitFor([&] { return Live(job).is_object(); }, 60));
  std::string socket = dir_.path() + "/metrics.sock";
  // Hostile lines first: garbage, a line past the limit, an unknown metric. None of
  // them stops the good lines that follow.
  ASSERT_TRUE(SendTo(socket, "garbage\n" + std::string(5000, 'x') + "\nlatency:3|g\n"));
  json live;
  ASSERT_TRUE(WaitFor(
      [&] {
        EXPECT_TRUE(SendTo(socket, "requests:900|g\nrequests:1100|g\n"));
        live = Live(job);
        return live.is_object() &&
               live.value("samples", 0) - live.value("samples_invalid", 0) >= 5;
      },
      60))
      << live.dump();
  ASSERT_EQ(honed_->Hone({"cancel", std::to_string(job)}).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return test::ReadFile(honed_->log_path()).find("metrics socket: uid") !=
               std::string::npos;
      },
      10));
  EXPECT_NE(test::ReadFile(honed_->log_path())
                .find("statsd line 'garbage': no ':' between the name and the value"),
            std::string::npos)
      << "the garbage line is named in the log";
}

// A knob write that fails (the set_script refuses svc_a 4, 5 and 6) is undone, and
// the candidate that needed it is given up as a guard's revert: the job goes on
// measuring what the machine still runs, and never holds a value it could not write.
TEST_F(LiveTest, ACandidateWhoseKnobsCannotBeWrittenIsGivenUpAndTheJobGoesOn) {
  StartService();
  ASSERT_TRUE(honed_->Start());
  std::string config = WriteConfig(
      "", "case $KNOB_VAL in 4|5|6) echo refused $KNOB_VAL >&2; exit 1;; esac; ");
  json submitted = honed_->HoneJson({"submit", config});
  ASSERT_TRUE(submitted.contains("job")) << submitted.dump();
  const int64_t job = submitted["job"].get<int64_t>();
  json live;
  bool refused = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        live = Live(job);
        if (!live.is_object()) return false;
        std::string a = test::ReadFile(svc_ + "/a");
        EXPECT_TRUE(a == "1\n" || a == "2\n" || a == "3\n") << a;
        refused =
            refused || live["guard"].value("last_revert", "").find("cannot apply it") !=
                           std::string::npos;
        return refused && live.value("changes", 0) >= 4;
      },
      120))
      << live.dump();
  EXPECT_EQ(honed_->HoneJson({"status", std::to_string(job)}).value("state", ""),
            "running");
  test::CommandResult status = honed_->Hone({"status", std::to_string(job)});
  EXPECT_NE(status.out.find("refused"), std::string::npos) << status.out;
  CancelAndExpectKnobsBack(std::to_string(job));
}

TEST_F(LiveTest, AcceptIsRefusedWithAReasonWhereThereIsNothingToAccept) {
  ASSERT_TRUE(honed_->Start());
  test::CommandResult none = honed_->Hone({"accept", "9"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("no job 9"), std::string::npos) << none.err;
  StartService();
  json submitted = honed_->HoneJson({"submit", WriteConfig("")});
  std::string job = std::to_string(submitted["job"].get<int64_t>());
  ASSERT_TRUE(WaitFor([&] { return Live(std::stoll(job)).is_object(); }, 60));
  test::CommandResult tune = honed_->Hone({"accept", job});
  EXPECT_NE(tune.exit_code, 0);
  EXPECT_NE(tune.err.find("mode tune; only mode recommend waits for accept"),
            std::string::npos)
      << tune.err;
  ASSERT_EQ(honed_->Hone({"cancel", job}).exit_code, 0);
}

}  // namespace
}  // namespace hone
