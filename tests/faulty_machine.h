// FaultInjectingMachine: a Machine that fails its Nth write, for tests that prove
// callers leave nothing half-applied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/knobs/machine.h"

namespace hone {

// Wraps a machine and fails its Nth write (WriteFile or WriteMsr, counted from 1)
// with an I/O error, to prove that callers leave nothing half-applied. `base` must
// outlive the wrapper.
class FaultInjectingMachine : public Machine {
 public:
  FaultInjectingMachine(Machine* base, int fail_at) : base_(base), fail_at_(fail_at) {}

  Status ReadFile(const std::string& path, std::string* contents) override {
    return base_->ReadFile(path, contents);
  }
  Status WriteFile(const std::string& path, const std::string& contents) override;
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  Status ListDir(const std::string& path, std::vector<std::string>* names) override {
    return base_->ListDir(path, names);
  }
  Status ReadMsr(int cpu, uint32_t msr, uint64_t* value) override {
    return base_->ReadMsr(cpu, msr, value);
  }
  Status WriteMsr(int cpu, uint32_t msr, uint64_t value) override;
  std::string root() const override { return base_->root(); }

  int writes() const { return writes_; }

 private:
  Machine* base_;
  int fail_at_;
  int writes_ = 0;
};

}  // namespace hone
