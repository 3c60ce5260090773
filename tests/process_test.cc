// The process runner: real processes, observed from an io_context like honed does.
#include "daemon/process/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "tests/process_util.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using test::ProcessAlive;
using test::ReadFile;
using test::TempDir;

ProcessResult RunToEnd(ProcessSpec spec, ProcessGroups* groups = nullptr,
                       std::function<void(asio::io_context&)> also = nullptr) {
  asio::io_context io;
  auto future = asio::co_spawn(io, RunProcess(std::move(spec), groups), asio::use_future);
  if (also) also(io);
  io.run();
  return future.get();
}

using test::Shell;

TEST(ProcessTest, CapturesOutputAndExitStatus) {
  ProcessResult result = RunToEnd(Shell("echo out; echo err >&2; exit 3"));
  EXPECT_TRUE(result.started);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "out\n");
  EXPECT_EQ(result.err, "err\n");
  EXPECT_FALSE(result.Succeeded());
  EXPECT_EQ(result.Describe(), "exited with status 3");
}

TEST(ProcessTest, PassesEnvironmentAndWorkingDirectory) {
  TempDir dir;
  ProcessSpec spec = Shell("echo \"$GREETING\"; pwd");
  spec.env["GREETING"] = "hello; $(rm -rf /)";  // never interpreted by a shell
  spec.cwd = dir.path();
  ProcessResult result = RunToEnd(spec);
  ASSERT_TRUE(result.Succeeded()) << result.Describe() << result.err;
  EXPECT_EQ(result.out, "hello; $(rm -rf /)\n" + dir.path() + "\n");
}

TEST(ProcessTest, OnlyTheGivenEnvironmentReachesTheChild) {
  setenv("HONE_TEST_LEAK", "leaked", 1);
  ProcessResult result = RunToEnd(Shell("echo \"[${HONE_TEST_LEAK:-}]\""));
  unsetenv("HONE_TEST_LEAK");
  EXPECT_EQ(result.out, "[]\n");
}

TEST(ProcessTest, LooksUpTheProgramInTheGivenPath) {
  TempDir dir;
  dir.Write("hone-test-tool", "#!/bin/sh\necho found\n", true);
  ProcessSpec spec;
  spec.argv = {"hone-test-tool"};
  spec.env = {{"PATH", "/nonexistent:" + dir.path()}};
  ProcessResult result = RunToEnd(spec);
  ASSERT_TRUE(result.Succeeded()) << result.Describe();
  EXPECT_EQ(result.out, "found\n");
}

TEST(ProcessTest, MissingProgramIsReportedNotStarted) {
  ProcessSpec spec;
  spec.argv = {"/nonexistent/program"};
  ProcessResult result = RunToEnd(spec);
  EXPECT_FALSE(result.started);
  EXPECT_NE(result.error.find("cannot execute /nonexistent/program"), std::string::npos)
      << result.error;
}

TEST(ProcessTest, MissingWorkingDirectoryIsReportedNotStarted) {
  ProcessSpec spec = Shell("true");
  spec.cwd = "/nonexistent/dir";
  ProcessResult result = RunToEnd(spec);
  EXPECT_FALSE(result.started);
  EXPECT_NE(result.error.find("cannot change to the working directory /nonexistent/dir"),
            std::string::npos)
      << result.error;
}

TEST(ProcessTest, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  ProcessSpec spec = Shell("sleep 60 & echo $! > " + dir.path() + "/child; wait");
  spec.timeout = std::chrono::milliseconds(300);
  ProcessResult result = RunToEnd(spec);
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.Succeeded());
  EXPECT_NE(result.Describe().find("timed out"), std::string::npos);
  pid_t child = std::stoi(ReadFile(dir.path() + "/child"));
  EXPECT_TRUE(test::WaitFor([&] { return !ProcessAlive(child); }, 5))
      << "the workload's child outlived the timeout";
}

TEST(ProcessTest, StopAtEndsTheRunEarlyAndSaysSo) {
  TempDir dir;
  ProcessSpec spec = Shell("sleep 60 & echo $! > " + dir.path() + "/child; wait");
  spec.stop_at = std::chrono::milliseconds(300);
  ProcessResult result = RunToEnd(spec);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(result.Succeeded());
  EXPECT_NE(result.Describe().find("stopped early after"), std::string::npos)
      << result.Describe();
  pid_t child = std::stoi(ReadFile(dir.path() + "/child"));
  EXPECT_TRUE(test::WaitFor([&] { return !ProcessAlive(child); }, 5));
}

TEST(ProcessTest, WatchSeesTheOutputAsItComesAndMayStopTheRun) {
  ProcessSpec spec = Shell(
      "echo warm-up; echo note >&2; echo stop-here; sleep 60; echo never-printed");
  std::string seen_out, seen_err;
  spec.watch = [&](std::string_view piece, bool is_stderr) {
    (is_stderr ? seen_err : seen_out).append(piece);
    return seen_out.find("stop-here\n") != std::string::npos;
  };
  ProcessResult result = RunToEnd(spec);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_FALSE(result.Succeeded());
  EXPECT_EQ(seen_out, "warm-up\nstop-here\n");
  EXPECT_EQ(result.out, "warm-up\nstop-here\n");
  EXPECT_EQ(seen_err, "note\n");
}

TEST(ProcessTest, ARunThatEndsBeforeStopAtIsNotStopped) {
  ProcessSpec spec = Shell("echo quick");
  spec.stop_at = std::chrono::seconds(20);
  spec.watch = [](std::string_view, bool) { return false; };
  ProcessResult result = RunToEnd(spec);
  EXPECT_TRUE(result.Succeeded()) << result.Describe();
  EXPECT_FALSE(result.stopped_early);
}

TEST(ProcessTest, LeftoverBackgroundProcessesAreKilledWhenTheLeaderExits) {
  ProcessResult result = RunToEnd(Shell("sleep 60 >/dev/null 2>&1 & echo $!"));
  ASSERT_TRUE(result.Succeeded());
  pid_t child = std::stoi(result.out);
  EXPECT_TRUE(test::WaitFor([&] { return !ProcessAlive(child); }, 5));
}

TEST(ProcessTest, KillAllCancelsARunningProcess) {
  ProcessGroups groups;
  std::unique_ptr<asio::steady_timer> timer;
  ProcessResult result = RunToEnd(Shell("sleep 60"), &groups, [&](asio::io_context& io) {
    timer = std::make_unique<asio::steady_timer>(io, std::chrono::milliseconds(200));
    timer->async_wait([&](boost::system::error_code) { groups.KillAll(); });
  });
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.Describe(), "cancelled");
  // A cancelled job starts nothing more.
  ProcessResult after = RunToEnd(Shell("true"), &groups);
  EXPECT_FALSE(after.started);
  EXPECT_TRUE(after.cancelled);
}

TEST(ProcessTest, NoDescriptorOfTheParentReachesTheChild) {
  int fd = open("/dev/null", O_RDONLY);  // not close-on-exec, like Asio's sockets
  ASSERT_GE(fd, 3);
  ProcessResult result = RunToEnd(Shell("ls /proc/self/fd"));
  close(fd);
  ASSERT_TRUE(result.Succeeded());
  // stdin, stdout, stderr, and the directory ls itself opened.
  EXPECT_EQ(result.out, "0\n1\n2\n3\n");
}

TEST(ProcessTest, OutputBeyondTheLimitIsDropped) {
  ProcessSpec spec = Shell("head -c 100000 /dev/zero");
  spec.output_limit = 1000;
  ProcessResult result = RunToEnd(spec);
  EXPECT_TRUE(result.Succeeded());
  EXPECT_EQ(result.out.size(), 1000u);
}

TEST(ProcessTest, RefusesAnotherUserWhenNotRoot) {
  if (geteuid() == 0) GTEST_SKIP() << "runs only as a non-root user";
  ProcessSpec spec = Shell("true");
  spec.user = Credentials{geteuid() + 1, getegid(), {}};
  ProcessResult result = RunToEnd(spec);
  EXPECT_FALSE(result.started);
  EXPECT_NE(result.error.find("cannot run a process as uid"), std::string::npos);
}

TEST(ProcessTest, RunsAsTheGivenUserWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  ProcessSpec spec = Shell("id -u; id -g; id -G");
  spec.user = Credentials{65534, 65534, {65534}};
  spec.cwd = "/";
  ProcessResult result = RunToEnd(spec);
  ASSERT_TRUE(result.Succeeded()) << result.Describe() << result.err;
  EXPECT_EQ(result.out, "65534\n65534\n65534\n");
}

}  // namespace
}  // namespace hone
