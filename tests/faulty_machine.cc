#include "tests/faulty_machine.h"

#include <cstdio>

namespace hone {

namespace {

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace

Status FaultInjectingMachine::WriteFile(const std::string& path,
                                        const std::string& contents) {
  if (++writes_ == fail_at_)
    return Status::IOError("injected fault: write #" + std::to_string(writes_) + " to " +
                           path);
  return base_->WriteFile(path, contents);
}

Status FaultInjectingMachine::WriteMsr(int cpu, uint32_t msr, uint64_t value) {
  if (++writes_ == fail_at_)
    return Status::IOError("injected fault: write #" + std::to_string(writes_) +
                           " to MSR " + Hex(msr) + " of cpu " + std::to_string(cpu));
  return base_->WriteMsr(cpu, msr, value);
}

}  // namespace hone
