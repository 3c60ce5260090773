// What the parts of the built-in catalog share: the machine as probed once, and
// how an entry is made. catalog.cc: the probe, scheduler, sysctl and sysfs knobs;
// catalog_cpu.cc: hardware prefetchers and uncore frequency. Private to
// daemon/knobs/.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/knobs/catalog.h"
#include "daemon/knobs/knobs.h"
#include "daemon/knobs/machine.h"

namespace hone::catalog_internal {

using nlohmann::json;

// std::string, not a constexpr pointer: GCC 12 misreports an out-of-bounds copy
// (-Warray-bounds) when it knows the length of the left side of a +.
inline const std::string kCpuDir = "/sys/devices/system/cpu";
inline const std::string kUncoreDir = "/sys/devices/system/cpu/intel_uncore_frequency";
inline constexpr uint32_t kIntelPrefetchMsr = 0x1a4;     // MSR_MISC_FEATURE_CONTROL
inline constexpr uint32_t kAmdPrefetchMsr = 0xc0000108;  // PrefetchControl
inline constexpr uint32_t kUncoreRatioMsr = 0x620;       // MSR_UNCORE_RATIO_LIMIT
inline constexpr uint64_t kUncoreKhzPerRatio = 100000;
inline constexpr uint64_t kUncoreLowestRatio = 8;

inline std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

inline std::vector<json> Grid(int64_t first, int64_t last, int64_t step) {
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

Probe ProbeMachine(Machine* machine);
CatalogEntry Entry(std::string name, std::string backend, std::string description,
                   std::string location, std::string risk);
// Makes the entry available with `knob` when `s` is OK; else records why not.
void Settle(CatalogEntry* entry, Status s, std::unique_ptr<SystemKnob> knob);
// Every online cpu as an instance: ("cpuN", N).
std::vector<std::pair<std::string, int>> PerCpu(const Probe& probe);
// The hardware prefetchers, then the uncore frequency limits (catalog_cpu.cc).
void AddCpuKnobs(Probe* probe, std::vector<CatalogEntry>* out);

}  // namespace hone::catalog_internal
