// The built-in catalog's CPU knobs: hardware prefetchers (MSR bit fields) and uncore
// frequency limits (sysfs, or MSR 0x620). docs/knobs.md describes each entry.
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "daemon/knobs/catalog_internal.h"

namespace hone::catalog_internal {
namespace {

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

}  // namespace

void AddCpuKnobs(Probe* probe, std::vector<CatalogEntry>* out) {
  for (const PrefetcherDef& def : kPrefetchers) out->push_back(PrefetcherEntry(def, probe));
  AddUncore(probe, out);
}

}  // namespace hone::catalog_internal
