// The built-in catalog: every system knob honed knows, probed on this machine.
// docs/knobs.md is the user-facing description of every entry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/knobs/knobs.h"
#include "daemon/knobs/machine.h"

namespace hone {

// One entry of the built-in catalog.
struct CatalogEntry {
  std::string name;
  std::string backend;
  std::string description;
  std::string location;
  std::string risk;  // what can go wrong when it is changed
  bool available = false;
  std::string reason;                // why it is unavailable here
  std::unique_ptr<SystemKnob> knob;  // null when unavailable
};

// Every built-in knob, available or not, in a stable order, probed on `machine`
// (CPU vendor/family/model from /proc/cpuinfo, online CPUs, sysfs and procfs
// files present, MSR device files present). See docs/knobs.md.
std::vector<CatalogEntry> BuildCatalog(Machine* machine);

// The available built-in knob of that name; null when unknown, unavailable, or
// `catalog` is null.
SystemKnob* FindBuiltin(std::vector<CatalogEntry>* catalog, const std::string& name);

}  // namespace hone
