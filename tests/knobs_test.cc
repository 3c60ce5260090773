// System knobs: file, MSR field and script knobs; their domains, refusals, and
// recipes that put an original value back without the knob that recorded it.
#include "daemon/knobs/knobs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "tests/await.h"
#include "tests/fake_machine.h"
#include "tests/faulty_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using test::FakeMachineTree;
using test::TempDir;

using test::Await;

Status Read(SystemKnob& knob, const std::string& instance, std::string* value) {
  return Await(knob.Read(instance, value));
}

Status Write(SystemKnob& knob, const std::string& instance, const std::string& value) {
  return Await(knob.Write(instance, value));
}

std::string ReadOrDie(SystemKnob& knob, const std::string& instance = "") {
  std::string value;
  Status s = Read(knob, instance, &value);
  EXPECT_TRUE(s.ok()) << s.message();
  return value;
}

class KnobTest : public ::testing::Test {
 protected:
  std::unique_ptr<SystemKnob> MakeFile(const FileKnobSpec& spec) {
    std::unique_ptr<SystemKnob> knob;
    Status s = MakeFileKnob(spec, machine_.get(), &knob);
    EXPECT_TRUE(s.ok()) << s.message();
    return knob;
  }
  std::unique_ptr<SystemKnob> MakeMsr(const MsrFieldSpec& spec,
                                      Machine* machine = nullptr) {
    std::unique_ptr<SystemKnob> knob;
    Status s = MakeMsrFieldKnob(spec, machine ? machine : machine_.get(), &knob);
    EXPECT_TRUE(s.ok()) << s.message();
    return knob;
  }
  std::unique_ptr<SystemKnob> FromRecipe(const json& recipe) {
    std::unique_ptr<SystemKnob> knob;
    Status s = KnobFromRecipe(recipe, machine_.get(), &knob);
    EXPECT_TRUE(s.ok()) << s.message() << " in " << recipe.dump();
    return knob;
  }

  static FileKnobSpec Swappiness() {
    FileKnobSpec spec;
    spec.name = "vm.swappiness";
    spec.backend = "sysctl";
    spec.files = {{"", "/proc/sys/vm/swappiness"}};
    spec.domain = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    return spec;
  }
  static FileKnobSpec Thp() {
    FileKnobSpec spec;
    spec.name = "thp.enabled";
    spec.files = {{"", "/sys/kernel/mm/transparent_hugepage/enabled"}};
    spec.selector = true;
    return spec;
  }
  static MsrFieldSpec Prefetcher(int bit) {
    MsrFieldSpec spec;
    spec.name = "prefetch.test";
    spec.msr = 0x1a4;
    spec.shift = bit;
    spec.width = 1;
    spec.cpus = {{"cpu0", 0}, {"cpu1", 1}, {"cpu2", 2}, {"cpu3", 3}};
    spec.labels = {{"on", 0}, {"off", 1}};
    return spec;
  }
  static MsrFieldSpec UncoreMin() {
    MsrFieldSpec spec;
    spec.name = "uncore.min_freq_khz";
    spec.msr = 0x620;
    spec.shift = 8;
    spec.width = 7;
    spec.cpus = {{"package_00", 0}};
    spec.scale = 100000;
    spec.min_field = 8;
    spec.max_field = 24;
    return spec;
  }

  TempDir dir_;
  FakeMachineTree tree_{dir_.path()};
  std::unique_ptr<Machine> machine_ = MakeMachine(dir_.path());
};

// ---------------------------------------------------------------------------------
// File knobs.

TEST_F(KnobTest, FileKnobReadsTrimmedAndWritesLikeEcho) {
  auto knob = MakeFile(Swappiness());
  EXPECT_EQ(knob->backend(), "sysctl");
  EXPECT_EQ(knob->location(), "/proc/sys/vm/swappiness");
  EXPECT_EQ(knob->Instances(), std::vector<std::string>{""});
  EXPECT_EQ(ReadOrDie(*knob), "60");
  ASSERT_TRUE(Write(*knob, "", "10").ok());
  EXPECT_EQ(tree_.Read("proc/sys/vm/swappiness"), "10\n");
  EXPECT_EQ(ReadOrDie(*knob), "10");
}

TEST_F(KnobTest, FileKnobRefusesValuesOutsideItsDomainBeforeAnyWrite) {
  FaultInjectingMachine counting(machine_.get(), 0);
  std::unique_ptr<SystemKnob> knob;
  ASSERT_TRUE(MakeFileKnob(Swappiness(), &counting, &knob).ok());
  for (const char* bad : {"55", "-1", "", "10\n20", "ten"}) {
    Status s = Write(*knob, "", bad);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_NE(
      Write(*knob, "", "55").message().find("is not one of its values (0, 10, 20, "),
      std::string::npos);
  EXPECT_EQ(counting.writes(), 0);
  EXPECT_EQ(tree_.Read("proc/sys/vm/swappiness"), "60\n");
}

TEST_F(KnobTest, FileKnobUnknownInstanceIsNotFound) {
  auto knob = MakeFile(Swappiness());
  EXPECT_EQ(Write(*knob, "cpu9", "10").code(), Status::Code::kNotFound);
}

TEST_F(KnobTest, SelectorFileTakesItsDomainFromTheBrackets) {
  auto knob = MakeFile(Thp());
  EXPECT_EQ(knob->Domain(), (std::vector<json>{"always", "madvise", "never"}));
  EXPECT_EQ(ReadOrDie(*knob), "madvise");
  ASSERT_TRUE(Write(*knob, "", "never").ok());
  EXPECT_EQ(tree_.Read("sys/kernel/mm/transparent_hugepage/enabled"), "never\n");
  EXPECT_EQ(ReadOrDie(*knob), "never");
  EXPECT_EQ(Write(*knob, "", "sometimes").code(), Status::Code::kInvalidArgument);
}

TEST_F(KnobTest, PerCpuFilesWithDomainFromAnAvailableFile) {
  FileKnobSpec spec;
  spec.name = "cpufreq.governor";
  for (int cpu = 0; cpu < 4; ++cpu)
    spec.files.emplace_back("cpu" + std::to_string(cpu), "/sys/devices/system/cpu/cpu" +
                                                             std::to_string(cpu) +
                                                             "/cpufreq/scaling_governor");
  spec.available_path =
      "/sys/devices/system/cpu/cpu0/cpufreq/scaling_available_governors";
  auto knob = MakeFile(spec);
  EXPECT_EQ(knob->Domain(), (std::vector<json>{"performance", "powersave"}));
  EXPECT_EQ(knob->Instances(),
            (std::vector<std::string>{"cpu0", "cpu1", "cpu2", "cpu3"}));
  ASSERT_TRUE(Write(*knob, "cpu2", "performance").ok());
  EXPECT_EQ(tree_.Read("sys/devices/system/cpu/cpu2/cpufreq/scaling_governor"),
            "performance\n");
  EXPECT_EQ(tree_.Read("sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"),
            "powersave\n");
}

TEST_F(KnobTest, FileKnobPathsMustLieUnderTheirBackend) {
  std::unique_ptr<SystemKnob> knob;
  FileKnobSpec spec = Swappiness();
  spec.files = {{"", "/sys/kernel/mm/transparent_hugepage/enabled"}};
  EXPECT_EQ(MakeFileKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec.backend = "sysfs";
  spec.files = {{"", "/etc/passwd"}};
  EXPECT_EQ(MakeFileKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec.files = {{"", "/sys/../etc/passwd"}};
  EXPECT_EQ(MakeFileKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec.backend = "debugfs";
  spec.files = {{"", "/proc/sys/vm/swappiness"}};
  EXPECT_EQ(MakeFileKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec.backend = "registry";
  EXPECT_EQ(MakeFileKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(KnobTest, FileKnobReportsAMissingFile) {
  FileKnobSpec spec = Swappiness();
  spec.files = {{"", "/proc/sys/vm/not_here"}};
  auto knob = MakeFile(spec);
  std::string value;
  EXPECT_EQ(Read(*knob, "", &value).code(), Status::Code::kNotFound);
  EXPECT_EQ(Write(*knob, "", "10").code(), Status::Code::kNotFound);
}

// ---------------------------------------------------------------------------------
// MSR field knobs.

TEST_F(KnobTest, MsrFieldWriteChangesOnlyItsBitOnItsCpu) {
  tree_.WriteMsr(1, 0x1a4, 0xf0000000'000000f4ull);
  auto knob = MakeMsr(Prefetcher(0));
  EXPECT_EQ(knob->backend(), "msr");
  EXPECT_EQ(knob->location(), "MSR 0x1a4 bit 0, cpus 0-3");
  EXPECT_EQ(ReadOrDie(*knob, "cpu1"), "on");
  ASSERT_TRUE(Write(*knob, "cpu1", "off").ok());
  EXPECT_EQ(tree_.ReadMsr(1, 0x1a4), 0xf0000000'000000f5ull);
  EXPECT_EQ(ReadOrDie(*knob, "cpu1"), "off");
  EXPECT_EQ(tree_.ReadMsr(0, 0x1a4), 0u);
  EXPECT_EQ(tree_.ReadMsr(2, 0x1a4), 0u);
  ASSERT_TRUE(Write(*knob, "cpu1", "on").ok());
  EXPECT_EQ(tree_.ReadMsr(1, 0x1a4), 0xf0000000'000000f4ull);
}

TEST_F(KnobTest, MsrFieldOfAHigherBit) {
  auto knob = MakeMsr(Prefetcher(3));
  ASSERT_TRUE(Write(*knob, "cpu3", "off").ok());
  EXPECT_EQ(tree_.ReadMsr(3, 0x1a4), 0x8u);
  EXPECT_EQ(ReadOrDie(*knob, "cpu3"), "off");
  EXPECT_EQ(ReadOrDie(*knob, "cpu0"), "on");
}

TEST_F(KnobTest, MsrLabelsAreTheDomainAndNothingElseIsWritten) {
  FaultInjectingMachine counting(machine_.get(), 0);
  auto knob = MakeMsr(Prefetcher(0), &counting);
  EXPECT_EQ(knob->Domain(), (std::vector<json>{"on", "off"}));
  for (const char* bad : {"1", "0", "OFF", "disabled", ""})
    EXPECT_EQ(Write(*knob, "cpu0", bad).code(), Status::Code::kInvalidArgument) << bad;
  EXPECT_EQ(counting.writes(), 0);
  EXPECT_EQ(tree_.ReadMsr(0, 0x1a4), 0u);
}

TEST_F(KnobTest, MsrScaleTurnsUncoreRatiosIntoKilohertz) {
  auto knob = MakeMsr(UncoreMin());
  std::vector<json> domain = knob->Domain();
  ASSERT_EQ(domain.size(), 17u);
  EXPECT_EQ(domain.front(), 800000);
  EXPECT_EQ(domain.back(), 2400000);
  EXPECT_EQ(knob->location(), "MSR 0x620 bits 14:8, cpu 0");
  EXPECT_EQ(ReadOrDie(*knob, "package_00"), "800000");
  ASSERT_TRUE(Write(*knob, "package_00", "1200000").ok());
  EXPECT_EQ(tree_.ReadMsr(0, 0x620), 0x0c18u);  // min ratio 12, max ratio 24 kept
  EXPECT_EQ(Write(*knob, "package_00", "1250000").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Write(*knob, "package_00", "2500000").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(tree_.ReadMsr(0, 0x620), 0x0c18u);
}

TEST_F(KnobTest, MsrKnobWithoutTheDeviceIsUnavailable) {
  tree_.Remove("dev/cpu/2");
  auto knob = MakeMsr(Prefetcher(0));
  std::string value;
  Status s = Read(*knob, "cpu2", &value);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("modprobe msr"), std::string::npos);
  EXPECT_EQ(Write(*knob, "cpu2", "off").code(), Status::Code::kUnavailable);
}

TEST_F(KnobTest, MsrFieldSpecsAreChecked) {
  std::unique_ptr<SystemKnob> knob;
  MsrFieldSpec spec = Prefetcher(0);
  spec.width = 0;
  EXPECT_EQ(MakeMsrFieldKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec = Prefetcher(63);
  spec.width = 2;
  EXPECT_EQ(MakeMsrFieldKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec = Prefetcher(0);
  spec.labels = {{"on", 0}, {"weird", 2}};
  EXPECT_EQ(MakeMsrFieldKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
  spec = UncoreMin();
  spec.max_field = 200;  // wider than 7 bits
  EXPECT_EQ(MakeMsrFieldKnob(spec, machine_.get(), &knob).code(),
            Status::Code::kInvalidArgument);
}

// ---------------------------------------------------------------------------------
// Recipes.

TEST_F(KnobTest, FileRecipeRestoresTheOriginalExactly) {
  auto before = tree_.Snapshot();
  auto knob = MakeFile(Swappiness());
  json recipe = knob->Recipe("");
  EXPECT_EQ(recipe["backend"], "sysctl");
  EXPECT_EQ(recipe["path"], "/proc/sys/vm/swappiness");
  std::string original = ReadOrDie(*knob);
  ASSERT_TRUE(Write(*knob, "", "100").ok());
  auto restorer = FromRecipe(json::parse(recipe.dump()));  // as stored
  ASSERT_TRUE(restorer);
  EXPECT_EQ(restorer->name(), "vm.swappiness");
  EXPECT_EQ(restorer->Instances(), std::vector<std::string>{""});
  EXPECT_EQ(restorer->Domain(), knob->Domain());
  ASSERT_TRUE(Write(*restorer, "", original).ok());
  EXPECT_EQ(tree_.Snapshot(), before);
}

TEST_F(KnobTest, RecipeAcceptsAnOriginalOffTheTuningGrid) {
  FileKnobSpec spec;
  spec.name = "sched.min_granularity_ns";
  spec.backend = "debugfs";
  spec.files = {{"", "/sys/kernel/debug/sched/min_granularity_ns"}};
  spec.domain = {500000, 1000000, 1500000};
  auto knob = MakeFile(spec);
  std::string original = ReadOrDie(*knob);
  ASSERT_EQ(original, "2250000");
  json recipe = knob->Recipe("");
  ASSERT_TRUE(Write(*knob, "", "500000").ok());
  // The tuning knob never writes it; the restorer writes exactly that original back.
  EXPECT_EQ(Write(*knob, "", original).code(), Status::Code::kInvalidArgument);
  auto restorer = FromRecipe(recipe);
  EXPECT_EQ(Write(*restorer, "", "2000000").code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(Write(*restorer, "", original).ok());
  EXPECT_EQ(tree_.Read("sys/kernel/debug/sched/min_granularity_ns"), "2250000\n");
}

TEST_F(KnobTest, SelectorRecipeRestoresTheSelectedWord) {
  auto before = tree_.Snapshot();
  auto knob = MakeFile(Thp());
  json recipe = knob->Recipe("");
  std::string original = ReadOrDie(*knob);
  ASSERT_TRUE(Write(*knob, "", "always").ok());
  EXPECT_NE(tree_.Snapshot(), before);
  ASSERT_TRUE(Write(*FromRecipe(recipe), "", original).ok());
  EXPECT_EQ(tree_.Snapshot(), before);
}

TEST_F(KnobTest, PerCpuRecipeNamesItsCpu) {
  auto before = tree_.Snapshot();
  tree_.WriteMsr(2, 0x1a4, 0x40);
  before = tree_.Snapshot();
  auto knob = MakeMsr(Prefetcher(1));
  json recipe = knob->Recipe("cpu2");
  EXPECT_EQ(recipe["backend"], "msr");
  EXPECT_EQ(recipe["cpu"], 2);
  EXPECT_EQ(recipe["msr"], 0x1a4);
  std::string original = ReadOrDie(*knob, "cpu2");
  ASSERT_TRUE(Write(*knob, "cpu2", "off").ok());
  EXPECT_EQ(tree_.ReadMsr(2, 0x1a4), 0x42u);
  auto restorer = FromRecipe(json::parse(recipe.dump()));
  EXPECT_EQ(restorer->Domain(), (std::vector<json>{"on", "off"}));
  ASSERT_TRUE(Write(*restorer, "", original).ok());
  EXPECT_EQ(tree_.Snapshot(), before);
}

TEST_F(KnobTest, UncoreMsrRecipeRoundTrip) {
  auto before = tree_.Snapshot();
  auto knob = MakeMsr(UncoreMin());
  json recipe = knob->Recipe("package_00");
  std::string original = ReadOrDie(*knob, "package_00");
  ASSERT_TRUE(Write(*knob, "package_00", "2000000").ok());
  ASSERT_TRUE(Write(*FromRecipe(recipe), "", original).ok());
  EXPECT_EQ(tree_.Snapshot(), before);
}

TEST_F(KnobTest, RecipesThatDoNotMakeSenseAreRefused) {
  std::unique_ptr<SystemKnob> knob;
  for (
      const char* text :
      {R"({})", R"({"backend": "registry", "name": "x"})",
       R"({"backend": "sysctl", "name": "x", "path": "/etc/passwd", "domain": [1]})",
       R"({"backend": "sysfs", "name": "x", "path": "/sys/../etc/passwd", "domain": [1]})",
       R"({"backend": "msr", "name": "x", "msr": 420, "cpu": 0, "shift": 0, "width": 99})",
       R"({"backend": "msr", "name": "x"})",
       R"({"backend": "script", "name": "x", "options": [1], "get_script": "true"})",
       R"([1, 2])"}) {
    Status s = KnobFromRecipe(json::parse(text), machine_.get(), &knob);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << text;
  }
}

// ---------------------------------------------------------------------------------
// Script knobs.

class KnobScriptTest : public ::testing::Test {
 protected:
  ScriptKnobSpec Spec() const {
    ScriptKnobSpec spec;
    spec.name = "x";
    spec.options = {"1", "2", "a b;$(touch " + dir_.path() + "/pwned)"};
    spec.get_script = "cat " + dir_.path() + "/state";
    spec.set_script =
        "printf '%s|%s' \"$KNOB_VAL\" \"$KNOB_DEV\" > " + dir_.path() + "/state";
    spec.timeout_s = 30;
    return spec;
  }
  std::unique_ptr<SystemKnob> Make(const ScriptKnobSpec& spec) {
    std::unique_ptr<SystemKnob> knob;
    Status s = Await(MakeScriptKnob(spec, &knob));
    EXPECT_TRUE(s.ok()) << s.message();
    return knob;
  }
  std::string State() const { return test::ReadFile(dir_.path() + "/state"); }
  bool Pwned() const { return std::filesystem::exists(dir_.path() + "/pwned"); }

  TempDir dir_;
};

TEST_F(KnobScriptTest, ValuesReachTheScriptOnlyThroughTheEnvironment) {
  dir_.Write("state", "1");
  auto knob = Make(Spec());
  EXPECT_EQ(knob->backend(), "script");
  EXPECT_EQ(knob->Instances(), std::vector<std::string>{""});
  EXPECT_EQ(ReadOrDie(*knob), "1");
  std::string odd = "a b;$(touch " + dir_.path() + "/pwned)";
  ASSERT_TRUE(Write(*knob, "", odd).ok());
  EXPECT_EQ(State(), odd + "|");
  EXPECT_FALSE(Pwned());
}

TEST_F(KnobScriptTest, ValuesOutsideTheOptionsAreRefusedWithoutRunningAnything) {
  dir_.Write("state", "1");
  auto knob = Make(Spec());
  Status s = Write(*knob, "", "a;touch " + dir_.path() + "/pwned");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(State(), "1");
  EXPECT_FALSE(Pwned());
}

TEST_F(KnobScriptTest, ReadReturnsTheLastLineTrimmed) {
  ScriptKnobSpec spec = Spec();
  spec.get_script = "echo noise; echo '  2  '; echo";
  auto knob = Make(spec);
  EXPECT_EQ(ReadOrDie(*knob), "2");
}

TEST_F(KnobScriptTest, AFailingScriptReportsItsStatusAndStderr) {
  ScriptKnobSpec spec = Spec();
  spec.set_script = "echo starting; echo 'no such device' >&2; exit 1";
  auto knob = Make(spec);
  Status s = Write(*knob, "", "2");
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "knob 'x': set_script exited with status 1: no such device");
  spec.get_script = "exit 3";
  knob = Make(spec);
  std::string value;
  s = Read(*knob, "", &value);
  EXPECT_EQ(s.message(), "knob 'x': get_script exited with status 3");
  spec.get_script = "true";
  knob = Make(spec);
  EXPECT_EQ(Read(*knob, "", &value).message(), "knob 'x': get_script printed nothing");
}

TEST_F(KnobScriptTest, DevicesScriptMakesOneInstancePerDevice) {
  ScriptKnobSpec spec = Spec();
  spec.devices_script = "echo sda; echo sdb";
  auto knob = Make(spec);
  EXPECT_EQ(knob->Instances(), (std::vector<std::string>{"sda", "sdb"}));
  ASSERT_TRUE(Write(*knob, "sdb", "2").ok());
  EXPECT_EQ(State(), "2|sdb");
  EXPECT_EQ(Write(*knob, "sdc", "2").code(), Status::Code::kNotFound);
}

TEST_F(KnobScriptTest, DevicesScriptFailuresAndEmptyListsAreReported) {
  ScriptKnobSpec spec = Spec();
  spec.devices_script = "echo oops >&2; exit 2";
  std::unique_ptr<SystemKnob> knob;
  Status s = Await(MakeScriptKnob(spec, &knob));
  EXPECT_EQ(s.message(), "knob 'x': devices_script exited with status 2: oops");
  spec.devices_script = "true";
  s = Await(MakeScriptKnob(spec, &knob));
  EXPECT_FALSE(s.ok());
}

TEST_F(KnobScriptTest, PreSetScriptRunsBeforeEachSet) {
  ScriptKnobSpec spec = Spec();
  std::string log = dir_.path() + "/log";
  spec.pre_set_script = "echo \"pre $KNOB_VAL\" >> " + log;
  spec.set_script = "echo \"set $KNOB_VAL\" >> " + log;
  auto knob = Make(spec);
  ASSERT_TRUE(Write(*knob, "", "1").ok());
  ASSERT_TRUE(Write(*knob, "", "2").ok());
  EXPECT_EQ(test::ReadFile(log), "pre 1\nset 1\npre 2\nset 2\n");
  spec.pre_set_script = "exit 1";
  knob = Make(spec);
  EXPECT_FALSE(Write(*knob, "", "1").ok());
  EXPECT_EQ(test::ReadFile(log), "pre 1\nset 1\npre 2\nset 2\n");  // set did not run
}

TEST_F(KnobScriptTest, RecipeKeepsTheDeviceAndAcceptsTheOriginalItRead) {
  dir_.Write("state", "original-7");
  ScriptKnobSpec spec = Spec();
  spec.devices_script = "echo nvme0";
  auto knob = Make(spec);
  EXPECT_EQ(ReadOrDie(*knob, "nvme0"), "original-7");
  json recipe = json::parse(knob->Recipe("nvme0").dump());
  EXPECT_EQ(recipe["device"], "nvme0");
  ASSERT_TRUE(Write(*knob, "nvme0", "1").ok());
  std::unique_ptr<SystemKnob> restorer;
  ASSERT_TRUE(KnobFromRecipe(recipe, nullptr, &restorer).ok());
  EXPECT_EQ(restorer->Instances(), std::vector<std::string>{""});
  EXPECT_EQ(Write(*restorer, "", "original-8").code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(Write(*restorer, "", "original-7").ok());
  EXPECT_EQ(State(), "original-7|nvme0");
}

TEST_F(KnobScriptTest, IncompleteSpecsAreRefused) {
  std::unique_ptr<SystemKnob> knob;
  ScriptKnobSpec spec = Spec();
  spec.set_script.clear();
  EXPECT_EQ(Await(MakeScriptKnob(spec, &knob)).code(), Status::Code::kInvalidArgument);
  spec = Spec();
  spec.options.clear();
  EXPECT_EQ(Await(MakeScriptKnob(spec, &knob)).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace hone
