#include "tests/faulty_machine.h"

namespace hone {

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
