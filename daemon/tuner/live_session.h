// LiveSession: the decisions of a live job (workload.kind: live), without any I/O and
// without a clock of its own. A service runs on its own; the runner samples its
// metric every sampling_interval and tells the session each sample with its time,
// and the session says which configuration the service should run under from now
// on. The live runner (live_runner.h) and the live benchmark (bench/live_bench.cc,
// which runs a simulated day faster than real time) drive the same class.
//
// How it tunes (docs/live.md):
// - Time is cut into epochs of min_samples_per_config samples (and at least
//   min_dwell seconds); the first sample after a change is left out of its epoch
//   (the service is still settling). The incumbent runs in incumbent epochs (A); a
//   candidate the strategy proposes runs in candidate epochs (B) between them,
//   A B A B A, and each B epoch's mean is paired with the A epochs just before and
//   after it, interpolated at its time (PairsFromRounds, EstimatePaired): a load
//   that drifts moves both alike and cannot pick the winner. A candidate whose
//   paired improvement is shown above zero becomes the incumbent; one that cannot
//   be more than kMinGainPct better, or is not shown better after kMaxRounds B
//   epochs, is rejected. The strategy (the sync job's) learns each candidate's
//   score: the incumbent's score times the paired ratio, so that scores compare
//   across the drift.
// - Guards: a candidate sample worse than the incumbent's last epoch by more than
//   max_regression_pct, a guard metric past its limit, or a sample that cannot be
//   read reverts to the incumbent at once (the runner applies it before the next
//   sample) and marks the candidate bad for the phase.
// - No flapping: a knob moves at most its max_step per change, an epoch lasts at
//   least min_dwell, and with max_changes_per_hour a candidate starts only when
//   both its changes (there and back) fit in the last hour's allowance.
// - Phases: the incumbent's epoch means are watched for a step (a change point: two
//   epochs in a row away from the recent level by more than the noise allows, and
//   by kMinShiftPct at least). A step starts a new phase: one whose recorded level
//   for the configuration held matches is a known phase returning (its best is
//   tried first); otherwise a new phase is tuned with a fresh strategy.
// - Modes: tune (explore, then settle when the strategy converges, runs out or has
//   tried max_configs), recommend (a candidate waits as a proposal until Accept),
//   best (only each phase's known best, no exploration) and static-best (one
//   configuration, the best across the phases known, held from then on).
//
// The state that survives a restart (per phase: its levels, what was tried and its
// score, the incumbent, the best) is SaveState's JSON; LoadState reads it back as
// untrusted input and teaches the strategies again. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/space.h"
#include "common/status.h"
#include "daemon/optimizer/strategy.h"

namespace hone {

enum class LiveMode { kTune, kRecommend, kBest, kStaticBest };
std::string_view LiveModeName(LiveMode mode);
bool ParseLiveMode(std::string_view name, LiveMode* mode);

struct LiveSettings {
  double interval_s = 5;  // sampling_interval
  int epoch_samples = 5;  // min_samples_per_config
  double max_regression_pct = 10;
  double min_dwell_s = 0;
  int max_changes_per_hour = 0;  // 0: no limit
  int64_t max_configs = 100;     // configurations tried per phase, the first included
  int converge_after = 10;
  LiveMode mode = LiveMode::kTune;
  std::string strategy = "model";
  uint64_t seed = 1;
  // Per knob of the space: the largest change of its value in one step (numbers);
  // 0: none.
  std::vector<double> max_step;
  // Whether samples carry a workload signature (phase_signature): a change of it is
  // a change of phase, and a phase whose signature returns is the known one.
  bool phase_signature = false;

  // From a live job's spec, over its resolved space.
  static LiveSettings From(const JobSpec& spec, const SearchSpace& space);
};

// One sample of the service, as the runner took it.
struct LiveSample {
  double at = 0;  // seconds on any clock that does not go back
  bool valid = false;
  double value = 0;  // the target metric, when valid
  std::string error;
  // A guard metric past its limit ("latency 61.2 > 50"); empty: none.
  std::string guard_violation;
  // The workload's signature while the sample was taken (the programs that used the
  // CPU, phase_signature: processes); empty: none known.
  std::string signature;
};

// What the service should run under from now on.
struct LiveDecision {
  bool change = false;  // `config` differs from what it ran under
  Config config;
  bool revert = false;  // a guard's revert to the incumbent
  std::string reason;
};

// A change of configuration, for status and the report.
struct LiveChange {
  double at = 0;
  int phase = 0;
  nlohmann::json from, to;
  std::string reason;
};

class LiveSession {
 public:
  // A candidate whose paired improvement's 95% interval lies below this is not
  // worth keeping on trial.
  static constexpr double kMinGainPct = 1.0;
  // B epochs a candidate gets at most.
  static constexpr int kMaxRounds = 4;
  // A step of the incumbent's level smaller than this is never a new phase.
  static constexpr double kMinShiftPct = 10.0;
  // Phases remembered, and changes kept for status and the report.
  static constexpr size_t kMaxPhases = 32;
  static constexpr size_t kRecentChanges = 20;

  // `space` must outlive the session. The service runs under `current` (what the
  // machine holds: the space's default for a new job).
  LiveSession(LiveSettings settings, Goal goal, const SearchSpace* space);

  // What to add to a sample's time to make it Unix seconds, for what status shows
  // (the runner measures on a monotonic clock).
  void set_wall_offset(double offset) { wall_offset_ = offset; }
  // Before the first sample: the configuration the service runs under now, and when.
  void Start(double now, const Config& current);
  LiveDecision Observe(const LiveSample& sample);
  // The configuration the last decision asked for could not be applied (the write
  // was undone: the machine runs what it ran). A candidate is reverted and marked
  // bad; the incumbent is asked for again.
  LiveDecision ApplyFailed(double now, const std::string& why);

  // recommend mode: the candidate that waits for Accept, if any.
  const std::optional<Config>& proposal() const { return proposal_; }
  Status Accept();

  const Config& holding() const { return holding_; }
  const SearchSpace* space() const { return space_; }
  int phase() const { return current_; }
  bool settled() const;
  int64_t changes() const { return changes_total_; }
  int64_t reverts() const { return reverts_; }
  int64_t samples() const { return samples_; }
  const std::deque<LiveChange>& recent_changes() const { return recent_; }

  // What `hone status` shows: the phase, the incumbent and its value, the trial in
  // progress, the guard, the last changes.
  nlohmann::json Snapshot() const;
  // The report: each phase's best and its improvement over the configuration the
  // phase began under, the changes, the guard's reverts.
  nlohmann::json Report() const;

  // The state a restart needs (bounded: kMaxPhases phases, at most max_configs
  // configurations each).
  nlohmann::json SaveState() const;
  // Reads SaveState's JSON, as untrusted: anything out of shape is an error and
  // leaves the session as it was. Call before Start.
  hone::Status LoadState(const nlohmann::json& state);

 private:
  struct Tried {
    Config config;
    std::optional<double> score;  // relative to the phase's first configuration
    bool bad = false;             // reverted by a guard, or its samples failed
    std::string why;
    // It ran as the incumbent: the phase began under it, or it was promoted. Only
    // those can be a phase's best; a rejected candidate's score is a point estimate
    // the comparison did not establish.
    bool established = false;
  };
  struct Level {
    Config config;
    double value = 0;
  };
  struct Phase {
    int id = 0;
    std::unique_ptr<Strategy> strategy;
    std::map<std::string, Tried> tried;  // by SearchSpace::Key
    // The last epoch mean of each configuration measured in the phase.
    std::map<std::string, Level> level;
    Config incumbent;
    Config began;  // the configuration the phase began under (score 1)
    double incumbent_score = 1;
    bool settled = false;
    double started_at = 0;
    // Configurations to try before the strategy's own (other phases' bests).
    std::vector<Config> seeds;
    // The workload's signature in the phase's incumbent epochs; empty: none known.
    std::string signature;
  };
  enum class Role { kIncumbent, kCandidate };
  struct Epoch {
    Role role = Role::kIncumbent;
    double start = 0, end = 0;
    int skip = 0;  // samples still to leave out after a change
    double sum = 0;
    int count = 0;
    double sum2 = 0;  // of the squares
    int seen = 0;     // samples observed, counted or not
    std::map<std::string, int> signatures;  // samples by workload signature
  };
  // An epoch of `role` from `now`, leaving out its first `skip` samples.
  static Epoch NewEpoch(Role role, double now, int skip);
  // The candidate on trial: its epochs' means and the incumbent's, by round.
  struct Trial {
    Config config;
    std::map<int, std::pair<double, double>> reference;  // round -> (mean, time)
    std::map<int, std::pair<double, double>> candidate;
    int round = 0;
    bool returning = false;  // a known phase's best, tried first when it returns
  };

  Phase& phase_ref() { return *phases_.at(static_cast<size_t>(current_index_)); }
  const Phase& phase_ref() const {
    return *phases_.at(static_cast<size_t>(current_index_));
  }
  // A new phase under the configuration held, made the current one.
  Phase& NewPhase(double now);
  std::unique_ptr<Strategy> MakePhaseStrategy(int id) const;
  bool Worse(double value, double reference, double pct) const;
  bool EpochDone(double now) const;
  LiveDecision SwitchTo(double now, const Config& config, Role role, std::string reason);
  LiveDecision EndCandidateEpoch(double now);
  LiveDecision EndIncumbentEpoch(double now);
  // A guard's revert; `ratio`: the offending sample over the incumbent's level, when
  // it was a value (nullopt: the metric failed, or a guard metric).
  LiveDecision Revert(double now, std::string why, std::optional<double> ratio);
  // In a phase that returns (or after a restart): its best is tried first.
  void StartReturn();
  // The established configuration of the phase with the best score.
  const Tried* BestTried(const Phase& phase) const;
  // The next candidate of the phase (mode permitting), within max_step of the
  // incumbent and not tried in the phase; nullopt when there is none now.
  std::optional<Config> NextCandidate();
  std::optional<Config> Reachable(const Config& proposal) const;
  bool MayChange(double now, int changes) const;
  // Ends the trial: the candidate's score (nullopt: it failed) for the strategy, and
  // whether a guard reverted it.
  void Conclude(std::optional<double> score, bool bad, std::string why);
  // A change point in the incumbent's levels: the new phase's level, or nullopt.
  std::optional<double> ChangePoint();
  // A change of the workload's signature (`signature`: the incumbent epoch's, of
  // mean `mean`): the new phase's level, or nullopt.
  std::optional<double> SignatureChange(double mean, const std::string& signature);
  // The phase that begins at `level` under the workload signature `signature`: a known
  // one (the same signature, or without signatures the same level of the
  // configuration held) returns, or a new one begins.
  void EnterPhase(double now, double level, const std::string& signature);
  double EpochNoise() const;
  // The relative noise of one sample, pooled over the incumbent's epochs.
  double SampleNoise() const;
  // How much worse than the incumbent a candidate's sample may be before the guard
  // reverts, in percent: max_regression_pct, less three times the noise of one
  // sample, so that a configuration worse by max_regression_pct is caught at the
  // first sample of its epoch with probability 99.9%, not only when its noise lets it
  // show. At the first sample never less than 0 (a sample no worse than the incumbent
  // stays); later, at least half of max_regression_pct, so that a candidate that
  // passed its first sample is not reverted on the noise of one of the next.
  double GuardPct(bool first_sample) const;
  // A change of configuration (counted), and a line of the recent changes only.
  void Note(double now, const Config& from, const Config& to, std::string reason);
  void Log(double now, const Config& from, const Config& to, std::string reason);
  std::optional<Config> StaticBest() const;
  nlohmann::json DescribePhase(const Phase& phase) const;

  LiveSettings settings_;
  Goal goal_;
  const SearchSpace* space_;
  std::vector<std::unique_ptr<Phase>> phases_;
  int current_index_ = 0;
  int current_ = 0;  // the phase's id
  int next_phase_id_ = 1;
  Config holding_;
  Epoch epoch_;
  std::optional<Trial> trial_;
  std::optional<Config> proposal_;  // recommend mode
  bool accepted_ = false;
  bool static_done_ = false;
  // The incumbent's recent epoch means (since it became the incumbent or the phase
  // began), the change-point test's input, and a pending step.
  std::deque<double> levels_;
  std::optional<double> suspect_;
  // An incumbent epoch whose workload signature differed from the phase's: the
  // signature and the epoch's mean. A second such epoch in a row changes the phase.
  std::optional<std::pair<std::string, double>> signature_suspect_;
  // Relative differences of successive incumbent epochs, for the epoch noise.
  double noise_sum_ = 0;
  int noise_count_ = 0;
  // Squared relative deviations of incumbent samples from their epoch's mean, and
  // their degrees of freedom.
  double sample_noise_sum_ = 0;
  int sample_noise_dof_ = 0;
  std::optional<double> guard_reference_;
  std::deque<double> change_times_;  // the last hour's changes
  std::deque<LiveChange> recent_;
  int64_t changes_total_ = 0, reverts_ = 0, samples_ = 0, invalid_ = 0;
  std::string last_revert_;
  bool started_ = false;
  double wall_offset_ = 0;
};

}  // namespace hone
