// Machine: the narrow interface between honed and the tunables of the machine it
// runs on: files under /sys and /proc, and model-specific registers.
//
// Everything honed reads or writes on the machine goes through a Machine, so tests
// give it a re-rooted tree (honed --root DIR): DIR/sys, DIR/proc, DIR/dev. The MSR
// path is the real one on a sparse file: 8 bytes at offset = MSR address of
// DIR/dev/cpu/N/msr. Paths are machine paths ("/sys/kernel/mm/..."); writes are
// refused outside /sys and /proc (after resolving symlinks), and every path with a
// ".." component is refused. Errors are Status values that name the path and the
// errno ("EPERM writing /dev/cpu/0/msr: ..."). Not thread-safe; cheap to call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hone {

class Machine {
 public:
  virtual ~Machine() = default;

  // Whole-file read; trailing newline kept.
  virtual Status ReadFile(const std::string& path, std::string* contents) = 0;
  // Writes `contents` to an existing file (as sysfs wants: one write, no create).
  virtual Status WriteFile(const std::string& path, const std::string& contents) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Entry names of a directory, sorted; "." and ".." left out.
  virtual Status ListDir(const std::string& path, std::vector<std::string>* names) = 0;
  virtual Status ReadMsr(int cpu, uint32_t msr, uint64_t* value) = 0;
  virtual Status WriteMsr(int cpu, uint32_t msr, uint64_t value) = 0;
  // The root this machine is seen from ("/" for the real one).
  virtual std::string root() const = 0;
};

// The machine under `root` ("" or "/" for the real machine).
std::unique_ptr<Machine> MakeMachine(const std::string& root);

// "0x1a4": an MSR address or value as messages and recipes show it.
std::string Hex(uint64_t value);

// "0-3,8,10-11" (the kernel's cpu list format) -> {0,1,2,3,8,10,11}.
Status ParseCpuList(const std::string& text, std::vector<int>* cpus);

}  // namespace hone
