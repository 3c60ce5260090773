// Workload cgroups (daemon/process/cgroup.h) and the process runner with them: real
// processes in real cgroups, under a cgroup of the test's own that is removed after
// each test.
//
// The regression tests for the finding "a workload that calls setsid or setpgid and
// leaves a child behind keeps it running after the job ends or is cancelled" are
// the ones named A...ChildDoesNotOutlive...: the escaped child writes its pid to a
// file, and must be gone once the run is over. They need a writable cgroup2 (root,
// in a cgroup it may create children of), and skip saying so without one.
#include "daemon/process/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "daemon/process/process.h"
#include "tests/process_util.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using test::Honed;
using test::ReadFile;
using test::TempDir;
using test::WaitFor;

ProcessResult RunToEnd(ProcessSpec spec, ProcessGroups* groups) {
  asio::io_context io;
  auto future = asio::co_spawn(io, RunProcess(std::move(spec), groups), asio::use_future);
  io.run();
  return future.get();
}

// Runs `spec` and cancels it (groups->KillAll()) as soon as `ready` holds.
ProcessResult RunAndCancelWhen(ProcessSpec spec, ProcessGroups* groups,
                               std::function<bool()> ready) {
  asio::io_context io;
  asio::steady_timer poll_timer(io);
  ProcessResult result;
  bool done = false;
  asio::co_spawn(io, RunProcess(std::move(spec), groups),
                 [&](std::exception_ptr, ProcessResult r) {
                   result = std::move(r);
                   done = true;
                   poll_timer.cancel();
                 });
  std::function<void(boost::system::error_code)> poll = [&](boost::system::error_code) {
    if (done) return;
    if (ready()) return groups->KillAll();
    poll_timer.expires_after(std::chrono::milliseconds(10));
    poll_timer.async_wait(poll);
  };
  poll({});
  io.run();
  return result;
}

using test::Shell;

// Shell text that starts `sleep 300` outside the run's process group (with
// setsid(1), or perl's setpgrp, which is setpgid(0, 0)), detached from the run's
// pipes, and waits until it has written its pid to `pid_file`.
std::string Escape(const std::string& how, const std::string& pid_file) {
  std::string body = "echo $$ > " + pid_file + ".tmp; mv " + pid_file + ".tmp " +
                     pid_file + "; exec sleep 300";
  std::string start =
      how == "setsid" ? "setsid sh -c '" + body + "'"
                      : "perl -e 'setpgrp(0, 0); exec \"sh\", \"-c\", q{" + body + "}'";
  return start + " </dev/null >/dev/null 2>&1 & while [ ! -s " + pid_file +
         " ]; do sleep 0.01; done; ";
}

bool Gone(pid_t pid) {
  return WaitFor([&] { return !test::ProcessAlive(pid); }, 5);
}

// A child of the test that joins cgroup `path` and runs `sleep 300`.
pid_t SleepIn(const std::string& path) {
  std::string procs = path + "/cgroup.procs";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(procs.c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(1);
    execl("/bin/sleep", "sleep", "300", static_cast<char*>(nullptr));
    _exit(127);
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        std::vector<pid_t> in = CgroupProcesses(path);
        return std::find(in.begin(), in.end(), pid) != in.end();
      },
      5));
  return pid;
}

// A cgroup of the test's own under the test process's cgroup, with the runs'
// cgroups in it; killed and removed after each test.
class ProcessCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string mount;
    Status s = FindOwnCgroup(&mount, &own_);
    if (!s.ok()) GTEST_SKIP() << "needs cgroup v2: " << s.message();
    static int counter = 0;
    std::string base =
        own_ + "/hone-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    if (mkdir(base.c_str(), 0755) != 0)
      GTEST_SKIP() << "needs a writable cgroup2 (root, in a cgroup that may have "
                      "children): cannot create "
                   << base << ": " << strerror(errno);
    base_ = base;
    CgroupOptions options;
    options.dir = base_ + "/runs";
    cgroups_ = WorkloadCgroups::Setup(options);
    ASSERT_TRUE(cgroups_->usable()) << cgroups_->containment();
    groups_.set_cgroups(cgroups_.get());
  }

  void TearDown() override {
    for (const char* name : {"pid", "pid2"}) {
      std::string text = ReadFile(dir_.path() + "/" + name);
      if (!text.empty()) kill(std::stoi(text), SIGKILL);
    }
    if (base_.empty()) return;
    cgroups_.reset();
    Status s = KillAndRemoveCgroup(base_, std::chrono::seconds(10));
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_FALSE(std::filesystem::exists(base_)) << "the test left a cgroup behind";
  }

  pid_t EscapedPid(const char* name = "pid") {
    return std::stoi(ReadFile(dir_.path() + "/" + name));
  }
  std::string PidFile(const char* name = "pid") { return dir_.path() + "/" + name; }

  // The run cgroups left under the test's directory.
  size_t RunsLeft() {
    size_t runs = 0;
    for (const auto& entry : std::filesystem::directory_iterator(cgroups_->dir()))
      runs += entry.is_directory();
    return runs;
  }

  TempDir dir_;
  std::string own_;   // the test process's cgroup
  std::string base_;  // the test's cgroup, under own_
  std::unique_ptr<WorkloadCgroups> cgroups_;
  ProcessGroups groups_;
};

TEST_F(ProcessCgroupTest, ASetsidChildDoesNotOutliveItsSample) {
  ProcessResult result =
      RunToEnd(Shell(Escape("setsid", PidFile()) + "exit 0"), &groups_);
  ASSERT_TRUE(result.Succeeded()) << result.Describe() << result.err;
  EXPECT_TRUE(Gone(EscapedPid())) << "the setsid child outlived its sample";
  EXPECT_EQ(RunsLeft(), 0u);
}

TEST_F(ProcessCgroupTest, ASetpgidChildDoesNotOutliveItsSample) {
  ProcessResult result =
      RunToEnd(Shell(Escape("setpgid", PidFile()) + "exit 0"), &groups_);
  ASSERT_TRUE(result.Succeeded()) << result.Describe() << result.err;
  EXPECT_TRUE(Gone(EscapedPid())) << "the setpgid child outlived its sample";
  EXPECT_EQ(RunsLeft(), 0u);
}

TEST_F(ProcessCgroupTest, ASetsidChildDoesNotOutliveCancel) {
  // Cancelled once the escaped child is there.
  ProcessResult result =
      RunAndCancelWhen(Shell(Escape("setsid", PidFile()) + "sleep 300"), &groups_,
                       [&] { return !ReadFile(PidFile()).empty(); });
  EXPECT_TRUE(result.cancelled) << result.Describe();
  EXPECT_TRUE(Gone(EscapedPid())) << "the setsid child outlived the cancel";
  EXPECT_EQ(RunsLeft(), 0u);
}

TEST_F(ProcessCgroupTest, ASetsidChildDoesNotOutliveTheTimeout) {
  ProcessSpec spec = Shell(Escape("setsid", PidFile()) + "sleep 300");
  spec.timeout = std::chrono::milliseconds(1500);
  ProcessResult result = RunToEnd(spec, &groups_);
  EXPECT_TRUE(result.timed_out) << result.Describe();
  EXPECT_TRUE(Gone(EscapedPid())) << "the setsid child outlived the timeout";
  EXPECT_EQ(RunsLeft(), 0u);
}

TEST_F(ProcessCgroupTest, ASetpgidChildDoesNotOutliveAnEarlyStop) {
  ProcessSpec spec = Shell(Escape("setpgid", PidFile()) + "echo stop-here; sleep 300");
  spec.watch = [](std::string_view piece, bool) {
    return piece.find("stop-here") != std::string_view::npos;
  };
  ProcessResult result = RunToEnd(spec, &groups_);
  EXPECT_TRUE(result.stopped_early) << result.Describe();
  EXPECT_TRUE(Gone(EscapedPid())) << "the setpgid child outlived the early stop";
}

TEST_F(ProcessCgroupTest, ASetsidChildDoesNotOutliveItsSampleWithoutClone3) {
  // As on kernels before 5.7: fork, and the child joins its cgroup itself.
  CgroupOptions options;
  options.dir = cgroups_->dir();
  options.clone_into_cgroup = false;
  std::unique_ptr<WorkloadCgroups> forked = WorkloadCgroups::Setup(options);
  ProcessGroups groups(forked.get());
  ProcessResult result =
      RunToEnd(Shell(Escape("setsid", PidFile()) + "cat /proc/self/cgroup"), &groups);
  ASSERT_TRUE(result.Succeeded()) << result.Describe() << result.err;
  EXPECT_NE(result.out.find("/runs/run-"), std::string::npos) << result.out;
  EXPECT_TRUE(Gone(EscapedPid())) << "the setsid child outlived its sample";
}

TEST_F(ProcessCgroupTest, EachRunHasACgroupOfItsOwnRemovedAfterIt) {
  ProcessResult first = RunToEnd(Shell("cat /proc/self/cgroup"), &groups_);
  ProcessResult second = RunToEnd(Shell("cat /proc/self/cgroup"), &groups_);
  ASSERT_TRUE(first.Succeeded() && second.Succeeded());
  EXPECT_NE(first.out.find("/runs/run-1\n"), std::string::npos) << first.out;
  EXPECT_NE(second.out.find("/runs/run-2\n"), std::string::npos) << second.out;
  EXPECT_TRUE(groups_.in_cgroups());
  EXPECT_EQ(groups_.containment(), "cgroup v2 (under " + cgroups_->dir() + ")");
  EXPECT_EQ(RunsLeft(), 0u);
}

TEST_F(ProcessCgroupTest, ARunAsAnotherUserCannotLeaveItsCgroup) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  ProcessSpec spec = Shell("echo $$ > \"$OUT\"; cat /proc/self/cgroup");
  spec.env["OUT"] = own_ + "/cgroup.procs";
  spec.user = Credentials{65534, 65534, {65534}};
  ProcessResult result = RunToEnd(spec, &groups_);
  ASSERT_TRUE(result.Succeeded()) << result.Describe() << result.err;
  EXPECT_NE(result.out.find("/runs/run-"), std::string::npos) << result.out;
}

TEST_F(ProcessCgroupTest, RemoveLeftoversKillsAndRemovesWhatADeadHonedLeft) {
  std::string left;
  ASSERT_TRUE(cgroups_->Create(&left).ok());
  pid_t pid = SleepIn(left);
  int killed = 0;
  EXPECT_EQ(cgroups_->RemoveLeftovers(std::chrono::seconds(10), &killed), 1);
  EXPECT_EQ(killed, 1);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(left));
}

TEST_F(ProcessCgroupTest, KillCgroupByFreezingKillsEveryProcessBelowIt) {
  // The path for kernels before 5.14, which have no cgroup.kill.
  std::string run;
  ASSERT_TRUE(cgroups_->Create(&run).ok());
  ASSERT_EQ(mkdir((run + "/nested").c_str(), 0755), 0);
  pid_t top = SleepIn(run);
  pid_t nested = SleepIn(run + "/nested");
  EXPECT_EQ(CgroupProcesses(run).size(), 2u);
  ASSERT_TRUE(KillCgroupByFreezing(run).ok());
  for (pid_t pid : {top, nested}) {
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  EXPECT_TRUE(WaitFor([&] { return !CgroupPopulated(run); }, 5));
  EXPECT_TRUE(RemoveCgroup(run).ok());
  EXPECT_FALSE(std::filesystem::exists(run));
}

// ---- The fallback: no cgroup can be used -------------------------------------

TEST(ProcessCgroupFallbackTest, AMissingDirectoryFallsBackToProcessGroupsAndSaysWhy) {
  CgroupOptions options;
  options.dir = "/nonexistent/hone-cgroup";
  std::unique_ptr<WorkloadCgroups> cgroups = WorkloadCgroups::Setup(options);
  EXPECT_FALSE(cgroups->usable());
  EXPECT_EQ(cgroups->containment(),
            "process groups (cannot create cgroup /nonexistent/hone-cgroup: No such file "
            "or directory)");
  ProcessGroups groups(cgroups.get());
  EXPECT_FALSE(groups.in_cgroups());
  EXPECT_EQ(groups.containment(), cgroups->containment());
  // Process groups still contain what stays in them, at the end of a run...
  ProcessResult result = RunToEnd(Shell("sleep 60 >/dev/null 2>&1 & echo $!"), &groups);
  ASSERT_TRUE(result.Succeeded()) << result.Describe();
  EXPECT_TRUE(Gone(std::stoi(result.out)));
  // ...and at a cancel.
  TempDir dir;
  std::string pid_file = dir.path() + "/pid";
  ProcessResult cancelled =
      RunAndCancelWhen(Shell("sleep 60 & echo $! > " + pid_file + "; wait"), &groups,
                       [&] { return !ReadFile(pid_file).empty(); });
  EXPECT_TRUE(cancelled.cancelled) << cancelled.Describe();
  EXPECT_TRUE(Gone(std::stoi(ReadFile(pid_file))));
}

TEST(ProcessCgroupFallbackTest, ADirectoryOutsideCgroup2FallsBack) {
  TempDir dir;
  CgroupOptions options;
  options.dir = dir.path();
  std::unique_ptr<WorkloadCgroups> cgroups = WorkloadCgroups::Setup(options);
  EXPECT_FALSE(cgroups->usable());
  EXPECT_EQ(cgroups->containment(),
            "process groups (" + dir.path() + " is not on a cgroup2 file system)");
}

TEST(ProcessCgroupFallbackTest, NoneTurnsCgroupsOff) {
  CgroupOptions options;
  options.dir = "none";
  std::unique_ptr<WorkloadCgroups> cgroups = WorkloadCgroups::Setup(options);
  EXPECT_FALSE(cgroups->usable());
  EXPECT_EQ(cgroups->containment(),
            "process groups (cgroups turned off (--workload-cgroup none))");
}

TEST(ProcessCgroupFallbackTest, WithoutWorkloadCgroupsARunHasOnlyItsProcessGroup) {
  ProcessGroups groups;
  EXPECT_FALSE(groups.in_cgroups());
  EXPECT_EQ(groups.containment(), "process groups (no cgroups were set up)");
}

// ---- honed: every run of a job in a cgroup of its own --------------------------

// A job whose workload leaves a setsid child behind (its pid appended to
// dir/pids) and then, with `hold`, sleeps.
class HonedCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(honed_.Start()) << ReadFile(honed_.log_path());
    std::string log = ReadFile(honed_.log_path());
    size_t at = log.find("workloads are contained by process groups");
    if (at != std::string::npos)
      GTEST_SKIP() << "honed has no cgroups here: "
                   << log.substr(at, log.find('\n', at) - at);
  }
  void TearDown() override {
    std::istringstream pids(ReadFile(dir_.path() + "/pids"));
    pid_t pid;
    while (pids >> pid) kill(pid, SIGKILL);
  }

  std::string Config() {
    return dir_.Write(
        "k.yaml",
        "domain:\n  common:\n    knobs:\n      n:\n        options: [1, 2]\n"
        "    target: duration:min\n"
        "strategy: exhaustive\n"
        "global_settings:\n  min_baseline_samples: 1\n");
  }
  std::string Workload(bool hold) {
    std::string f = dir_.path() + "/pid.$$";
    return dir_.Write(
        "w.sh",
        "#!/bin/sh\nsetsid sh -c \"echo \\$\\$ > " + f + ".tmp; mv " + f + ".tmp " + f +
            "; exec sleep 300\" </dev/null >/dev/null 2>&1 &\n"
            "while [ ! -s " +
            f +
            " ]; do sleep 0.01; done\n"
            "cat " +
            f + " >> " + dir_.path() + "/pids\n" + (hold ? "sleep 300\n" : ""),
        true);
  }
  std::vector<pid_t> Escaped() {
    std::vector<pid_t> escaped;
    std::istringstream pids(ReadFile(dir_.path() + "/pids"));
    pid_t pid;
    while (pids >> pid) escaped.push_back(pid);
    return escaped;
  }
  json WaitForState(int64_t job, const std::string& state) {
    json status;
    WaitFor(
        [&] {
          status = honed_.HoneJson({"status", std::to_string(job)});
          return status.is_object() && status.value("state", "") == state;
        },
        30);
    return status;
  }
  // The directory honed says it keeps its runs' cgroups in.
  std::string CgroupDir() {
    std::string log = ReadFile(honed_.log_path());
    const std::string key = "cgroups of their own under ";
    size_t at = log.find(key);
    if (at == std::string::npos) return "";
    at += key.size();
    return log.substr(at, log.find('\n', at) - at);
  }

  TempDir dir_;
  Honed honed_{dir_.path()};
};

TEST_F(HonedCgroupTest, ASetsidChildOfAWorkloadDoesNotOutliveItsJob) {
  test::CommandResult run = honed_.Hone({"run", Config(), "--", Workload(false)});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<pid_t> escaped = Escaped();
  ASSERT_GE(escaped.size(), 2u);  // every sample left one
  for (pid_t pid : escaped) EXPECT_TRUE(Gone(pid)) << "a setsid child outlived its job";
  // Each run's cgroup went with it (and in the root cgroup, honed's directory).
  std::string cgroups = CgroupDir();
  ASSERT_FALSE(cgroups.empty()) << "honed did not log where its runs' cgroups are";
  size_t runs_left = 0;
  std::error_code ec;  // no directory: none left
  for (const auto& entry : std::filesystem::directory_iterator(cgroups, ec))
    runs_left += entry.is_directory();
  EXPECT_EQ(runs_left, 0u) << "a run's cgroup outlived it";
}

TEST_F(HonedCgroupTest, ASetsidChildOfACancelledJobDoesNotOutliveIt) {
  json submitted = honed_.HoneJson({"submit", Config(), "--", Workload(true)});
  ASSERT_TRUE(submitted.is_object());
  int64_t job = submitted["job"];
  ASSERT_TRUE(WaitFor([&] { return !Escaped().empty(); }, 20));
  // It left the process group, not the run's cgroup.
  std::string dir = CgroupDir();
  EXPECT_FALSE(dir.empty()) << "honed did not log where its runs' cgroups are";
  std::string cgroup = ReadFile("/proc/" + std::to_string(Escaped()[0]) + "/cgroup");
  if (!dir.empty()) {
    EXPECT_NE(cgroup.find(dir.substr(dir.rfind('/')) + "/run-"), std::string::npos)
        << cgroup;
  }
  EXPECT_EQ(honed_.Hone({"cancel", std::to_string(job)}).exit_code, 0);
  EXPECT_EQ(WaitForState(job, "cancelled")["state"], "cancelled");
  EXPECT_TRUE(Gone(Escaped()[0])) << "the setsid child outlived the cancel";
}

TEST_F(HonedCgroupTest, ASetsidChildLeftByASigkilledHonedDiesAtTheNextStart) {
  ASSERT_TRUE(honed_.HoneJson({"submit", Config(), "--", Workload(true)}).is_object());
  ASSERT_TRUE(WaitFor([&] { return !Escaped().empty(); }, 20));
  pid_t escaped = Escaped()[0];
  honed_.Kill();
  // The workload's shell dies with honed (PDEATHSIG); the setsid child does not...
  ASSERT_TRUE(test::ProcessAlive(escaped));
  // ...until the next honed removes the cgroups the dead one left.
  ASSERT_TRUE(honed_.Start()) << ReadFile(honed_.log_path());
  EXPECT_TRUE(Gone(escaped));
  EXPECT_NE(ReadFile(honed_.log_path()).find("removed 1 leftover workload cgroup(s)"),
            std::string::npos)
      << ReadFile(honed_.log_path());
}

TEST(HonedCgroupFallbackTest, WithoutCgroupsTheLogAndTheJobSaySo) {
  TempDir dir;
  Honed honed(dir.path(), {"--workload-cgroup", "none"});
  ASSERT_TRUE(honed.Start()) << ReadFile(honed.log_path());
  const std::string why =
      "workloads are contained by process groups (cgroups turned off "
      "(--workload-cgroup none)): a process that leaves its process group can outlive "
      "its run";
  EXPECT_NE(ReadFile(honed.log_path()).find(why), std::string::npos)
      << ReadFile(honed.log_path());
  std::string config = dir.Write(
      "k.yaml",
      "domain:\n  common:\n    knobs:\n      n:\n        options: [1]\n"
      "    target: duration:min\nglobal_settings:\n  min_baseline_samples: 1\n");
  json submitted = honed.HoneJson({"submit", config, "--", "true"});
  ASSERT_TRUE(submitted.is_object());
  std::string id = std::to_string(submitted["job"].get<int64_t>());
  json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = honed.HoneJson({"status", id});
        return status.is_object() && status.value("state", "") == "completed";
      },
      30))
      << status.dump();
  EXPECT_EQ(status["notes"], json::array({why})) << status.dump();
  EXPECT_NE(honed.Hone({"status", id}).out.find("Note: " + why), std::string::npos);
  // The report says so too, in JSON and in text.
  json report = honed.HoneJson({"report", id});
  EXPECT_EQ(report["notes"], json::array({why})) << report.dump();
  EXPECT_NE(honed.Hone({"report", id}).out.find("Note: " + why), std::string::npos);
}

}  // namespace
}  // namespace hone
