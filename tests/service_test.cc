// honed as a service an administrator controls: its configuration file, which the
// command line overrides, and SIGHUP (`systemctl reload honed`), which reads the
// file again without stopping a running job and keeps the old settings when the
// file is broken.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::Honed;
using test::ReadFile;
using test::TempDir;
using test::WaitFor;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// systemd's end of sd_notify: a datagram socket at `path` that honed, started with
// NOTIFY_SOCKET=path, sends READY=1, RELOADING=1 and STATUS= lines to.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~NotifySocket() { close(fd_); }
  const std::string& path() const { return path_; }

  // Waits up to `seconds` for a message with `line` in it; the ones before it are
  // read and dropped.
  bool Await(const std::string& line, double seconds) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buffer[4096];
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) continue;
      std::string message(buffer, static_cast<size_t>(n));
      if (("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos)
        return true;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

class ServiceTest : public ::testing::Test {
 protected:
  // A job whose workload records its pid and sleeps: it runs until cancelled.
  int64_t SubmitSleepingJob(Honed& honed) {
    std::string config =
        dir_.Write("job.yaml",
                   "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
                   "    metrics:\n      shell.v:\n        sample_script: echo 1\n"
                   "    target: shell.v:max\n");
    std::string workload =
        dir_.Write("w.sh", "#!/bin/sh\necho $$ >> " + pids_ + "\nsleep 60\n", true);
    json submitted = honed.HoneJson({"submit", config, "--", workload});
    EXPECT_TRUE(submitted.contains("job")) << submitted.dump();
    EXPECT_TRUE(WaitFor([&] { return !ReadFile(pids_).empty(); }, 20));
    return submitted.value("job", int64_t{0});
  }

  // Starts honed as systemd would, with a notify socket, and waits for READY=1.
  void Start(Honed& honed) {
    honed.Launch({"NOTIFY_SOCKET=" + notify_.path()});
    ASSERT_TRUE(notify_.Await("READY=1", 20)) << ReadFile(honed.log_path());
  }

  // Sends SIGHUP and waits until honed says the reload began (RELOADING=1) and ended
  // (READY=1), however it went.
  void Reload(Honed& honed) {
    ASSERT_EQ(kill(honed.pid(), SIGHUP), 0);
    ASSERT_TRUE(notify_.Await("RELOADING=1", 20)) << ReadFile(honed.log_path());
    ASSERT_TRUE(notify_.Await("READY=1", 20)) << ReadFile(honed.log_path());
  }

  TempDir dir_;
  std::string pids_ = dir_.path() + "/pids";
  NotifySocket notify_{dir_.path() + "/notify.sock"};
};

TEST_F(ServiceTest, AReloadReadsTheFileAgainWithoutStoppingARunningJob) {
  std::string conf = dir_.Write("honed.conf", "# quiet\nlog-level = warn\n");
  Honed honed(dir_.path(), {"--config", conf});
  Start(honed);
  int64_t job = SubmitSleepingJob(honed);
  std::string workload_pid = ReadFile(pids_);

  // At warn, a bad request is not logged (it is a debug line).
  honed.Raw("not json\n");
  EXPECT_FALSE(Contains(ReadFile(honed.log_path()), "bad request"));

  dir_.Write("honed.conf", "log-level = debug\nretain-jobs = 7\n");
  Reload(honed);
  std::string log = ReadFile(honed.log_path());
  EXPECT_TRUE(Contains(log, "reload: log-level warn -> debug")) << log;
  EXPECT_TRUE(Contains(log, "reload: retain-jobs 1000 -> 7")) << log;
  honed.Raw("not json\n");
  EXPECT_TRUE(
      WaitFor([&] { return Contains(ReadFile(honed.log_path()), "bad request"); }, 10))
      << "the new log level did not take effect";

  // The job went on: the same workload run, still running.
  json status = honed.HoneJson({"status", std::to_string(job)});
  EXPECT_EQ(status.value("state", ""), "running") << status.dump();
  EXPECT_EQ(ReadFile(pids_), workload_pid);
  EXPECT_EQ(honed.Hone({"cancel", std::to_string(job)}).exit_code, 0);
}

TEST_F(ServiceTest, ABrokenFileOnReloadKeepsTheSettingsAndSaysWhichLine) {
  std::string conf = dir_.Write("honed.conf", "log-level = warn\n");
  Honed honed(dir_.path(), {"--config", conf});
  Start(honed);
  dir_.Write("honed.conf", "log-level = debug\n\nlog-level = info\n");
  Reload(honed);
  std::string log = ReadFile(honed.log_path());
  EXPECT_TRUE(Contains(log, conf + ":3: log-level is set twice (first on line 1)"))
      << log;
  EXPECT_FALSE(Contains(log, "reload: log-level")) << log;
  honed.Raw("not json\n");
  EXPECT_EQ(honed.Hone({"ping"}).exit_code, 0) << "honed still answers";
  EXPECT_FALSE(Contains(ReadFile(honed.log_path()), "bad request"))
      << "the level stayed warn";
  // Mended, the next reload applies it.
  dir_.Write("honed.conf", "log-level = debug\n");
  Reload(honed);
  EXPECT_TRUE(Contains(ReadFile(honed.log_path()), "reload: log-level warn -> debug"));
}

TEST_F(ServiceTest, TheCommandLineOverridesTheFileAtStartAndAtReload) {
  std::string conf =
      dir_.Write("honed.conf", "log-level = debug\nsocket = /nonexistent/dir/h.sock\n");
  // The test's --socket wins over the file's (else honed could not listen).
  Honed honed(dir_.path(), {"--config", conf, "--log-level", "warn"});
  Start(honed);
  honed.Raw("not json\n");
  dir_.Write("honed.conf", "log-level = trace\nsocket = /elsewhere/h.sock\n");
  Reload(honed);
  std::string log = ReadFile(honed.log_path());
  EXPECT_FALSE(Contains(log, "bad request")) << "--log-level warn beat the file's debug";
  EXPECT_FALSE(Contains(log, "reload: log-level")) << log;
  EXPECT_FALSE(Contains(log, "reload: socket")) << log;
  EXPECT_EQ(honed.Hone({"ping"}).exit_code, 0);
}

TEST_F(ServiceTest, AKeyThatNeedsARestartSaysSo) {
  std::string conf = dir_.Write("honed.conf", "log-level = info\n");
  Honed honed(dir_.path(), {"--config", conf});
  Start(honed);
  dir_.Write("honed.conf", "log-level = info\nsocket-group = nobody-here\n");
  Reload(honed);
  EXPECT_TRUE(Contains(ReadFile(honed.log_path()),
                       "reload: socket-group hone -> nobody-here takes effect when honed "
                       "starts again"))
      << ReadFile(honed.log_path());
}

TEST_F(ServiceTest, ABrokenOrMissingFileAtStartIsAnErrorThatNamesIt) {
  std::string conf = dir_.Write("honed.conf", "log-level = loud\n");
  Honed honed(dir_.path(), {"--config", conf});
  test::CommandResult run = honed.RunHoned({"--restore"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(Contains(run.err, conf + ":1: log-level 'loud'")) << run.err;
  Honed missing(dir_.path(), {"--config", dir_.path() + "/none.conf"});
  run = missing.RunHoned({"--restore"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(Contains(run.err, "no config file " + dir_.path() + "/none.conf"))
      << run.err;
}

// Shell completion: `hone __complete` gives subcommands, options, an option's values
// and job numbers from honed; the bash script turns them into COMPREPLY.
TEST_F(ServiceTest, CompletionOffersSubcommandsOptionsValuesAndJobNumbers) {
  Honed honed(dir_.path());
  Start(honed);
  int64_t job = SubmitSleepingJob(honed);
  auto complete = [&](std::vector<std::string> words) {
    std::vector<std::string> argv = {std::string(HONE_BIN_DIR) + "/hone", "--socket",
                                     honed.socket(), "__complete"};
    argv.insert(argv.end(), words.begin(), words.end());
    return test::RunCommand(argv).out;
  };
  EXPECT_EQ(complete({"st"}), "status\n");
  std::string all = complete({""});
  for (const char* sub : {"run", "submit", "status", "export", "report", "cancel"})
    EXPECT_TRUE(Contains(all, std::string(sub) + "\n")) << all;
  EXPECT_FALSE(Contains(all, "__complete")) << all;
  EXPECT_EQ(complete({"report", "--f"}), "--format\n");
  EXPECT_EQ(complete({"report", "1", "--format", ""}), "env\nhtml\njson\nsh\ntext\n");
  EXPECT_EQ(complete({"export", "1", "--format", "s"}), "sysctl\n");
  EXPECT_EQ(complete({"status", ""}), std::to_string(job) + "\n");
  EXPECT_EQ(complete({"status", std::to_string(job), ""}), "") << "one job already";
  EXPECT_EQ(complete({"run", ""}), "") << "a config file: the shell's own completion";
  EXPECT_TRUE(Contains(complete({"--js"}), "--json\n"));

  // The bash script, as bash calls it for `hone st<TAB>` and `hone cancel <TAB>`.
  std::string script = std::string(HONE_SOURCE_DIR) + "/client/completion/hone.bash";
  auto bash = [&](const std::string& words, int cword) {
    return test::RunCommand({"bash", "-c",
                             "source \"$1\"; COMP_WORDS=(" + words +
                                 "); COMP_CWORD=" + std::to_string(cword) +
                                 "; _hone; printf '%s\\n' \"${COMPREPLY[@]}\"",
                             "bash", script},
                            {"PATH=" + std::string(HONE_BIN_DIR) + ":/usr/bin:/bin",
                             "HONE_SOCKET=" + honed.socket()})
        .out;
  };
  EXPECT_EQ(bash("hone st", 1), "status\n");
  EXPECT_EQ(bash("hone cancel ''", 2), std::to_string(job) + "\n");
  EXPECT_EQ(honed.Hone({"cancel", std::to_string(job)}).exit_code, 0);
}

// ---- Man pages and --help ------------------------------------------------------

// The text of a man page's section `name` ("COMMANDS"): from its "# NAME" line to the
// next "# " line.
std::string ManSection(const std::string& page, const std::string& name) {
  std::string text = ReadFile(std::string(HONE_SOURCE_DIR) + "/docs/man/" + page);
  size_t start = text.find("\n# " + name + "\n");
  if (start == std::string::npos) return "";
  start += name.size() + 4;
  size_t end = text.find("\n# ", start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The options a piece of scdoc names in bold: *--socket*, *-q*.
std::set<std::string> BoldOptions(const std::string& text) {
  std::set<std::string> options;
  std::regex bold(R"(\*(--?[a-z][a-z0-9-]*)\*)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), bold);
       it != std::sregex_iterator(); ++it)
    options.insert((*it)[1]);
  return options;
}

std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.insert(line);
  return lines;
}

// hone(1) and `hone --help` (through the same CLI11 definitions as __complete) list
// the same commands, each with the same options, and the same global options.
TEST(ManPageTest, HoneOneAndHelpListTheSameCommandsAndOptions) {
  std::string hone = std::string(HONE_BIN_DIR) + "/hone";
  std::set<std::string> commands = Lines(test::RunCommand({hone, "__complete", ""}).out);
  ASSERT_GT(commands.size(), 10u);
  std::string section = ManSection("hone.1.scd", "COMMANDS");
  ASSERT_FALSE(section.empty());
  // Each entry: a line "*name* ..." and its indented text.
  std::map<std::string, std::string> entries;
  std::istringstream in(section);
  std::string current;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("*")) {
      current = line.substr(1, line.find('*', 1) - 1);
      entries[current] = line;
    } else if (!current.empty()) {
      entries[current] += "\n" + line;
    }
  }
  std::set<std::string> documented;
  for (const auto& [name, text] : entries) documented.insert(name);
  EXPECT_EQ(documented, commands) << "hone.1's COMMANDS and hone's subcommands differ";
  const std::set<std::string> global = {"--socket", "--json", "--version", "--help",
                                        "-h"};
  for (const std::string& command : commands) {
    std::set<std::string> options;
    for (const std::string& o :
         Lines(test::RunCommand({hone, "__complete", command, "-"}).out))
      if (!global.count(o)) options.insert(o);
    EXPECT_EQ(BoldOptions(entries[command]), options) << "hone " << command;
  }
  std::set<std::string> top = Lines(test::RunCommand({hone, "__complete", "-"}).out);
  EXPECT_EQ(BoldOptions(ManSection("hone.1.scd", "GLOBAL OPTIONS")), top);
}

// honed(8)'s OPTIONS and `honed --help` list the same flags.
TEST(ManPageTest, HonedEightAndHelpListTheSameFlags) {
  std::string help =
      test::RunCommand({std::string(HONE_BIN_DIR) + "/honed", "--help"}).out;
  std::set<std::string> flags;
  std::regex flag(R"(^\s+(?:-\w, )?(--[a-z][a-z0-9-]*))");
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, flag) && m[1] != "--help") flags.insert(m[1]);
  }
  ASSERT_GT(flags.size(), 15u) << help;
  EXPECT_EQ(BoldOptions(ManSection("honed.8.scd", "OPTIONS")), flags);
}

}  // namespace
}  // namespace hone
