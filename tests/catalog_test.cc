// The built-in catalog, probed on fake machines (an Intel Xeon, AMD CPUs, a machine
// without the msr driver, old and new kernels) and, read-only, on this machine.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "daemon/knobs/catalog.h"
#include "daemon/knobs/knobs.h"
#include "tests/await.h"
#include "tests/fake_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using test::FakeMachineOptions;
using test::FakeMachineTree;
using test::TempDir;

using test::Await;

const CatalogEntry& Find(const std::vector<CatalogEntry>& catalog,
                         const std::string& name) {
  for (const CatalogEntry& entry : catalog)
    if (entry.name == name) return entry;
  ADD_FAILURE() << "no catalog entry " << name;
  static const CatalogEntry kNone;
  return kNone;
}

std::vector<std::string> Cpus(int n) {
  std::vector<std::string> cpus;
  for (int i = 0; i < n; ++i) cpus.push_back("cpu" + std::to_string(i));
  return cpus;
}

const char* const kIntelPrefetchers[] = {"prefetch.l2_stream", "prefetch.l2_adjacent",
                                         "prefetch.dcu_stream", "prefetch.dcu_ip"};
const char* const kAmdOnlyPrefetchers[] = {"prefetch.l1_stream", "prefetch.l1_stride",
                                           "prefetch.l1_region", "prefetch.l2_updown"};

class CatalogTest : public ::testing::Test {
 protected:
  std::vector<CatalogEntry> Build(FakeMachineOptions options = {}) {
    tree_ = std::make_unique<FakeMachineTree>(dir_.path(), options);
    machine_ = MakeMachine(dir_.path());
    return BuildCatalog(machine_.get());
  }
  std::vector<CatalogEntry> Rebuild() { return BuildCatalog(machine_.get()); }

  TempDir dir_;
  std::unique_ptr<FakeMachineTree> tree_;
  std::unique_ptr<Machine> machine_;
};

TEST_F(CatalogTest, ListsEveryBuiltInKnobInAStableOrder) {
  auto catalog = Build();
  std::vector<std::string> names;
  for (const CatalogEntry& entry : catalog) names.push_back(entry.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "prefetch.l2_stream",
                       "prefetch.l2_adjacent",
                       "prefetch.dcu_stream",
                       "prefetch.dcu_ip",
                       "prefetch.l1_stream",
                       "prefetch.l1_stride",
                       "prefetch.l1_region",
                       "prefetch.l2_updown",
                       "uncore.min_freq_khz",
                       "uncore.max_freq_khz",
                       "sched.wakeup_granularity_ns",
                       "sched.min_granularity_ns",
                       "sched.base_slice_ns",
                       "sched.migration_cost_ns",
                       "sched.latency_ns",
                       "sched.nr_migrate",
                       "vm.swappiness",
                       "vm.dirty_ratio",
                       "vm.dirty_background_ratio",
                       "kernel.numa_balancing",
                       "kernel.sched_autogroup_enabled",
                       "vm.zone_reclaim_mode",
                       "kernel.timer_migration",
                       "net.core.somaxconn",
                       "net.ipv4.tcp_slow_start_after_idle",
                       "thp.enabled",
                       "thp.defrag",
                       "cpufreq.governor",
                       "cpufreq.energy_performance_preference",
                       "cpufreq.boost",
                   }));
}

TEST_F(CatalogTest, EveryEntryIsDescribedAndEitherHasAKnobOrAReason) {
  auto catalog = Build();
  for (const CatalogEntry& entry : catalog) {
    EXPECT_FALSE(entry.description.empty()) << entry.name;
    EXPECT_FALSE(entry.location.empty()) << entry.name;
    EXPECT_FALSE(entry.risk.empty()) << entry.name;
    EXPECT_FALSE(entry.backend.empty()) << entry.name;
    EXPECT_EQ(entry.available, entry.knob != nullptr) << entry.name;
    if (entry.available) {
      EXPECT_EQ(entry.knob->name(), entry.name);
      EXPECT_EQ(entry.knob->backend(), entry.backend) << entry.name;
      EXPECT_FALSE(entry.knob->Domain().empty()) << entry.name;
    } else {
      EXPECT_FALSE(entry.reason.empty()) << entry.name;
    }
  }
}

TEST_F(CatalogTest, IntelXeonHasItsFourPrefetchersPerCpu) {
  auto catalog = Build();
  for (const char* name : kIntelPrefetchers) {
    const CatalogEntry& entry = Find(catalog, name);
    ASSERT_TRUE(entry.available) << name << ": " << entry.reason;
    EXPECT_EQ(entry.backend, "msr");
    EXPECT_EQ(entry.knob->Instances(), Cpus(4));
    EXPECT_EQ(entry.knob->Domain(), (std::vector<json>{"on", "off"}));
    EXPECT_EQ(entry.location.rfind("MSR 0x1a4 bit ", 0), 0u) << entry.location;
  }
  for (const char* name : kAmdOnlyPrefetchers) {
    const CatalogEntry& entry = Find(catalog, name);
    EXPECT_FALSE(entry.available);
    EXPECT_EQ(entry.reason, "AMD only; this CPU is GenuineIntel family 6 model 0x55");
  }
}

TEST_F(CatalogTest, TurningOffTheL2AdjacentPrefetcherSetsBitOne) {
  auto catalog = Build();
  SystemKnob& knob = *Find(catalog, "prefetch.l2_adjacent").knob;
  ASSERT_TRUE(Await(knob.Write("cpu3", "off")).ok());
  EXPECT_EQ(tree_->ReadMsr(3, 0x1a4), 0x2u);
  EXPECT_EQ(tree_->ReadMsr(0, 0x1a4), 0x0u);
}

TEST_F(CatalogTest, IntelModelsOutsideTheDisclosureAreNotDocumented) {
  FakeMachineOptions options;
  options.model = 0x57;  // Xeon Phi: MSR 0x1a4 has another layout
  auto catalog = Build(options);
  const CatalogEntry& entry = Find(catalog, "prefetch.l2_stream");
  EXPECT_FALSE(entry.available);
  EXPECT_EQ(entry.reason, "not documented for GenuineIntel family 6 model 0x57");
}

TEST_F(CatalogTest, AmdZen2HasNoDocumentedPrefetchControl) {
  FakeMachineOptions options;
  options.vendor = "AuthenticAMD";
  options.family = 0x17;
  options.model = 0x31;
  options.uncore_sysfs = false;
  auto catalog = Build(options);
  for (const char* name :
       {"prefetch.l2_stream", "prefetch.l1_stream", "prefetch.l2_updown"}) {
    const CatalogEntry& entry = Find(catalog, name);
    EXPECT_FALSE(entry.available) << name;
    EXPECT_EQ(entry.reason, "not documented for AuthenticAMD family 0x17 model 0x31");
  }
  EXPECT_EQ(Find(catalog, "prefetch.dcu_ip").reason,
            "Intel only; this CPU is AuthenticAMD family 0x17 model 0x31");
  const CatalogEntry& uncore = Find(catalog, "uncore.max_freq_khz");
  EXPECT_FALSE(uncore.available);
  EXPECT_NE(uncore.reason.find("Intel only"), std::string::npos) << uncore.reason;
}

TEST_F(CatalogTest, AmdZen4PrefetchersLiveInPrefetchControl) {
  FakeMachineOptions options;
  options.vendor = "AuthenticAMD";
  options.family = 0x19;
  options.model = 0x11;
  auto catalog = Build(options);
  for (const char* name : kAmdOnlyPrefetchers) {
    const CatalogEntry& entry = Find(catalog, name);
    ASSERT_TRUE(entry.available) << name << ": " << entry.reason;
  }
  ASSERT_TRUE(Find(catalog, "prefetch.l2_stream").available);
  EXPECT_FALSE(Find(catalog, "prefetch.l2_adjacent").available);
  EXPECT_TRUE(Await(Find(catalog, "prefetch.l2_updown").knob->Write("cpu1", "off")).ok());
  EXPECT_TRUE(Await(Find(catalog, "prefetch.l2_stream").knob->Write("cpu1", "off")).ok());
  EXPECT_EQ(tree_->ReadMsr(1, 0xc0000108), 0x28u);  // bits 5 and 3
  EXPECT_EQ(tree_->ReadMsr(1, 0x1a4), 0u);
}

TEST_F(CatalogTest, WithoutTheMsrDriverMsrKnobsSayToLoadIt) {
  FakeMachineOptions options;
  options.msr = false;
  options.uncore_sysfs = false;
  auto catalog = Build(options);
  for (const char* name : kIntelPrefetchers) {
    const CatalogEntry& entry = Find(catalog, name);
    EXPECT_FALSE(entry.available);
    EXPECT_EQ(entry.reason, "the msr driver is not loaded: modprobe msr");
  }
  const CatalogEntry& uncore = Find(catalog, "uncore.min_freq_khz");
  EXPECT_FALSE(uncore.available);
  EXPECT_NE(uncore.reason.find("modprobe msr"), std::string::npos) << uncore.reason;
  EXPECT_NE(uncore.reason.find("intel_uncore_frequency"), std::string::npos)
      << uncore.reason;
}

TEST_F(CatalogTest, UncoreLimitsComeFromSysfsPerPackageAndDie) {
  auto catalog = Build();
  for (const char* name : {"uncore.min_freq_khz", "uncore.max_freq_khz"}) {
    const CatalogEntry& entry = Find(catalog, name);
    ASSERT_TRUE(entry.available) << name << ": " << entry.reason;
    EXPECT_EQ(entry.backend, "sysfs");
    EXPECT_EQ(entry.knob->Instances(), std::vector<std::string>{"package_00_die_00"});
    std::vector<json> domain = entry.knob->Domain();
    ASSERT_EQ(domain.size(), 17u);
    EXPECT_EQ(domain.front(), 800000);
    EXPECT_EQ(domain[1], 900000);
    EXPECT_EQ(domain.back(), 2400000);
  }
  SystemKnob& max = *Find(catalog, "uncore.max_freq_khz").knob;
  std::string value;
  ASSERT_TRUE(Await(max.Read("package_00_die_00", &value)).ok());
  EXPECT_EQ(value, "2400000");
  ASSERT_TRUE(Await(max.Write("package_00_die_00", "2000000")).ok());
  EXPECT_EQ(tree_->Read("sys/devices/system/cpu/intel_uncore_frequency/package_00_die_00/"
                        "max_freq_khz"),
            "2000000\n");
}

TEST_F(CatalogTest, UncoreFallsBackToMsr0x620OnTheFirstCpuOfEachPackage) {
  FakeMachineOptions options;
  options.uncore_sysfs = false;
  auto catalog = Build(options);
  const CatalogEntry& max = Find(catalog, "uncore.max_freq_khz");
  ASSERT_TRUE(max.available) << max.reason;
  EXPECT_EQ(max.backend, "msr");
  EXPECT_EQ(max.knob->Instances(), std::vector<std::string>{"package_00"});
  std::vector<json> domain = max.knob->Domain();
  ASSERT_EQ(domain.size(), 17u);
  EXPECT_EQ(domain.front(), 800000);
  EXPECT_EQ(domain.back(), 2400000);
  ASSERT_TRUE(Await(max.knob->Write("package_00", "2000000")).ok());
  EXPECT_EQ(tree_->ReadMsr(0, 0x620), 0x0814u);  // max ratio 20, min ratio 8 kept
  const CatalogEntry& min = Find(catalog, "uncore.min_freq_khz");
  ASSERT_TRUE(min.available) << min.reason;
  ASSERT_TRUE(Await(min.knob->Write("package_00", "1000000")).ok());
  EXPECT_EQ(tree_->ReadMsr(0, 0x620), 0x0a14u);
}

TEST_F(CatalogTest, UncoreMsrHasOneInstancePerPackage) {
  FakeMachineOptions options;
  options.uncore_sysfs = false;
  Build(options);
  for (int cpu : {2, 3})
    tree_->Write("sys/devices/system/cpu/cpu" + std::to_string(cpu) +
                     "/topology/physical_package_id",
                 "1\n");
  auto catalog = Rebuild();
  const CatalogEntry& min = Find(catalog, "uncore.min_freq_khz");
  ASSERT_TRUE(min.available) << min.reason;
  EXPECT_EQ(min.knob->Instances(),
            (std::vector<std::string>{"package_00", "package_01"}));
  ASSERT_TRUE(Await(min.knob->Write("package_01", "1200000")).ok());
  EXPECT_EQ(tree_->ReadMsr(2, 0x620), 0x0c18u);
  EXPECT_EQ(tree_->ReadMsr(0, 0x620), 0x0818u);
}

TEST_F(CatalogTest, SchedulerKnobsAreFoundInDebugfsOnNewKernels) {
  auto catalog = Build();
  const CatalogEntry& wakeup = Find(catalog, "sched.wakeup_granularity_ns");
  ASSERT_TRUE(wakeup.available) << wakeup.reason;
  EXPECT_EQ(wakeup.backend, "debugfs");
  EXPECT_EQ(wakeup.location, "/sys/kernel/debug/sched/wakeup_granularity_ns");
  std::vector<json> domain = wakeup.knob->Domain();
  EXPECT_EQ(domain.front(), 0);
  EXPECT_EQ(domain[1], 1000000);
  EXPECT_EQ(domain.back(), 20000000);
  const CatalogEntry& nr = Find(catalog, "sched.nr_migrate");
  ASSERT_TRUE(nr.available);
  EXPECT_EQ(nr.knob->Domain(), (std::vector<json>{4, 8, 16, 32, 64, 128}));
  ASSERT_TRUE(Await(nr.knob->Write("", "64")).ok());
  EXPECT_EQ(tree_->Read("sys/kernel/debug/sched/nr_migrate"), "64\n");
  const CatalogEntry& slice = Find(catalog, "sched.base_slice_ns");  // not in the tree
  EXPECT_FALSE(slice.available);
  EXPECT_NE(slice.reason.find("/proc/sys/kernel/sched_base_slice_ns"), std::string::npos)
      << slice.reason;
  EXPECT_NE(slice.reason.find("/sys/kernel/debug/sched/base_slice_ns"), std::string::npos)
      << slice.reason;
}

TEST_F(CatalogTest, SchedulerKnobsAreFoundInProcfsOnOldKernels) {
  FakeMachineOptions options;
  options.sched_procfs = true;
  options.sched_debugfs = false;
  auto catalog = Build(options);
  const CatalogEntry& wakeup = Find(catalog, "sched.wakeup_granularity_ns");
  ASSERT_TRUE(wakeup.available) << wakeup.reason;
  EXPECT_EQ(wakeup.backend, "sysctl");
  EXPECT_EQ(wakeup.location, "/proc/sys/kernel/sched_wakeup_granularity_ns");
  ASSERT_TRUE(Await(wakeup.knob->Write("", "4000000")).ok());
  EXPECT_EQ(tree_->Read("proc/sys/kernel/sched_wakeup_granularity_ns"), "4000000\n");
}

TEST_F(CatalogTest, ProcfsWinsWhenBothExist) {
  FakeMachineOptions options;
  options.sched_procfs = true;
  auto catalog = Build(options);
  EXPECT_EQ(Find(catalog, "sched.migration_cost_ns").backend, "sysctl");
}

TEST_F(CatalogTest, SysctlsAreAvailableWhereTheirFileIs) {
  Build();
  tree_->Remove("proc/sys/vm/zone_reclaim_mode");
  auto catalog = Rebuild();
  const CatalogEntry& swappiness = Find(catalog, "vm.swappiness");
  ASSERT_TRUE(swappiness.available);
  EXPECT_EQ(swappiness.backend, "sysctl");
  EXPECT_EQ(swappiness.knob->Domain().size(), 11u);
  EXPECT_EQ(Find(catalog, "kernel.numa_balancing").knob->Domain(),
            (std::vector<json>{0, 1}));
  const CatalogEntry& zone = Find(catalog, "vm.zone_reclaim_mode");
  EXPECT_FALSE(zone.available);
  EXPECT_NE(zone.reason.find("/proc/sys/vm/zone_reclaim_mode"), std::string::npos);
}

TEST_F(CatalogTest, TransparentHugePagesTakeTheirValuesFromTheBrackets) {
  auto catalog = Build();
  const CatalogEntry& enabled = Find(catalog, "thp.enabled");
  ASSERT_TRUE(enabled.available) << enabled.reason;
  EXPECT_EQ(enabled.knob->Domain(), (std::vector<json>{"always", "madvise", "never"}));
  const CatalogEntry& defrag = Find(catalog, "thp.defrag");
  ASSERT_TRUE(defrag.available) << defrag.reason;
  EXPECT_EQ(defrag.knob->Domain(),
            (std::vector<json>{"always", "defer", "defer+madvise", "madvise", "never"}));
  std::string value;
  ASSERT_TRUE(Await(defrag.knob->Read("", &value)).ok());
  EXPECT_EQ(value, "madvise");
}

TEST_F(CatalogTest, CpufreqKnobsCoverEveryOnlineCpu) {
  auto catalog = Build();
  const CatalogEntry& governor = Find(catalog, "cpufreq.governor");
  ASSERT_TRUE(governor.available) << governor.reason;
  EXPECT_EQ(governor.knob->Instances(), Cpus(4));
  EXPECT_EQ(governor.knob->Domain(), (std::vector<json>{"performance", "powersave"}));
  const CatalogEntry& epp = Find(catalog, "cpufreq.energy_performance_preference");
  ASSERT_TRUE(epp.available) << epp.reason;
  EXPECT_EQ(epp.knob->Domain().size(), 5u);
  const CatalogEntry& boost = Find(catalog, "cpufreq.boost");
  ASSERT_TRUE(boost.available) << boost.reason;
  EXPECT_EQ(boost.knob->Domain(), (std::vector<json>{0, 1}));
}

TEST_F(CatalogTest, WithoutCpufreqItsKnobsAreUnavailable) {
  FakeMachineOptions options;
  options.cpufreq = false;
  options.thp = false;
  auto catalog = Build(options);
  for (const char* name : {"cpufreq.governor", "cpufreq.energy_performance_preference",
                           "cpufreq.boost", "thp.enabled", "thp.defrag"}) {
    const CatalogEntry& entry = Find(catalog, name);
    EXPECT_FALSE(entry.available) << name;
    EXPECT_FALSE(entry.reason.empty()) << name;
  }
}

TEST_F(CatalogTest, BuildingTheCatalogWritesNothing) {
  Build();
  auto before = tree_->Snapshot();
  Rebuild();
  EXPECT_EQ(tree_->Snapshot(), before);
}

// Read-only: this test never writes to the machine it runs on.
TEST(CatalogRealMachineTest, ProbesThisMachineAndExplainsWhatIsMissing) {
  std::unique_ptr<Machine> machine = MakeMachine("/");
  std::vector<CatalogEntry> catalog = BuildCatalog(machine.get());
  ASSERT_EQ(catalog.size(), 30u);
  for (const CatalogEntry& entry : catalog)
    EXPECT_TRUE(entry.available || !entry.reason.empty()) << entry.name;
  const CatalogEntry& swappiness = Find(catalog, "vm.swappiness");
  ASSERT_TRUE(swappiness.available) << swappiness.reason;
  std::string value;
  ASSERT_TRUE(Await(swappiness.knob->Read("", &value)).ok());
  EXPECT_FALSE(value.empty());
  if (!machine->Exists("/dev/cpu/0/msr")) {
    for (const char* name : kIntelPrefetchers) {
      const CatalogEntry& entry = Find(catalog, name);
      EXPECT_FALSE(entry.available) << name;
      EXPECT_FALSE(entry.reason.empty()) << name;
    }
    if (!machine->Exists("/sys/devices/system/cpu/intel_uncore_frequency")) {
      EXPECT_FALSE(Find(catalog, "uncore.min_freq_khz").available);
      EXPECT_FALSE(Find(catalog, "uncore.max_freq_khz").reason.empty());
    }
  }
}

}  // namespace
}  // namespace hone
