// Machine: paths resolved under a root, writes confined to /sys and /proc, MSRs as
// 8 bytes at offset = address of a (sparse) device file, and the fault injector.
#include "daemon/knobs/machine.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/knobs/other_tuners.h"
#include "tests/fake_machine.h"
#include "tests/faulty_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using test::FakeMachineOptions;
using test::FakeMachineTree;
using test::ReadFile;
using test::TempDir;

class MachineTest : public ::testing::Test {
 protected:
  TempDir dir_;
  FakeMachineTree tree_{dir_.path()};
  std::unique_ptr<Machine> machine_ = MakeMachine(dir_.path());
};

TEST_F(MachineTest, ReadsMachinePathsUnderTheRoot) {
  std::string text;
  ASSERT_TRUE(machine_->ReadFile("/proc/sys/vm/swappiness", &text).ok());
  EXPECT_EQ(text, "60\n");
  EXPECT_TRUE(machine_->Exists("/sys/kernel/mm/transparent_hugepage/enabled"));
  EXPECT_FALSE(machine_->Exists("/proc/sys/vm/no_such_sysctl"));
  EXPECT_EQ(machine_->root(), dir_.path());
}

TEST_F(MachineTest, TheRealMachineIsRootedAtSlash) {
  EXPECT_EQ(MakeMachine("")->root(), "/");
  EXPECT_EQ(MakeMachine("/")->root(), "/");
  EXPECT_EQ(MakeMachine(dir_.path() + "/")->root(), dir_.path());
}

TEST_F(MachineTest, WritesReplaceTheWholeFile) {
  ASSERT_TRUE(machine_->WriteFile("/proc/sys/vm/swappiness", "10\n").ok());
  EXPECT_EQ(tree_.Read("proc/sys/vm/swappiness"), "10\n");
}

TEST_F(MachineTest, MissingFilesAreNotFoundAndNeverCreated) {
  std::string text;
  Status s = machine_->ReadFile("/proc/sys/vm/nothing", &text);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("/proc/sys/vm/nothing"), std::string::npos);
  s = machine_->WriteFile("/proc/sys/vm/nothing", "1");
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/proc/sys/vm/nothing"));
}

TEST_F(MachineTest, RefusesPathsWithDotDot) {
  std::string text;
  EXPECT_EQ(machine_->ReadFile("/proc/../etc/passwd", &text).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(machine_->WriteFile("/sys/../proc/sys/vm/swappiness", "1").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(machine_->WriteFile("/proc/sys/vm/..", "1").code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(machine_->Exists("/proc/.."));
  EXPECT_EQ(tree_.Read("proc/sys/vm/swappiness"), "60\n");
}

TEST_F(MachineTest, RefusesRelativePaths) {
  std::string text;
  EXPECT_EQ(machine_->ReadFile("proc/cpuinfo", &text).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(MachineTest, RefusesToWriteOutsideSysAndProc) {
  tree_.Write("etc/passwd", "root:x:0:0\n");
  Status s = machine_->WriteFile("/etc/passwd", "pwned\n");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("not under /sys or /proc"), std::string::npos);
  EXPECT_EQ(tree_.Read("etc/passwd"), "root:x:0:0\n");
}

TEST_F(MachineTest, RefusesASymlinkThatLeadsOutOfSysAndProc) {
  tree_.Write("etc/shadow", "secret\n");
  ASSERT_EQ(symlink((dir_.path() + "/etc/shadow").c_str(),
                    (dir_.path() + "/sys/kernel/mm/evil").c_str()),
            0);
  EXPECT_EQ(machine_->WriteFile("/sys/kernel/mm/evil", "pwned\n").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(tree_.Read("etc/shadow"), "secret\n");
}

TEST_F(MachineTest, FollowsSymlinksThatStayInSys) {
  // Like /sys/devices/system/cpu/cpu0/cpufreq -> ../cpufreq/policy0.
  tree_.Write("sys/devices/system/cpu/cpufreq/policy9/scaling_governor", "powersave\n");
  ASSERT_EQ(symlink("../cpufreq/policy9",
                    (dir_.path() + "/sys/devices/system/cpu/cpu0/link").c_str()),
            0);
  ASSERT_TRUE(
      machine_->WriteFile("/sys/devices/system/cpu/cpu0/link/scaling_governor", "x\n")
          .ok());
  EXPECT_EQ(tree_.Read("sys/devices/system/cpu/cpufreq/policy9/scaling_governor"), "x\n");
}

TEST_F(MachineTest, ListsDirectoriesSorted) {
  std::vector<std::string> names;
  ASSERT_TRUE(machine_->ListDir("/sys/kernel/mm/transparent_hugepage", &names).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"defrag", "enabled"}));
  EXPECT_EQ(machine_->ListDir("/sys/nothing", &names).code(), Status::Code::kNotFound);
}

TEST_F(MachineTest, MsrRoundTripOnTheSparseDeviceFile) {
  uint64_t value = 0;
  ASSERT_TRUE(machine_->ReadMsr(1, 0x620, &value).ok());
  EXPECT_EQ(value, 0x0818u);
  ASSERT_TRUE(machine_->WriteMsr(1, 0x1a4, 0xdeadbeef00000005ull).ok());
  ASSERT_TRUE(machine_->ReadMsr(1, 0x1a4, &value).ok());
  EXPECT_EQ(value, 0xdeadbeef00000005ull);
  EXPECT_EQ(tree_.ReadMsr(1, 0x1a4), 0xdeadbeef00000005ull);
  EXPECT_EQ(tree_.ReadMsr(0, 0x1a4), 0u);  // other cpus untouched
  ASSERT_TRUE(machine_->ReadMsr(0, 0xc0000108, &value).ok());
  EXPECT_EQ(value, 0u);
}

TEST_F(MachineTest, MissingMsrDeviceIsUnavailableWithAHint) {
  uint64_t value = 0;
  Status s = machine_->ReadMsr(7, 0x1a4, &value);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(), "no /dev/cpu/7/msr: load the msr module (modprobe msr)");
  EXPECT_EQ(machine_->WriteMsr(7, 0x1a4, 1).code(), Status::Code::kUnavailable);
}

TEST_F(MachineTest, MsrErrorsNameTheDeviceAndTheAddress) {
  uint64_t value = 0;
  // Past the end of the file: the read comes back short, as an unknown MSR fails.
  Status s = machine_->ReadMsr(0, 0xd0000000u, &value);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("cannot read /dev/cpu/0/msr at 0xd0000000"),
            std::string::npos)
      << s.message();
}

TEST_F(MachineTest, AnMsrDeviceThatCannotBeOpenedReportsTheErrno) {
  tree_.Remove("dev/cpu/0/msr");
  std::filesystem::create_directory(dir_.path() + "/dev/cpu/0/msr");  // even root fails
  Status s = machine_->WriteMsr(0, 0x1a4, 1);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "cannot open /dev/cpu/0/msr: Is a directory");
}

TEST(MachineFaultTest, FailsExactlyTheNthWrite) {
  TempDir dir;
  FakeMachineTree tree(dir.path());
  std::unique_ptr<Machine> base = MakeMachine(dir.path());
  FaultInjectingMachine machine(base.get(), 3);
  EXPECT_TRUE(machine.WriteFile("/proc/sys/vm/swappiness", "1\n").ok());
  EXPECT_TRUE(machine.WriteMsr(0, 0x1a4, 1).ok());
  Status third = machine.WriteFile("/proc/sys/vm/dirty_ratio", "5\n");
  EXPECT_EQ(third.code(), Status::Code::kIOError);
  EXPECT_NE(third.message().find("injected fault"), std::string::npos);
  EXPECT_TRUE(machine.WriteMsr(1, 0x1a4, 1).ok());
  EXPECT_EQ(machine.writes(), 4);
  EXPECT_EQ(tree.Read("proc/sys/vm/swappiness"), "1\n");
  EXPECT_EQ(tree.Read("proc/sys/vm/dirty_ratio"),
            "20\n");  // the failed write did nothing
  EXPECT_EQ(tree.ReadMsr(1, 0x1a4), 1u);
}

TEST(MachineFaultTest, CountsMsrWritesToo) {
  TempDir dir;
  FakeMachineTree tree(dir.path());
  std::unique_ptr<Machine> base = MakeMachine(dir.path());
  FaultInjectingMachine machine(base.get(), 1);
  EXPECT_EQ(machine.WriteMsr(0, 0x1a4, 1).code(), Status::Code::kIOError);
  EXPECT_EQ(tree.ReadMsr(0, 0x1a4), 0u);
  uint64_t value = 1;
  EXPECT_TRUE(machine.ReadMsr(0, 0x1a4, &value).ok());  // reads are not counted
  EXPECT_EQ(machine.writes(), 1);
}

TEST(MachineCpuListTest, ParsesTheKernelFormat) {
  std::vector<int> cpus;
  ASSERT_TRUE(ParseCpuList("0-3,8,10-11\n", &cpus).ok());
  EXPECT_EQ(cpus, (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  ASSERT_TRUE(ParseCpuList("0", &cpus).ok());
  EXPECT_EQ(cpus, (std::vector<int>{0}));
  ASSERT_TRUE(ParseCpuList("\n", &cpus).ok());
  EXPECT_TRUE(cpus.empty());
}

TEST(MachineCpuListTest, RefusesGarbage) {
  std::vector<int> cpus;
  for (const char* bad : {"a", "3-1", "1-", "-1", "1,,2", "1-2-3", "0x1"})
    EXPECT_EQ(ParseCpuList(bad, &cpus).code(), Status::Code::kInvalidArgument) << bad;
}

TEST(MachineFakeTreeTest, SnapshotHoldsFilesAndNonZeroMsrWords) {
  TempDir dir;
  FakeMachineOptions options;
  options.cpus = 2;
  FakeMachineTree tree(dir.path(), options);
  auto snapshot = tree.Snapshot();
  EXPECT_EQ(snapshot.at("proc/sys/vm/swappiness"), "60\n");
  EXPECT_EQ(snapshot.at("sys/kernel/mm/transparent_hugepage/enabled"), "madvise\n");
  EXPECT_EQ(snapshot.at("sys/devices/system/cpu/online"), "0-1\n");
  ASSERT_TRUE(snapshot.count("dev/cpu/1/msr@0x620"));
  EXPECT_EQ(snapshot.count("dev/cpu/1/msr@0x1a4"), 0u);  // zero
  tree.WriteMsr(1, 0x1a4, 2);
  auto changed = tree.Snapshot();
  EXPECT_NE(changed, snapshot);
  EXPECT_EQ(changed.count("dev/cpu/1/msr@0x1a4"), 1u);
  tree.WriteMsr(1, 0x1a4, 0);
  EXPECT_EQ(tree.Snapshot(), snapshot);
}

TEST(MachineFakeTreeTest, SnapshotSeesAStrayMsrWrite) {
  TempDir dir;
  FakeMachineTree tree(dir.path());
  auto snapshot = tree.Snapshot();
  tree.WriteMsr(2, 0x1a0, 0x100);  // overlaps nothing known; first non-zero byte at 0x1a1
  auto changed = tree.Snapshot();
  EXPECT_EQ(changed.count("dev/cpu/2/msr@0x1a1"), 1u);
  tree.WriteMsr(2, 0x1a0, 0);
  EXPECT_EQ(tree.Snapshot(), snapshot);
}

}  // namespace
// Issue 14: under --root, a symlink in the fake tree led honed's reads to the
// host's own files. Now every link resolves inside the root.
TEST_F(MachineTest, Issue14SymlinksInTheTreeNeverLeadOutOfTheRoot) {
  TempDir outside;
  std::string secret = outside.Write("secret", "host file\n");
  std::string sys = dir_.path() + "/sys/kernel";
  ASSERT_EQ(symlink(secret.c_str(), (sys + "/absolute").c_str()), 0);
  ASSERT_EQ(symlink(("../../../../../../../../.." + secret).c_str(),
                    (sys + "/relative").c_str()),
            0);
  std::string contents;
  for (const char* name : {"absolute", "relative"}) {
    Status s = machine_->ReadFile(std::string("/sys/kernel/") + name, &contents);
    EXPECT_FALSE(s.ok()) << name << " read the host's file: " << contents;
    EXPECT_NE(contents, "host file\n");
    EXPECT_FALSE(machine_->WriteFile(std::string("/sys/kernel/") + name, "x").ok());
  }
  EXPECT_EQ(ReadFile(secret), "host file\n");
  // A link that stays inside the tree still works, as /sys's own links do.
  ASSERT_EQ(symlink("/proc/sys/vm/swappiness", (sys + "/inside").c_str()), 0);
  ASSERT_TRUE(machine_->ReadFile("/sys/kernel/inside", &contents).ok());
  EXPECT_EQ(contents, ReadFile(dir_.path() + "/proc/sys/vm/swappiness"));
}

// ---- Other tuners -------------------------------------------------------------

TEST_F(MachineTest, OtherTunersAreFoundByTheirProcessesNamesOnceEachInTheListsOrder) {
  tree_.Write("proc/1/comm", "systemd\n");
  tree_.Write("proc/4242/comm", "power-profiles-\n");
  tree_.Write("proc/812/comm", "tuned\n");
  tree_.Write("proc/813/comm", "tuned\n");   // a second thread group: once
  tree_.Write("proc/77/comm", "tunedx\n");   // whole names only
  tree_.Write("proc/self/comm", "tuned\n");  // not a pid
  tree_.Write("proc/99/comm", std::string("tuned\0evil", 10));
  std::vector<OtherTuner> tuners = FindOtherTuners(*machine_);
  ASSERT_EQ(tuners.size(), 2u);
  EXPECT_EQ(tuners[0].name, "tuned");
  EXPECT_EQ(tuners[0].pid, "812");
  EXPECT_EQ(tuners[1].name, "power-profiles-daemon");
  EXPECT_EQ(tuners[1].pid, "4242");
  std::string warning = OtherTunerWarning(tuners[0]);
  EXPECT_NE(warning.find("tuned (pid 812) is running: it manages sysctls"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("`systemctl stop tuned`"), std::string::npos) << warning;
}

TEST_F(MachineTest, NoOtherTunerWhereNoneRunsOrProcCannotBeRead) {
  tree_.Write("proc/1/comm", "systemd\n");
  EXPECT_TRUE(FindOtherTuners(*machine_).empty());
  tree_.Remove("proc");
  EXPECT_TRUE(FindOtherTuners(*machine_).empty());
}

}  // namespace hone
