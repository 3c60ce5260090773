#include "daemon/knobs/catalog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "common/config.h"
#include "daemon/knobs/catalog_internal.h"
#include "daemon/knobs/knobs.h"

namespace hone {
namespace catalog_internal {

namespace {

void ReadCpuInfo(Probe* probe) {
  std::string text;
  if (!probe->machine->ReadFile("/proc/cpuinfo", &text).ok()) return;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (Trim(line).empty() && !probe->vendor.empty()) break;  // end of the first cpu
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (key == "vendor_id") probe->vendor = value;
    if (key == "cpu family") probe->family = std::atoi(value.c_str());
    if (key == "model") probe->model = std::atoi(value.c_str());
  }
}

}  // namespace

Probe ProbeMachine(Machine* machine) {
  Probe probe;
  probe.machine = machine;
  ReadCpuInfo(&probe);
  std::string online;
  Status s = machine->ReadFile(std::string(kCpuDir) + "/online", &online);
  if (s.ok()) s = ParseCpuList(online, &probe.cpus);
  if (s.ok() && probe.cpus.empty()) s = Status::NotFound("no online cpus");
  if (!s.ok()) {
    probe.cpus.clear();
    probe.msr_missing = "cannot tell the online cpus: " + s.message();
    return probe;
  }
  int missing = 0;
  for (int cpu : probe.cpus)
    missing += !machine->Exists("/dev/cpu/" + std::to_string(cpu) + "/msr");
  if (missing == static_cast<int>(probe.cpus.size()))
    probe.msr_missing = "the msr driver is not loaded: modprobe msr";
  else if (missing > 0)
    probe.msr_missing = "/dev/cpu/N/msr is missing for some online cpus";
  return probe;
}

CatalogEntry Entry(std::string name, std::string backend, std::string description,
                   std::string location, std::string risk) {
  CatalogEntry entry;
  entry.name = std::move(name);
  entry.backend = std::move(backend);
  entry.description = std::move(description);
  entry.location = std::move(location);
  entry.risk = std::move(risk);
  return entry;
}

// Makes the entry available with `knob` when `s` is OK; else records why not.
void Settle(CatalogEntry* entry, Status s, std::unique_ptr<SystemKnob> knob) {
  if (s.ok() && knob) {
    entry->available = true;
    entry->location = knob->location();
    entry->knob = std::move(knob);
  } else {
    entry->available = false;
    entry->reason = s.ok() ? "not available" : s.message();
  }
}

std::vector<std::pair<std::string, int>> PerCpu(const Probe& probe) {
  std::vector<std::pair<std::string, int>> cpus;
  for (int cpu : probe.cpus) cpus.emplace_back("cpu" + std::to_string(cpu), cpu);
  return cpus;
}

}  // namespace catalog_internal

namespace {

using namespace catalog_internal;

// ---------------------------------------------------------------------------------
// Scheduler tunables: /proc/sys/kernel/sched_<x> before Linux 5.13, then debugfs.

struct SchedDef {
  const char* name;
  const char* file;  // /sys/kernel/debug/sched/<file>, /proc/sys/kernel/sched_<file>
  std::vector<json> grid;
  const char* description;
  const char* risk;
};

const std::vector<SchedDef>& SchedDefs() {
  static const std::vector<SchedDef> defs = {
      {"sched.wakeup_granularity_ns", "wakeup_granularity_ns",
       Grid(0, 20'000'000, 1'000'000),
       "CFS wakeup preemption granularity: how much less runtime a waking task must have "
       "to preempt the running one (kernels before 6.6)",
       "Low values preempt more (latency, more context switches); high values favour "
       "throughput and can delay wakeups."},
      {"sched.min_granularity_ns", "min_granularity_ns",
       Grid(500'000, 10'000'000, 500'000),
       "CFS minimum time slice of a task (kernels before 6.6)",
       "Long slices favour throughput and hurt interactive latency; short ones the "
       "reverse."},
      {"sched.base_slice_ns", "base_slice_ns", Grid(500'000, 10'000'000, 500'000),
       "EEVDF base time slice of a task (Linux 6.6 and later)",
       "Long slices favour throughput and hurt latency; short ones the reverse."},
      {"sched.migration_cost_ns", "migration_cost_ns", Grid(0, 5'000'000, 250'000),
       "How long after it ran a task counts as cache-hot, so that load balancing avoids "
       "moving it",
       "High values keep tasks in place (cache) but leave cores idle longer."},
      {"sched.latency_ns", "latency_ns", Grid(2'000'000, 48'000'000, 2'000'000),
       "CFS targeted preemption latency: the period in which every runnable task runs "
       "once "
       "(kernels before 6.6)",
       "Long periods favour throughput and hurt latency; short ones the reverse."},
      {"sched.nr_migrate",
       "nr_migrate",
       {4, 8, 16, 32, 64, 128},
       "Most tasks moved in one load-balancing pass",
       "High values balance faster but hold runqueue locks longer."},
  };
  return defs;
}

CatalogEntry SchedEntry(const SchedDef& def, Machine* machine) {
  std::string proc = std::string("/proc/sys/kernel/sched_") + def.file;
  std::string debugfs = std::string("/sys/kernel/debug/sched/") + def.file;
  bool in_proc = machine->Exists(proc);
  CatalogEntry entry = Entry(def.name, in_proc ? "sysctl" : "debugfs", def.description,
                             proc + " or " + debugfs, def.risk);
  if (!in_proc && !machine->Exists(debugfs)) {
    Settle(
        &entry,
        Status::Unavailable("neither " + proc + " nor " + debugfs +
                            " exists (is debugfs mounted? this kernel may not have it)"),
        nullptr);
    return entry;
  }
  FileKnobSpec spec;
  spec.name = def.name;
  spec.backend = entry.backend;
  spec.description = def.description;
  spec.files = {{"", in_proc ? proc : debugfs}};
  spec.domain = def.grid;
  std::unique_ptr<SystemKnob> knob;
  Status s = MakeFileKnob(spec, machine, &knob);
  Settle(&entry, s, std::move(knob));
  return entry;
}

// ---------------------------------------------------------------------------------
// sysctls under /proc/sys.

struct SysctlDef {
  const char* name;
  const char* path;
  std::vector<json> grid;
  const char* description;
  const char* risk;
};

const std::vector<SysctlDef>& SysctlDefs() {
  static const std::vector<SysctlDef> defs = {
      {"vm.swappiness", "/proc/sys/vm/swappiness", Grid(0, 100, 10),
       "How readily the kernel swaps anonymous memory rather than dropping page cache",
       "High values swap application memory out under pressure; 0 can let the page cache "
       "starve."},
      {"vm.dirty_ratio", "/proc/sys/vm/dirty_ratio", Grid(5, 80, 5),
       "Percent of memory that may be dirty before writers are throttled",
       "High values allow long write stalls and more data lost on a crash; writing it "
       "clears vm.dirty_bytes."},
      {"vm.dirty_background_ratio", "/proc/sys/vm/dirty_background_ratio", Grid(5, 50, 5),
       "Percent of memory dirty at which background writeback starts",
       "High values delay writeback into bursts; writing it clears "
       "vm.dirty_background_bytes."},
      {"kernel.numa_balancing",
       "/proc/sys/kernel/numa_balancing",
       {0, 1},
       "Automatic NUMA balancing: moves memory and tasks to the node that uses them",
       "Its page-fault sampling costs CPU; off can leave memory on a remote node."},
      {"kernel.sched_autogroup_enabled",
       "/proc/sys/kernel/sched_autogroup_enabled",
       {0, 1},
       "Groups tasks by session so that each session gets a fair CPU share",
       "On, a many-threaded job in one session gets no more CPU than a shell in "
       "another."},
      {"vm.zone_reclaim_mode",
       "/proc/sys/vm/zone_reclaim_mode",
       {0, 1},
       "Reclaim memory on the local NUMA node before allocating on a remote one",
       "On, file-cache-heavy workloads can thrash the local node's cache."},
      {"kernel.timer_migration",
       "/proc/sys/kernel/timer_migration",
       {0, 1},
       "Lets timers of idle CPUs move to busy ones, so idle CPUs sleep longer",
       "Off keeps timers local (latency) at some power cost."},
      // The net.* sysctls belong to a network namespace: honed tunes its own
      // (the host's, as a service), which is also its workloads'.
      {"net.core.somaxconn",
       "/proc/sys/net/core/somaxconn",
       {128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65535},
       "Longest accept queue a listening socket may have (listen()'s backlog is capped "
       "to it)",
       "Only sockets that call listen() after the change get it; too low drops or "
       "delays connections in bursts."},
      {"net.ipv4.tcp_slow_start_after_idle",
       "/proc/sys/net/ipv4/tcp_slow_start_after_idle",
       {0, 1},
       "Restart TCP slow start on a connection that has been idle (1, the default)",
       "0 lets an idle connection send its whole congestion window at once, which can "
       "burst into loss on a shared path."},
  };
  return defs;
}

CatalogEntry SysctlEntry(const SysctlDef& def, Machine* machine) {
  CatalogEntry entry = Entry(def.name, "sysctl", def.description, def.path, def.risk);
  if (!machine->Exists(def.path)) {
    Settle(&entry, Status::Unavailable(std::string("no ") + def.path + " on this kernel"),
           nullptr);
    return entry;
  }
  FileKnobSpec spec;
  spec.name = def.name;
  spec.backend = "sysctl";
  spec.description = def.description;
  spec.files = {{"", def.path}};
  spec.domain = def.grid;
  std::unique_ptr<SystemKnob> knob;
  Status s = MakeFileKnob(spec, machine, &knob);
  Settle(&entry, s, std::move(knob));
  return entry;
}

// ---------------------------------------------------------------------------------
// sysfs: transparent huge pages and cpufreq.

CatalogEntry FileEntry(FileKnobSpec spec, const std::string& risk, Machine* machine,
                       const std::string& missing) {
  CatalogEntry entry =
      Entry(spec.name, spec.backend, spec.description,
            spec.location.empty() ? spec.files.empty() ? "" : spec.files.front().second
                                  : spec.location,
            risk);
  std::unique_ptr<SystemKnob> knob;
  Status s = spec.files.empty() ? Status::Unavailable(missing)
                                : MakeFileKnob(spec, machine, &knob);
  Settle(&entry, s, std::move(knob));
  return entry;
}

FileKnobSpec ThpSpec(const std::string& name, const std::string& file,
                     const std::string& description, Machine* machine) {
  FileKnobSpec spec;
  spec.name = name;
  spec.description = description;
  spec.location = "/sys/kernel/mm/transparent_hugepage/" + file;
  if (machine->Exists(spec.location)) spec.files = {{"", spec.location}};
  spec.selector = true;
  return spec;
}

// Every online CPU's cpufreq/<file> that exists; values from cpufreq/<available>
// of the first of them.
FileKnobSpec CpufreqSpec(const std::string& name, const std::string& file,
                         const std::string& available, const std::string& description,
                         const Probe& probe) {
  FileKnobSpec spec;
  spec.name = name;
  spec.description = description;
  spec.location = std::string(kCpuDir) + "/cpuN/cpufreq/" + file;
  std::vector<int> cpus;
  for (int cpu : probe.cpus) {
    std::string dir = std::string(kCpuDir) + "/cpu" + std::to_string(cpu) + "/cpufreq/";
    if (!probe.machine->Exists(dir + file)) continue;
    if (spec.files.empty()) spec.available_path = dir + available;
    spec.files.emplace_back("cpu" + std::to_string(cpu), dir + file);
  }
  return spec;
}

void AddSysfs(const Probe& probe, std::vector<CatalogEntry>* out) {
  Machine* machine = probe.machine;
  out->push_back(FileEntry(
      ThpSpec("thp.enabled", "enabled",
              "Transparent huge pages: always, only for madvise()d memory, or never",
              machine),
      "'always' can raise memory use and cause allocation stalls (compaction); 'never' "
      "costs TLB misses on large heaps.",
      machine, "no /sys/kernel/mm/transparent_hugepage/enabled on this kernel"));
  out->push_back(FileEntry(
      ThpSpec("thp.defrag", "defrag",
              "How hard a huge page allocation may work (direct compaction) to succeed",
              machine),
      "'always' can stall allocating threads in compaction; lighter modes get fewer huge "
      "pages.",
      machine, "no /sys/kernel/mm/transparent_hugepage/defrag on this kernel"));
  std::string no_cpufreq =
      "no cpufreq driver exposes it (common in virtual machines; check "
      "/sys/devices/system/cpu/cpu0/cpufreq)";
  out->push_back(FileEntry(
      CpufreqSpec("cpufreq.governor", "scaling_governor", "scaling_available_governors",
                  "CPU frequency governor of each online CPU", probe),
      "'powersave' and 'schedutil' can lower throughput; 'performance' costs power and "
      "can reduce turbo headroom.",
      machine, no_cpufreq));
  FileKnobSpec epp = CpufreqSpec(
      "cpufreq.energy_performance_preference", "energy_performance_preference",
      "energy_performance_available_preferences",
      "Energy/performance preference (EPP) hint of each online CPU to the "
      "hardware P-state control",
      probe);
  out->push_back(FileEntry(
      std::move(epp),
      "'power' preferences lower clock speeds under load; 'performance' costs power.",
      machine,
      "no cpufreq driver exposes energy_performance_preference (it needs intel_pstate "
      "or amd-pstate in active mode; virtual machines rarely have cpufreq)"));
  FileKnobSpec boost;
  boost.name = "cpufreq.boost";
  boost.description = "Turbo (boost) frequencies above the base clock, all CPUs";
  boost.location = std::string(kCpuDir) + "/cpufreq/boost";
  if (machine->Exists(boost.location)) boost.files = {{"", boost.location}};
  boost.domain = {0, 1};
  out->push_back(FileEntry(
      std::move(boost),
      "Off makes runs steadier but slower; on, speed depends on temperature and on "
      "how many cores are busy.",
      machine,
      "no " + boost.location + " (its cpufreq driver has no global boost switch)"));
}

}  // namespace

std::vector<CatalogEntry> BuildCatalog(Machine* machine) {
  Probe probe = ProbeMachine(machine);
  std::vector<CatalogEntry> catalog;
  AddCpuKnobs(&probe, &catalog);
  for (const SchedDef& def : SchedDefs()) catalog.push_back(SchedEntry(def, machine));
  for (const SysctlDef& def : SysctlDefs()) catalog.push_back(SysctlEntry(def, machine));
  AddSysfs(probe, &catalog);
  return catalog;
}

SystemKnob* FindBuiltin(std::vector<CatalogEntry>* catalog, const std::string& name) {
  if (!catalog) return nullptr;
  for (CatalogEntry& entry : *catalog)
    if (entry.name == name) return entry.knob.get();
  return nullptr;
}

}  // namespace hone
