// honed's configuration file (daemon/daemon_config.h): what it sets, what it refuses
// and how, and how the command line and a reload combine with it.
#include "daemon/daemon_config.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace hone {
namespace {

using test::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(DaemonConfigTest, EveryKeyIsSetAndCommentsAndBlankLinesAreIgnored) {
  DaemonOptions options;
  std::set<std::string> set;
  Status s = ParseDaemonConfig(
      "# honed.conf\n"
      "\n"
      "socket = /run/h/h.sock\n"
      "  socket-group=staff  \n"
      "admin-group = \"wheel\"\n"
      "state-dir = /srv/honed\n"
      "log-level = debug\n"
      "\t# indented comment\n"
      "on-stop = interrupt\n"
      "metrics-socket = none\n"
      "retain-jobs = 0\n"
      "workload-cgroup = /sys/fs/cgroup/hone.slice\r\n",
      "/etc/honed/honed.conf", &options, &set);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(options.socket_path, "/run/h/h.sock");
  EXPECT_EQ(options.socket_group, "staff");
  EXPECT_EQ(options.admin_group, "wheel");
  EXPECT_EQ(options.state_dir, "/srv/honed");
  EXPECT_EQ(options.log_level, "debug");
  EXPECT_FALSE(options.resume);
  EXPECT_EQ(options.metrics_socket, "none");
  EXPECT_EQ(options.retain_jobs, 0u);
  EXPECT_EQ(options.workload_cgroup, "/sys/fs/cgroup/hone.slice");
  EXPECT_EQ(set.size(), DaemonConfigKeys().size());
  for (const std::string& key : DaemonConfigKeys()) EXPECT_TRUE(set.count(key)) << key;
}

TEST(DaemonConfigTest, ErrorsNameTheFileTheLineAndWhatToFix) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"log-level = info\nsokcet = /run/x\n",
       "/etc/honed/honed.conf:2: unknown key 'sokcet' (known: socket, socket-group,"},
      {"\n\nlog-level = loud\n",
       "honed.conf:3: log-level 'loud' is not trace, debug, info, warn or error"},
      {"socket /run/x\n", "honed.conf:1: expected 'key = value', not 'socket /run/x'"},
      {"socket = run/x\n", "honed.conf:1: socket must be an absolute path"},
      {"state-dir =\n", "honed.conf:1: state-dir needs a value"},
      {"on-stop = keep\n", "on-stop 'keep' is not resume"},
      {"retain-jobs = -1\n", "retain-jobs must be a whole number"},
      {"retain-jobs = 99999999999999999999\n", "retain-jobs must be a whole number"},
      {"log-level = info\nlog-level = debug\n",
       "honed.conf:2: log-level is set twice (first on line 1)"},
      {"log-level = \x1b[31mred\n", "log-level '\\x1b[31mred' is not"},
  };
  for (const Case& c : cases) {
    DaemonOptions options;
    Status s = ParseDaemonConfig(c.text, "/etc/honed/honed.conf", &options);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << c.text;
    EXPECT_TRUE(Contains(s.message(), c.message)) << c.text << "\n" << s.message();
  }
  DaemonOptions options;
  Status s =
      ParseDaemonConfig("log-level = " + std::string(5000, 'x') + "\n", "f", &options);
  EXPECT_TRUE(Contains(s.message(), "f:1: a line longer than 4096 bytes")) << s.message();
  s = ParseDaemonConfig(std::string(70000, '#'), "f", &options);
  EXPECT_TRUE(Contains(s.message(), "longer than 65536 bytes")) << s.message();
}

TEST(DaemonConfigTest, AFileWithAnErrorSetsNothing) {
  DaemonOptions options;
  Status s = ParseDaemonConfig("log-level = debug\nadmin-group = wheel\nbad line\n", "f",
                               &options);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(options.log_level, "info");
  EXPECT_EQ(options.admin_group, "hone-admin");
}

TEST(DaemonConfigTest, AMissingDefaultFileIsFineAMissingGivenOneIsNot) {
  TempDir dir;
  DaemonOptions options;
  EXPECT_TRUE(LoadDaemonConfig(dir.path() + "/none.conf", false, &options).ok());
  Status s = LoadDaemonConfig(dir.path() + "/none.conf", true, &options);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(s.message(), "none.conf")) << s.message();
  std::string path = dir.Write("honed.conf", "log-level = warn\n");
  ASSERT_TRUE(LoadDaemonConfig(path, true, &options).ok());
  EXPECT_EQ(options.log_level, "warn");
}

TEST(DaemonConfigTest, AReloadStartsFromTheDefaultsAndKeepsTheCommandLinesFlags) {
  TempDir dir;
  std::string path =
      dir.Write("honed.conf", "log-level = warn\nadmin-group = wheel\nretain-jobs = 5\n");
  DaemonOptions running;
  running.config_path = path;
  running.config_required = true;
  running.admin_group = "ops";  // given as --admin-group ops
  running.from_command_line = {"admin-group"};
  running.socket_path = "/tmp/x.sock";  // not a file key given on the command line
  DaemonOptions next;
  ASSERT_TRUE(ReloadDaemonConfig(running, &next).ok());
  EXPECT_EQ(next.log_level, "warn");
  EXPECT_EQ(next.admin_group, "ops") << "the command line overrides the file";
  EXPECT_EQ(next.retain_jobs, 5u);
  EXPECT_EQ(next.socket_path, "/run/honed/honed.sock")
      << "a key neither the file nor the command line sets is the default again";
  EXPECT_EQ(next.from_command_line, running.from_command_line);

  // A key removed from the file goes back to its default.
  dir.Write("honed.conf", "retain-jobs = 5\n");
  ASSERT_TRUE(ReloadDaemonConfig(next, &next).ok());
  EXPECT_EQ(next.log_level, "info");

  // A broken file: an error, and `next` as it was.
  dir.Write("honed.conf", "retain-jobs = 5\nlog-level = loud\n");
  DaemonOptions before = next;
  Status s = ReloadDaemonConfig(next, &next);
  EXPECT_TRUE(Contains(s.message(), path + ":2: log-level 'loud'")) << s.message();
  EXPECT_EQ(next.log_level, before.log_level);
  EXPECT_EQ(next.retain_jobs, before.retain_jobs);
}

// systemd/honed.conf, installed as /etc/honed/honed.conf: every line a comment, and
// every setting, uncommented, its default.
TEST(DaemonConfigTest, TheShippedFileDocumentsEveryKeyWithItsDefault) {
  std::string text = test::ReadFile(std::string(HONE_SOURCE_DIR) + "/systemd/honed.conf");
  ASSERT_FALSE(text.empty());
  DaemonOptions options;
  std::set<std::string> set;
  ASSERT_TRUE(ParseDaemonConfig(text, "honed.conf", &options, &set).ok());
  EXPECT_TRUE(set.empty()) << "a line of the shipped file is not commented out";
  std::string uncommented;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (line.starts_with("#") && line.find(" = ") != std::string::npos &&
        line.size() > 1 && line[1] != ' ')
      uncommented += line.substr(1) + "\n";
    else if (line.starts_with("#") && line.ends_with(" =") && line[1] != ' ')
      uncommented += line.substr(1) + "\n";
  }
  DaemonOptions defaults;
  ASSERT_TRUE(ParseDaemonConfig(uncommented, "honed.conf", &options, &set).ok())
      << uncommented;
  for (const std::string& key : DaemonConfigKeys()) {
    EXPECT_TRUE(set.count(key)) << key << " is not in the shipped file";
    EXPECT_EQ(DaemonConfigValue(options, key), DaemonConfigValue(defaults, key)) << key;
  }
}

TEST(DaemonConfigTest, OnlyTheLiveKeysApplyWithoutARestart) {
  for (const char* key : {"log-level", "admin-group", "retain-jobs", "on-stop"})
    EXPECT_TRUE(DaemonConfigKeyIsLive(key)) << key;
  for (const char* key :
       {"socket", "socket-group", "state-dir", "metrics-socket", "workload-cgroup"})
    EXPECT_FALSE(DaemonConfigKeyIsLive(key)) << key;
}

}  // namespace
}  // namespace hone
