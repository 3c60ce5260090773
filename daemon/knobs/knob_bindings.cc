#include "daemon/knobs/knob_bindings.h"

#include <spdlog/spdlog.h>

#include "common/config.h"
#include "daemon/crash_point.h"
#include "daemon/journal.h"

namespace hone {

namespace asio = boost::asio;

void KnobBindings::Add(size_t dim, SystemKnob* knob, std::unique_ptr<SystemKnob> owned) {
  Binding binding;
  binding.dim = dim;
  binding.knob = knob;
  binding.owned = std::move(owned);
  bindings_.push_back(std::move(binding));
}

asio::awaitable<Status> KnobBindings::ReadCurrent() {
  for (Binding& b : bindings_) {
    for (const std::string& instance : b.knob->Instances()) {
      std::string value;
      Status s = co_await b.knob->Read(instance, &value);
      if (!s.ok()) co_return s.WithContext("knob '" + b.knob->name() + "'");
      b.value[instance] = value;
    }
  }
  co_return Status::OK();
}

std::string KnobBindings::StartValue(size_t dim) const {
  for (const Binding& b : bindings_)
    if (b.dim == dim && !b.value.empty()) return b.value.begin()->second;
  return "";
}

asio::awaitable<std::vector<std::string>> KnobBindings::CheckForeignChanges() {
  std::vector<std::string> notes;
  for (Binding& b : bindings_) {
    if (b.released) continue;
    for (const auto& [instance, expected] : b.value) {
      std::string now;
      Status s = co_await b.knob->Read(instance, &now);
      if (!s.ok() || now == expected) continue;
      b.released = true;
      // Keep the other party's value: forget our originals without writing them.
      for (const auto& [inst, unused] : b.value) {
        Status r = ledger_->Release(Ledger::Key(*b.knob, inst));
        if (!r.ok()) spdlog::error("job {}: {}", job_, r.message());
      }
      notes.push_back("knob '" + b.knob->name() + "' was changed by someone else (" +
                      Ledger::Key(*b.knob, instance) + " is " + now + ", honed set " +
                      expected + "); honed no longer manages it and keeps that value");
      break;
    }
  }
  co_return notes;
}

asio::awaitable<void> KnobBindings::Undo(std::vector<Change>& changes,
                                         const std::string& reason) {
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
    Status s = co_await it->binding->knob->Write(it->instance, it->previous);
    std::string key = Ledger::Key(*it->binding->knob, it->instance);
    if (s.ok()) {
      it->binding->value[it->instance] = it->previous;
      KnobLog(job_, key, it->current, it->previous, "undo of " + reason,
              "job " + std::to_string(job_) + " " + reason + ": " + key +
                  ": put back to " + it->previous);
    } else {
      // The ledger still holds its original; the job's end restores it.
      spdlog::error("job {}: cannot put back {}: {}", job_, key, s.message());
    }
  }
}

asio::awaitable<Status> KnobBindings::Apply(const SearchSpace& space,
                                            const Config& config,
                                            const std::string& reason) {
  std::vector<Change> changes;
  for (Binding& b : bindings_) {
    if (b.released) continue;
    std::string target = ValueToString(space.knob(b.dim).values[config[b.dim]]);
    for (const std::string& instance : b.knob->Instances()) {
      std::string previous = b.value[instance];
      if (previous == target) continue;
      Status s = co_await ledger_->Hold(job_, *b.knob, instance);
      if (s.ok()) s = co_await b.knob->Write(instance, target);
      if (!s.ok()) {
        co_await Undo(changes, reason);
        co_return s.WithContext("cannot set " + Ledger::Key(*b.knob, instance) + " to " +
                                target);
      }
      CrashPoint("knob-written");
      b.value[instance] = target;
      changes.push_back({&b, instance, previous, target});
      std::string key = Ledger::Key(*b.knob, instance);
      KnobLog(job_, key, previous, target, reason,
              "job " + std::to_string(job_) + " " + reason + ": " + key + ": " +
                  previous + " -> " + target);
    }
  }
  co_return Status::OK();
}

}  // namespace hone
