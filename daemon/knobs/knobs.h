// System knobs: tunables of the machine (MSR bit fields, sysfs and procfs files,
// script-defined knobs) behind one interface. The built-in catalog is knobs/catalog.h.
//
// A SystemKnob has one or more instances (one per CPU for an MSR field, one per
// package/die for uncore limits, one per device for a script knob with a
// devices_script, else the single instance ""). Values cross this interface as the
// strings the knob's domain lists ("on", "always", "2400000"); a knob translates
// them to what the backend stores (a bit, a ratio). Every instance can describe how
// to write it again without the knob object (Recipe): the ledger stores that recipe
// with the original value, so a later honed (after a crash, or honed --restore) can
// put it back with KnobFromRecipe alone.
//
// Read and Write are coroutines because script knobs run processes; file and MSR
// knobs complete at once. All calls on the event-loop thread. A knob borrows the
// Machine it was made with, which must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "daemon/knobs/machine.h"

namespace hone {

class SystemKnob {
 public:
  virtual ~SystemKnob() = default;

  virtual const std::string& name() const = 0;
  // "msr", "sysfs", "sysctl", "debugfs" or "script".
  virtual std::string backend() const = 0;
  virtual std::string description() const = 0;
  // Where it lives, for people: "/proc/sys/vm/swappiness", "MSR 0x1a4 bit 0, cpus 0-3".
  virtual std::string location() const = 0;
  // Every value it may take, in order (numbers as JSON numbers).
  virtual std::vector<nlohmann::json> Domain() const = 0;
  virtual std::vector<std::string> Instances() const = 0;

  virtual boost::asio::awaitable<Status> Read(const std::string& instance,
                                              std::string* value) = 0;
  virtual boost::asio::awaitable<Status> Write(const std::string& instance,
                                               const std::string& value) = 0;
  // Self-contained JSON from which KnobFromRecipe rebuilds a knob whose only
  // instance is this one.
  virtual nlohmann::json Recipe(const std::string& instance) const = 0;
};

// Rebuilds the single-instance knob a Recipe describes; its instance is "".
//
// A recipe's knob accepts its domain plus the values the instance was seen holding
// (file and MSR knobs read the instance when Recipe is called; script knobs remember
// what Read returned, so call Read before Recipe for them): the original that the
// ledger writes back may lie off the tuning grid (a scheduler default of 2250000 ns).
Status KnobFromRecipe(const nlohmann::json& recipe, Machine* machine,
                      std::unique_ptr<SystemKnob>* knob);

// A knob backed by files under /sys or /proc, one file per instance. Values are
// read with surrounding whitespace trimmed and written as `value` plus a newline in
// one write(), as `echo value > file` does.
struct FileKnobSpec {
  std::string name;
  // "sysctl" (paths under /proc/sys/), "debugfs" (/sys/kernel/debug/) or "sysfs" (/sys/).
  std::string backend = "sysfs";
  std::string description;
  // For people; default: the first path (and how many more there are).
  std::string location;
  // Instance name -> machine path; a single file is the instance "".
  std::vector<std::pair<std::string, std::string>> files;
  // The values, in order. Empty: read from `available_path`, or for a selector file
  // from the first file itself.
  std::vector<nlohmann::json> domain;
  // The file shows every choice with the current one in brackets
  // ("always [madvise] never"): Read returns the bracketed word.
  bool selector = false;
  // A file listing the values separated by blanks ("performance powersave").
  std::string available_path;
};
Status MakeFileKnob(const FileKnobSpec& spec, Machine* machine,
                    std::unique_ptr<SystemKnob>* knob);

// A bit field of a model-specific register, one instance per CPU (or per package,
// written on one CPU of it). Write is a read-modify-write of only this field.
struct MsrFieldSpec {
  std::string name;
  std::string description;
  uint32_t msr = 0;
  int shift = 0;  // lowest bit of the field
  int width = 1;  // bits, 1..63
  // Instance name -> the CPU whose register it is ("cpu0" -> 0, "package_00" -> 0).
  std::vector<std::pair<std::string, int>> cpus;
  // Value -> field value ({"on", 0}, {"off", 1}), in domain order. When empty the
  // values are numbers: field * scale for every field in [min_field, max_field].
  std::vector<std::pair<std::string, uint64_t>> labels;
  uint64_t scale = 1;
  uint64_t min_field = 0;
  uint64_t max_field = 0;
};
Status MakeMsrFieldKnob(const MsrFieldSpec& spec, Machine* machine,
                        std::unique_ptr<SystemKnob>* knob);

// A script-defined knob, from the config: values pass in $KNOB_VAL (and the device
// in $KNOB_DEV), never pasted into the command; scripts run as honed's user (root)
// with /bin/sh -c and a timeout; a failing script's stderr is in the Status.
struct ScriptKnobSpec {
  std::string name;
  std::string description;
  std::vector<nlohmann::json> options;
  std::string get_script;      // prints the current value
  std::string set_script;      // sets $KNOB_VAL
  std::string devices_script;  // optional: prints device names, one instance each
  std::string pre_set_script;  // optional: run before each set
  double timeout_s = 60;
};
// Resolves the devices (running devices_script) and makes the knob.
boost::asio::awaitable<Status> MakeScriptKnob(const ScriptKnobSpec& spec,
                                              std::unique_ptr<SystemKnob>* knob);

}  // namespace hone
