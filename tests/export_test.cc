// `hone export`'s formats (common/export.h) from an `export` reply: what each file
// holds, what it leaves out and says so, and that hostile names and values cannot
// add lines of their own.
#include "common/export.h"

#include <gtest/gtest.h>

namespace hone {
namespace {

using nlohmann::json;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A reply as honed gives it for a job over every kind of knob.
json Reply() {
  return json::parse(R"({
    "job": 7, "state": "completed",
    "target": {"metric": "shell.rate", "goal": "max"},
    "improvement_pct": 4.3, "improvement_ci95_pct": [1.2, 7.4],
    "knobs": [
      {"name": "vm.swappiness", "kind": "builtin", "backend": "sysctl", "value": 10,
       "baseline": 60, "files": ["/proc/sys/vm/swappiness"]},
      {"name": "transparent_hugepage.enabled", "kind": "builtin", "backend": "sysfs",
       "value": "madvise", "baseline": "always",
       "files": ["/sys/kernel/mm/transparent_hugepage/enabled"]},
      {"name": "cpufreq.governor", "kind": "builtin", "backend": "sysfs",
       "value": "performance",
       "files": ["/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
                 "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"]},
      {"name": "prefetch.l2_stream", "kind": "builtin", "backend": "msr", "value": "off",
       "location": "MSR 0x1a4 bit 0, cpus 0-1"},
      {"name": "svc_a", "kind": "script", "backend": "script", "value": 4,
       "baseline": 1, "set_script": "echo $KNOB_VAL > '/srv/app/a'"},
      {"name": "threads", "kind": "application", "value": 8},
      {"name": "opts", "kind": "application", "value": "-x \"$HOME\" `id` \\n"}
    ]})");
}

TEST(ExportTest, SysctlHoldsTheSysctlKnobsAndListsTheOthers) {
  std::string text = FormatExportSysctl(Reply());
  EXPECT_TRUE(Contains(text,
                       "# hone job 7 (completed): its best settings for shell.rate "
                       "(max), +4.3% [1.2, 7.4]\n"))
      << text;
  EXPECT_TRUE(Contains(text, "\nvm.swappiness = 10\n")) << text;
  EXPECT_TRUE(Contains(text, "# threads = 8: not a sysctl (an application knob)"))
      << text;
  EXPECT_TRUE(Contains(text, "# svc_a = 4: not a sysctl (a script knob)")) << text;
  EXPECT_TRUE(Contains(text, "# prefetch.l2_stream = off: not a sysctl (msr knob)"))
      << text;
  // Every line but the sysctl's is a comment.
  size_t lines = 0;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    std::string line = text.substr(at, end - at);
    at = end + 1;
    ++lines;
    if (line != "vm.swappiness = 10") {
      EXPECT_TRUE(line.starts_with("#")) << line;
    }
  }
  EXPECT_GT(lines, 5u);
}

TEST(ExportTest, TunedHasSysctlSysfsAndAScriptThatSetsAndPutsBack) {
  std::string script;
  std::string text = FormatExportTuned(Reply(), &script);
  EXPECT_TRUE(Contains(text, "\n[main]\nsummary=hone job 7: its best settings\n"))
      << text;
  EXPECT_TRUE(Contains(text, "\n[sysctl]\nvm.swappiness=10\n")) << text;
  EXPECT_TRUE(Contains(text,
                       "[sysfs]\n# transparent_hugepage.enabled\n"
                       "/sys/kernel/mm/transparent_hugepage/enabled=madvise\n"))
      << text;
  EXPECT_TRUE(
      Contains(text,
               "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor=performance\n"
               "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor=performance\n"))
      << text;
  EXPECT_TRUE(Contains(text, "\n[script]\nscript=${i:PROFILE_DIR}/script.sh\n")) << text;
  EXPECT_TRUE(
      Contains(text, "# prefetch.l2_stream = off: TuneD has no plugin for it (msr)"))
      << text;
  EXPECT_TRUE(Contains(text, "# threads = 8: an application knob")) << text;
  ASSERT_FALSE(script.empty());
  EXPECT_TRUE(script.starts_with("#!/bin/sh\n")) << script;
  EXPECT_TRUE(Contains(script,
                       "  start)\n    # svc_a\n    KNOB_VAL='4' /bin/sh -c "
                       "'echo $KNOB_VAL > '\\''/srv/app/a'\\''' || status=1\n"))
      << script;
  EXPECT_TRUE(Contains(script, "  stop)\n    # svc_a\n    KNOB_VAL='1' /bin/sh -c"))
      << script;
}

TEST(ExportTest, AScriptKnobWithoutItsScriptIsAComment) {
  json reply = Reply();
  reply["knobs"][4].erase("set_script");
  std::string script;
  std::string text = FormatExportTuned(reply, &script);
  EXPECT_TRUE(script.empty());
  EXPECT_FALSE(Contains(text, "[script]"));
  EXPECT_TRUE(
      Contains(text, "# svc_a = 4: a script knob whose set_script only its owner"))
      << text;
}

TEST(ExportTest, EnvQuotesValuesSoThatShellAndSystemdReadThemBack) {
  std::string text = FormatExportEnv(Reply());
  EXPECT_TRUE(Contains(text, "\nthreads=\"8\"\nHONE_KNOB_THREADS=\"8\"\n")) << text;
  EXPECT_TRUE(Contains(text, "opts=\"-x \\\"\\$HOME\\\" \\`id\\` \\\\n\"\n")) << text;
  EXPECT_TRUE(Contains(text, "# vm.swappiness = 10: a system knob")) << text;
}

TEST(ExportTest, HostileNamesAndValuesAddNoLineOfTheirOwn) {
  json reply = json::parse(R"({"job": 1, "knobs": [
    {"name": "vm.x\nkernel.core_pattern", "kind": "builtin", "backend": "sysctl",
     "value": 1},
    {"name": "vm.y", "kind": "builtin", "backend": "sysctl",
     "value": "1\nkernel.core_pattern = |/tmp/evil"},
    {"name": "thp", "kind": "builtin", "backend": "sysfs", "value": "x",
     "files": ["/etc/shadow"]},
    {"name": "vm.z", "kind": "builtin", "backend": "sysctl", "value": "1 # [main]"},
    {"name": "app", "kind": "application", "value": "a\nLD_PRELOAD=/tmp/evil.so"},
    {"name": "bad name\n[main]", "kind": "application", "value": "v"},
    {"name": 5, "kind": "application", "value": 1},
    "not an object"
  ]})");
  std::string script;
  for (const std::string& text :
       {FormatExportSysctl(reply), FormatExportTuned(reply, &script),
        FormatExportEnv(reply)}) {
    EXPECT_FALSE(Contains(text, "\nkernel.core_pattern")) << text;
    EXPECT_FALSE(Contains(text, "\nLD_PRELOAD")) << text;
    EXPECT_FALSE(Contains(text, "/etc/shadow=")) << text;
    size_t mains = 0;
    for (size_t at = text.find("\n[main]\n"); at != std::string::npos;
         at = text.find("\n[main]\n", at + 1))
      ++mains;
    EXPECT_LE(mains, 1u) << text;
    EXPECT_TRUE(Contains(text, "left out") || Contains(text, "not a sysctl") ||
                Contains(text, "a system knob"))
        << text;
  }
  // The application knob whose name is not a variable name keeps its HONE_KNOB_ name.
  EXPECT_TRUE(Contains(FormatExportEnv(reply), "HONE_KNOB_BAD_NAME__MAIN_=\"v\"\n"));
  // Nothing at all, or garbage: a header and nothing else, no throw.
  for (const json& garbage : {json(), json::array(), json("x"), json::object(),
                              json({{"knobs", 3}, {"job", "x"}}),
                              json::parse(R"({"job": 184467440737095516152})"),
                              json({{"job", 1.5e300}}), json({{"job", -1e300}})}) {
    EXPECT_TRUE(FormatExportSysctl(garbage).starts_with("# hone job ?"));
    EXPECT_TRUE(FormatExportEnv(garbage).starts_with("# hone job ?"));
    EXPECT_TRUE(FormatExportTuned(garbage, &script).starts_with("# hone job ?"));
    EXPECT_TRUE(script.empty());
  }
}

}  // namespace
}  // namespace hone
