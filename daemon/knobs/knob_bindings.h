// KnobBindings: the system knobs of one running job, and what honed wrote to them.
//
// Apply() sets a configuration's system knob values: every instance that must
// change is first held in the ledger (its original stored durably), then written.
// If a write fails, the instances already written in that step are put back to
// their previous values, so no configuration is ever left half-applied.
// CheckForeignChanges() notices a knob that another party changed since honed wrote
// it: honed stops managing that knob, keeps the other's value, and says so.
// Putting originals back at the end of the job is the ledger's (RestoreHeld).
//
// Event-loop thread only; `ledger` and every bound knob must outlive the bindings.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/space.h"
#include "common/status.h"
#include "daemon/knobs/knobs.h"
#include "daemon/knobs/ledger.h"

namespace hone {

class KnobBindings {
 public:
  KnobBindings(int64_t job, Ledger* ledger) : job_(job), ledger_(ledger) {}

  // Binds the knob of search-space dimension `dim`; `owned` holds it when the
  // catalog does not.
  void Add(size_t dim, SystemKnob* knob, std::unique_ptr<SystemKnob> owned = nullptr);
  bool empty() const { return bindings_.empty(); }

  // Reads every instance's current value: the job's starting point.
  boost::asio::awaitable<Status> ReadCurrent();
  // The value the knob of `dim` had at the start (its first instance).
  std::string StartValue(size_t dim) const;

  // Notes (one per knob) for knobs released because someone else changed them.
  boost::asio::awaitable<std::vector<std::string>> CheckForeignChanges();

  // Writes `config`'s values, logging one line per change with its journal fields
  // (daemon/journal.h): "job 3 trial 4: vm.swappiness: 60 -> 10", `reason` "trial 4".
  boost::asio::awaitable<Status> Apply(const SearchSpace& space, const Config& config,
                                       const std::string& reason);

 private:
  struct Binding {
    size_t dim = 0;
    SystemKnob* knob = nullptr;
    std::unique_ptr<SystemKnob> owned;
    bool released = false;
    std::map<std::string, std::string> value;  // instance -> what it holds now
  };
  struct Change {
    Binding* binding;
    std::string instance;
    std::string previous;
    std::string current;  // what this call wrote
  };

  boost::asio::awaitable<void> Undo(std::vector<Change>& changes,
                                    const std::string& reason);

  int64_t job_;
  Ledger* ledger_;
  std::vector<Binding> bindings_;
};

}  // namespace hone
