// SampleResult: one measurement of one configuration, as the tuner records it and
// the store keeps it. A leaf header: the store and the tuner both use it.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace hone {

struct SampleResult {
  bool valid = false;
  double value = 0;       // the target metric, when valid
  std::string error;      // why it is invalid
  double duration_s = 0;  // the workload's wall-clock time
  // Stopped part way because it was clearly worse than the best (early_stop_pct):
  // valid, and `value` is what it had reached, a bound the full run would not have
  // bettered. Such a trial is not measured again and is never recommended.
  bool stopped_early = false;
  // Taken by the final comparison (race_pct): the baseline and the finalists
  // measured alternately after the search.
  bool race = false;
  // Unix seconds when the sample was recorded; 0 when not known (the bench, tests,
  // and samples stored before honed kept it).
  double taken_at = 0;
  // The final comparison's round the sample belongs to (1, 2, ...); 0 when it is
  // not part of it. A finalist's sample of round r pairs with the baseline's samples
  // of rounds r and r + 1, taken just before and after it (PairsFromRounds).
  int round = 0;
  // The job's other metrics, read with this sample, by name (those that could be
  // read): shown beside the target in the report and `hone trials`, and checked by
  // their guards.
  std::map<std::string, double> metrics = {};
  // How many CPUs processes other than the sample's own kept busy, on average, while
  // it ran (/proc/stat, less the workload's own CPU time); nullopt: not measured.
  std::optional<double> other_cpu = std::nullopt;
  // other_cpu was above the job's interference limit (max_interference_pct). A
  // sample measured again for it is set aside: invalid, with an error saying so, and
  // never in the statistics (TrialRecord::set_aside). One kept because its repeats
  // ran out is valid and stays flagged.
  bool interfered = false;
  // Set aside for interference and measured again (see `interfered`).
  bool SetAside() const { return interfered && !valid; }
  // Made invalid by a broken guard (TuningSession::GuardViolation): its error says
  // which, after kGuardError.
  bool BrokeGuard() const;
};

// How the error of a sample that broke a guard begins.
inline constexpr const char* kGuardError = "guard: ";

inline bool SampleResult::BrokeGuard() const {
  return !valid && error.starts_with(kGuardError);
}

}  // namespace hone
