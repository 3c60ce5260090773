// Ledger: the original value of every system knob instance honed changes, stored
// durably before the first write, so that it can always be put back.
//
// Hold() is called before each write: the first time an instance is touched its
// current value and a self-contained recipe for writing it (SystemKnob::Recipe) are
// committed to the store (synchronous SQLite), and only then may the caller write.
// RestoreHeld() writes originals back, newest first, and deletes each entry only
// after its original is back, so a crash at any instant leaves entries that a later
// RestoreHeld() (next start, honed --restore) finishes. Applied entries (hone apply)
// are kept across restarts and put back by RestoreApplied().
//
// Event-loop thread only. `store` and `machine` must outlive the ledger.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/status.h"
#include "daemon/knobs/knobs.h"
#include "daemon/knobs/machine.h"
#include "daemon/store/store.h"

namespace hone {

class Ledger {
 public:
  Ledger(Store* store, Machine* machine) : store_(store), machine_(machine) {}

  // A knob instance's name in the ledger and the logs: "prefetch.l2_stream/cpu3", or
  // just "vm.swappiness" for a knob whose one instance is "".
  static std::string Key(const SystemKnob& knob, const std::string& instance);

  // Stores the instance's original for `job` unless it is already held.
  boost::asio::awaitable<Status> Hold(int64_t job, SystemKnob& knob,
                                      const std::string& instance);
  // Forgets a held entry without writing it (another party changed the knob).
  Status Release(const std::string& key);

  // Puts back held entries (of `job`, or every one), newest first. Tries them all;
  // returns the first failure. `done` gets one line per entry for the log.
  boost::asio::awaitable<Status> RestoreHeld(std::optional<int64_t> job,
                                             std::vector<std::string>* done);

  struct Setting {
    SystemKnob* knob;
    std::string instance;
    std::string value;
  };
  // Writes every setting and keeps it (state "applied"): re-applied at every start
  // until RestoreApplied(). All or nothing: when one write fails, the settings
  // already written are put back and their entries return to what they were.
  boost::asio::awaitable<Status> ApplyAll(int64_t job,
                                          const std::vector<Setting>& settings,
                                          std::vector<std::string>* done);
  boost::asio::awaitable<Status> Reapply(std::vector<std::string>* done);
  boost::asio::awaitable<Status> RestoreApplied(std::vector<std::string>* done);

  // Entries in `state` ("held" or "applied"), oldest first.
  Status Entries(const std::string& state, std::vector<LedgerEntry>* entries);

 private:
  // The instance's value now, for the log ("?" when it cannot be read).
  boost::asio::awaitable<std::string> ReadRecipe(const LedgerEntry& entry);
  boost::asio::awaitable<Status> WriteRecipe(const LedgerEntry& entry,
                                             const std::string& value);

  Store* store_;
  Machine* machine_;
};

}  // namespace hone
