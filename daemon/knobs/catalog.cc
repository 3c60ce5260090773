#include "daemon/knobs/catalog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "common/config.h"
#include "daemon/knobs/knobs.h"

namespace hone {
namespace {

using nlohmann::json;

constexpr const char* kCpuDir = "/sys/devices/system/cpu";
constexpr const char* kUncoreDir = "/sys/devices/system/cpu/intel_uncore_frequency";
constexpr uint32_t kIntelPrefetchMsr = 0x1a4;     // MSR_MISC_FEATURE_CONTROL
constexpr uint32_t kAmdPrefetchMsr = 0xc0000108;  // PrefetchControl
constexpr uint32_t kUncoreRatioMsr = 0x620;       // MSR_UNCORE_RATIO_LIMIT
constexpr uint64_t kUncoreKhzPerRatio = 100000;
constexpr uint64_t kUncoreLowestRatio = 8;

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

std::vector<json> Grid(int64_t first, int64_t last, int64_t step) {
  std::vector<json> values;
  for (int64_t v = first; v <= last; v += step) values.push_back(v);
  return values;
}

// What the catalog learns about the machine once.
struct Probe {
  Machine* machine = nullptr;
  std::string vendor;  // "GenuineIntel", "AuthenticAMD"
  int family = -1;
  int model = -1;
  std::vector<int> cpus;    // online
  std::string msr_missing;  // why MSRs cannot be used; empty when they can
  std::map<uint32_t, std::string> msr_errors;  // probe read failures by address

  bool intel() const { return vendor == "GenuineIntel"; }
  bool amd() const { return vendor == "AuthenticAMD"; }
  std::string Cpu() const {
    if (vendor.empty()) return "an unknown CPU (no vendor_id in /proc/cpuinfo)";
    std::string family_text = family < 10 ? std::to_string(family) : Hex(family);
    return vendor + " family " + family_text + " model " + Hex(model);
  }
  // Empty when `msr` reads on the first online CPU; else why not.
  std::string MsrProblem(uint32_t msr) {
    if (!msr_missing.empty()) return msr_missing;
    auto it = msr_errors.find(msr);
    if (it == msr_errors.end()) {
      uint64_t value = 0;
      Status s = machine->ReadMsr(cpus.front(), msr, &value);
      it = msr_errors.emplace(msr, s.ok() ? "" : "cannot read: " + s.message()).first;
    }
    return it->second;
  }
};

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

// ---------------------------------------------------------------------------------
// Hardware prefetchers.

// Family 6 models whose MSR 0x1a4 has the four prefetcher bits, per Intel's
// "Disclosure of Hardware Prefetcher Control on Some Intel Processors".
const std::set<int> kIntelPrefetchModels = {
    0x1a, 0x1e, 0x1f, 0x2e,        // Nehalem
    0x25, 0x2c, 0x2f,              // Westmere
    0x2a, 0x2d, 0x3a, 0x3e,        // Sandy Bridge, Ivy Bridge
    0x3c, 0x3f, 0x45, 0x46,        // Haswell
    0x3d, 0x47, 0x4f, 0x56,        // Broadwell
    0x4e, 0x5e, 0x55, 0x8e, 0x9e,  // Skylake, Cascade Lake, Kaby/Coffee Lake
    0x66, 0x6a, 0x6c, 0x7d, 0x7e,  // Cannon Lake, Ice Lake
    0x8c, 0x8d, 0xa5, 0xa6,        // Tiger Lake, Comet Lake
    0x8f, 0x97, 0x9a, 0xcf,        // Sapphire Rapids, Alder Lake, Emerald Rapids
};

// AMD documents PrefetchControl for Zen 4 (family 19h models 10h-1Fh, 60h-7Fh,
// A0h-AFh) and for family 1Ah.
bool AmdDocumentsPrefetchControl(int family, int model) {
  if (family == 0x1a) return true;
  if (family != 0x19) return false;
  return (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) ||
         (model >= 0xa0 && model <= 0xaf);
}

struct PrefetcherDef {
  const char* name;
  int intel_bit;  // of MSR 0x1a4; -1: not on Intel
  int amd_bit;    // of MSR 0xc0000108; -1: not on AMD
  const char* description;
};

constexpr PrefetcherDef kPrefetchers[] = {
    {"prefetch.l2_stream", 0, 3,
     "L2 hardware streamer: detects ascending and descending streams of accesses and "
     "fetches lines ahead of them into the L2"},
    {"prefetch.l2_adjacent", 1, -1,
     "L2 adjacent cache line prefetcher: fetches the other line of each aligned 128-byte "
     "pair"},
    {"prefetch.dcu_stream", 2, -1,
     "L1 data cache (DCU) streamer: fetches the next line into the L1 data cache on "
     "ascending accesses"},
    {"prefetch.dcu_ip", 3, -1,
     "L1 data cache IP prefetcher: learns the stride of individual load instructions"},
    {"prefetch.l1_stream", -1, 0, "L1 stream prefetcher: sequential lines into the L1"},
    {"prefetch.l1_stride", -1, 1,
     "L1 stride prefetcher: learns the stride of individual load instructions"},
    {"prefetch.l1_region", -1, 2,
     "L1 region prefetcher: fetches lines of a region around recent accesses"},
    {"prefetch.l2_updown", -1, 5,
     "L2 up/down prefetcher: fetches the next or previous line into the L2"},
};

constexpr const char* kPrefetchRisk =
    "Turning a prefetcher off can slow memory-bound code a lot, or speed up code "
    "whose bandwidth it wastes; 'on' is the power-on default. Per core; lost at reboot.";

CatalogEntry PrefetcherEntry(const PrefetcherDef& def, Probe* probe) {
  bool intel = probe->intel() && def.intel_bit >= 0;
  bool amd = probe->amd() && def.amd_bit >= 0;
  uint32_t msr = amd ? kAmdPrefetchMsr : kIntelPrefetchMsr;
  int bit = amd ? def.amd_bit : def.intel_bit;
  std::string where;
  if (def.intel_bit >= 0) where = "Intel: MSR 0x1a4 bit " + std::to_string(def.intel_bit);
  if (def.amd_bit >= 0)
    where += std::string(where.empty() ? "" : "; ") + "AMD: MSR 0xc0000108 bit " +
             std::to_string(def.amd_bit);
  CatalogEntry entry = Entry(def.name, "msr", def.description, where, kPrefetchRisk);
  std::string problem;
  if (!intel && !amd)
    problem = std::string(def.intel_bit < 0 ? "AMD only"
                          : def.amd_bit < 0 ? "Intel only"
                                            : "Intel and AMD only") +
              "; this CPU is " + probe->Cpu();
  else if (intel && !(probe->family == 6 && kIntelPrefetchModels.count(probe->model)))
    problem = "not documented for " + probe->Cpu();
  else if (amd && !AmdDocumentsPrefetchControl(probe->family, probe->model))
    problem = "not documented for " + probe->Cpu();
  else
    problem = probe->MsrProblem(msr);
  if (!problem.empty()) {
    Settle(&entry, Status::Unavailable(problem), nullptr);
    return entry;
  }
  MsrFieldSpec spec;
  spec.name = def.name;
  spec.description = def.description;
  spec.msr = msr;
  spec.shift = bit;
  spec.width = 1;
  spec.cpus = PerCpu(*probe);
  spec.labels = {{"on", 0}, {"off", 1}};  // a set bit disables the prefetcher
  std::unique_ptr<SystemKnob> knob;
  Status s = MakeMsrFieldKnob(spec, probe->machine, &knob);
  Settle(&entry, s, std::move(knob));
  return entry;
}

// ---------------------------------------------------------------------------------
// Uncore frequency limits.

// Models the kernel's intel-uncore-frequency driver handles with MSR 0x620.
const std::set<int> kUncoreMsrModels = {
    0x4f, 0x56, 0x55, 0x6a, 0x6c, 0x8f, 0xcf,        // Xeons: Broadwell to Emerald Rapids
    0x8e, 0x9e, 0xa5, 0xa6, 0x66, 0x7d, 0x7e, 0xa7,  // clients: Kaby Lake to Rocket Lake
    0x8c, 0x8d, 0x97, 0x9a, 0xb7, 0xba, 0xbf, 0xaa, 0xac,  // Tiger Lake to Meteor Lake
};

constexpr const char* kUncoreRisk =
    "A low uncore frequency slows memory and cache accesses; a high one costs power that "
    "the cores may need to turbo. The kernel refuses a minimum above the maximum, so "
    "tuning both may fail for some pairs.";

struct UncoreDef {
  const char* name;
  const char* file;  // under package_XX_die_YY/
  int shift;         // of the ratio in MSR 0x620
  const char* description;
};

constexpr UncoreDef kUncore[] = {
    {"uncore.min_freq_khz", "min_freq_khz", 8,
     "Lowest frequency of the uncore (L3 cache, memory controller, interconnect), kHz"},
    {"uncore.max_freq_khz", "max_freq_khz", 0,
     "Highest frequency of the uncore (L3 cache, memory controller, interconnect), kHz"},
};

Status ReadInt(Machine* machine, const std::string& path, int64_t* value) {
  std::string text;
  Status s = machine->ReadFile(path, &text);
  if (!s.ok()) return s;
  json parsed = ParseScalar(Trim(text));
  if (!parsed.is_number_integer()) return Status::IOError(path + " holds no integer");
  *value = parsed.get<int64_t>();
  return Status::OK();
}

Status UncoreFromSysfs(const UncoreDef& def, const std::vector<std::string>& dirs,
                       Machine* machine, std::unique_ptr<SystemKnob>* knob) {
  std::string first = std::string(kUncoreDir) + "/" + dirs.front() + "/";
  int64_t lo = 0, hi = 0;
  Status s = ReadInt(machine, first + "initial_min_freq_khz", &lo);
  if (s.ok()) s = ReadInt(machine, first + "initial_max_freq_khz", &hi);
  if (s.ok() && (lo <= 0 || hi < lo))
    s = Status::Unavailable("the initial uncore limits make no range");
  if (!s.ok()) return s;
  FileKnobSpec spec;
  spec.name = def.name;
  spec.backend = "sysfs";
  spec.description = def.description;
  for (const std::string& dir : dirs)
    spec.files.emplace_back(dir, std::string(kUncoreDir) + "/" + dir + "/" + def.file);
  spec.location = std::string(kUncoreDir) + "/package_XX_die_YY/" + def.file;
  spec.domain = Grid(lo, hi, kUncoreKhzPerRatio);
  return MakeFileKnob(spec, machine, knob);
}

// The first online CPU of each package: "package_00" -> cpu.
Status PackageCpus(const Probe& probe, std::vector<std::pair<std::string, int>>* cpus) {
  std::map<int64_t, int> first;
  for (int cpu : probe.cpus) {
    int64_t package = 0;
    std::string path = kCpuDir;
    path += "/cpu";
    path += std::to_string(cpu);
    path += "/topology/physical_package_id";
    Status s = ReadInt(probe.machine, path, &package);
    if (!s.ok()) return s;
    first.emplace(package, cpu);
  }
  for (const auto& [package, cpu] : first) {
    char name[32];
    std::snprintf(name, sizeof name, "package_%02lld", static_cast<long long>(package));
    cpus->emplace_back(name, cpu);
  }
  return Status::OK();
}

Status UncoreFromMsr(const UncoreDef& def, Probe* probe,
                     std::unique_ptr<SystemKnob>* knob) {
  std::string missing =
      "no " + std::string(kUncoreDir) + " (modprobe intel-uncore-frequency)";
  if (!probe->intel())
    return Status::Unavailable(missing + "; Intel only: this CPU is " + probe->Cpu());
  if (probe->family != 6 || !kUncoreMsrModels.count(probe->model))
    return Status::Unavailable(missing + "; MSR 0x620 is not known for " + probe->Cpu());
  std::string problem = probe->MsrProblem(kUncoreRatioMsr);
  if (!problem.empty()) return Status::Unavailable(missing + "; MSR 0x620: " + problem);
  MsrFieldSpec spec;
  spec.name = def.name;
  spec.description = def.description;
  spec.msr = kUncoreRatioMsr;
  spec.shift = def.shift;
  spec.width = 7;
  spec.scale = kUncoreKhzPerRatio;
  Status s = PackageCpus(*probe, &spec.cpus);
  if (!s.ok()) return s;
  // Ratios from 8 (or the lowest limit in place) to the highest limit in place.
  uint64_t lo = kUncoreLowestRatio, hi = 0;
  for (const auto& [instance, cpu] : spec.cpus) {
    uint64_t word = 0;
    s = probe->machine->ReadMsr(cpu, kUncoreRatioMsr, &word);
    if (!s.ok()) return s;
    for (int shift : {0, 8}) {
      uint64_t ratio = (word >> shift) & 0x7f;
      lo = std::min(lo, ratio);
      hi = std::max(hi, ratio);
    }
  }
  if (lo == 0 || hi < lo)
    return Status::Unavailable("MSR 0x620 holds no usable ratio limits (" + Hex(hi) +
                               ")");
  spec.min_field = lo;
  spec.max_field = hi;
  return MakeMsrFieldKnob(spec, probe->machine, knob);
}

void AddUncore(Probe* probe, std::vector<CatalogEntry>* out) {
  std::vector<std::string> dirs, all;
  if (probe->machine->ListDir(kUncoreDir, &all).ok())
    for (const std::string& dir : all)
      if (dir.rfind("package_", 0) == 0) dirs.push_back(dir);
  for (const UncoreDef& def : kUncore) {
    CatalogEntry entry =
        Entry(def.name, dirs.empty() ? "msr" : "sysfs", def.description,
              std::string(kUncoreDir) + "/package_XX_die_YY/" + def.file +
                  ", or MSR 0x620 bits " + (def.shift ? "14:8" : "6:0"),
              kUncoreRisk);
    std::unique_ptr<SystemKnob> knob;
    Status s;
    if (!dirs.empty())
      s = UncoreFromSysfs(def, dirs, probe->machine, &knob);
    else if (probe->cpus.empty())
      s = Status::Unavailable(probe->msr_missing);
    else
      s = UncoreFromMsr(def, probe, &knob);
    Settle(&entry, s, std::move(knob));
    out->push_back(std::move(entry));
  }
}

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
  for (const PrefetcherDef& def : kPrefetchers)
    catalog.push_back(PrefetcherEntry(def, &probe));
  AddUncore(&probe, &catalog);
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
