// TuningSession: the decisions of a sync tuning job, without any I/O.
//
// The session says what to measure next (Next) and is told each sample's outcome
// (Record); the job's coroutine does the running. It measures the baseline first
// (min_baseline_samples samples), then asks the strategy for configurations and
// measures each min_samples_per_config times, until a budget is spent or the
// strategy has nothing left. A configuration's value is the mean of its valid
// samples; the best configuration is the one with the best value. The same class
// rebuilds the report of a job from its stored trials (Restore). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/space.h"
#include "daemon/optimizer/strategy.h"
#include "daemon/tuner/recommendation.h"
#include "daemon/tuner/sample.h"
#include "daemon/tuner/trial_history.h"

namespace hone {

struct Step {
  enum class Kind {
    kSample,  // take one sample of `config` for trial `trial`
    kDone,    // the job is over; `reason` says why
    kFailed,  // the job cannot go on; `reason` says why
  };
  Kind kind = Kind::kDone;
  Config config;
  int64_t trial = 0;
  bool baseline = false;
  bool first_sample = false;  // the trial starts with this sample
  // The sample is for the final comparison (FinalStep), in this round.
  bool race = false;
  int round = 0;
  // The sample returns to an earlier trial: its knobs must be set again, since
  // another configuration was measured since.
  bool revisit = false;
  // With early_stop_pct: stop the run once its metric is worse than this (the best
  // configuration's mean, less the margin); unset: let it run.
  std::optional<double> stop_cutoff;
  // kDone, kFailed: why. kSample: why the trial is measured (TrialRecord::reason).
  std::string reason;
};

// What the report says that the session does not know.
struct ReportContext {
  int64_t job = 0;
  std::string state;
  std::string stop_reason;
  std::string message;
  double elapsed_s = 0;
  std::string settings_file;
  int64_t warm_start_job = 0;  // the job it learned from first; 0: none
  std::vector<std::string> overrides = {};  // `--set KEY=VALUE` given at submit
  // The knobs' `description`s from the config, {knob: text}; null when none has one.
  nlohmann::json descriptions = nullptr;
  // A re-check: {"job", "trial", "against", "rounds"}; null otherwise.
  nlohmann::json recheck = nullptr;
  // Times the job was resumed after honed restarted, and honed's time down while it
  // waited (not in elapsed_s).
  int64_t resumes = 0;
  double downtime_s = 0;
};

// The seconds a sync job has left, from its time per sample so far and the samples
// its budget of `budget` configurations takes: the baseline's, then
// min_samples_per_config for each other, and the final comparison's share
// (race_pct); capped by max_samples and max_minutes. Per sample, so that the
// baseline's several samples do not read as one slow configuration. Nullopt before
// the first sample.
std::optional<double> EstimateSecondsLeft(const Settings& settings, int64_t budget,
                                          int64_t samples_taken, double elapsed_s);

class TuningSession {
 public:
  // `space` must outlive the session.
  TuningSession(const Settings& settings, const Target& target, const SearchSpace* space,
                std::unique_ptr<Strategy> strategy);

  // Configurations to measure, in order, right after the baseline and before the
  // strategy's own proposals (duplicates are skipped).
  void SetWarmStart(std::vector<Config> configs) { warm_start_ = std::move(configs); }

  // The job's guarded metrics (MetricSpec::guarded): a configuration with a sample
  // outside a guard is infeasible (GuardViolation).
  void SetGuards(const std::vector<MetricSpec>& metrics);
  // Why `sample` of a configuration other than the baseline breaks a guard: the
  // metric, its value and the limit ("guard: metric 'ratio' was 2.41, below its
  // guard.min 2.45 (the baseline's 2.50 - 2%)"); nullopt when it keeps them all.
  // The baseline is what the machine had: guards keep the search from making it
  // worse, and a limit relative to the baseline is its mean of that metric.
  std::optional<std::string> GuardViolation(const SampleResult& sample,
                                            bool baseline) const;

  // Measurements of an earlier job over the same knobs (a configuration and the
  // mean of its valid samples, nullopt when it failed): the strategy learns from
  // them before it proposes anything. They are not this job's samples: they never
  // count in its statistics or make its recommendation.
  void AddPrior(const std::vector<std::pair<Config, std::optional<double>>>& prior);
  int64_t prior_observations() const { return prior_observations_; }

  // Replaces the history with stored trials: for reports after a restart, and to
  // resume a job. The strategy learns every trial, but the last one while it still
  // needs samples (it learns that one when it is done); the next sample of any
  // earlier trial is a revisit (its knobs are set again).
  void Restore(std::vector<TrialRecord> trials);

  Step Next(double elapsed_s);
  // The outcome of the sample that the last kSample step asked for.
  void Record(SampleResult sample);
  // A sample of the same step set aside for interference (SampleResult::SetAside):
  // kept with the trial for its history; the step is measured again.
  void SetAside(SampleResult sample);

  const std::vector<TrialRecord>& trials() const { return history_.trials(); }
  const TrialHistory& history() const { return history_; }
  const TrialRecord* Baseline() const { return history_.Baseline(); }
  // The recommendation (Recommendation::Best): the best mean among the confirmed
  // trials, or the surface model's pick among those tied with it. Null when none
  // is valid.
  const TrialRecord* Best() const;
  // The statistics of the trials (TrialHistory), never a model fit: cheap enough
  // for progress at every sample.
  const TrialRecord* BestByMean(const TrialRecord* except = nullptr) const {
    return history_.BestByMean(except);
  }
  double RelativeNoise() const { return history_.RelativeNoise(); }
  std::optional<double> ImprovementPct(double value) const {
    return history_.ImprovementPct(value);
  }
  int64_t configs_explored() const {
    return static_cast<int64_t>(history_.trials().size());
  }
  // With constraints, how many configurations satisfy them, where the space is small
  // enough to count (SearchSpace::CountFeasible); nullopt otherwise.
  std::optional<uint64_t> configs_feasible() const { return feasible_; }
  // The configurations this job will explore at most: the budget or the space.
  int64_t ConfigBudget() const;
  int64_t samples_valid() const { return history_.samples_valid(); }
  int64_t samples_stopped_early() const { return history_.samples_stopped_early(); }
  int64_t samples_invalid() const { return history_.samples_invalid(); }
  int64_t samples_taken() const { return history_.samples_taken(); }

  nlohmann::json Report(const ReportContext& context) const;
  // The trial history (`hone trials`): the trials numbered after `after`, at most
  // `limit` of them and `max_bytes` of JSON (one at least), each trial's samples cut
  // at `max_samples` (with `samples_omitted`), each with its configuration, why
  // it was measured, its samples, mean, standard deviation, improvement over the
  // baseline and state (baseline, best, tied, failed, stopped early, explored).
  // `best_trial`: the recommendation's number (the stored report's); without one,
  // the best mean. "next" is the cursor for the next page, null after the last.
  nlohmann::json Trials(std::optional<int64_t> best_trial, int64_t after, size_t limit,
                        size_t max_samples, size_t max_bytes) const;
  // How much each knob mattered (Recommendation::KnobImportance).
  std::vector<std::pair<std::string, double>> KnobImportance() const {
    return recommendation_.KnobImportance();
  }

 private:
  bool TrialNeedsSample(const TrialRecord& trial) const;
  // The final comparison (docs/statistics.md): after the search, rounds of one
  // baseline sample followed by one sample of each finalist, closed by a baseline
  // sample, A B C A B C ... A, so that each finalist sample sits between two of the
  // baseline's. The finalists are the leading trials (at most kFinalists: the
  // recommendation, the model's and the measured best); a finalist the samples show
  // behind the leader, or whose run fails, leaves at the end of a round. Rounds go
  // on until a sample budget is spent; without one, until the leader's improvement
  // and the other finalists' differences from it are known closely enough
  // (FinalComparisonSettled), kMaxRounds at most. Nullopt once it is over, or with race_pct 0.
  std::optional<Step> FinalStep();
  // Whether the final comparison, with `rounds` rounds complete, can end before its
  // budget is spent.
  bool FinalComparisonSettled(int rounds) const;
  // Leaves out the finalists behind the leader of the finalists, or with a failed run.
  void NarrowFinalists();
  // The last stretch of a max_samples or max_minutes budget, kept for the final
  // comparison.
  bool BudgetEnding(double elapsed_s) const;
  Step SampleStep(size_t index, bool first_sample, int round = 0);
  // True when `trial` looks as good as the best confirmed trial (within the noise).
  bool Challenges(const TrialRecord& trial) const;
  std::optional<std::string> BudgetSpent(double elapsed_s) const;
  // The metric value past which a new configuration's first run stops early.
  std::optional<double> EarlyStopCutoff() const;
  void FinishTrial(const TrialRecord& trial);
  bool Better(double a, double b) const { return history_.Better(a, b); }
  // A trial as the report gives it: config, trial number, valid samples, mean.
  nlohmann::json Describe(const TrialRecord* trial) const;
  // The report's `tied` from the confirmed trials statistically tied with the best
  // (TrialHistory::TiedTrials, best mean first): at most kReportTied of them, and
  // their count.
  nlohmann::json DescribeTied(const std::vector<const TrialRecord*>& tied) const;
  Settings settings_;
  Target target_;
  Goal goal_;
  const SearchSpace* space_;
  std::unique_ptr<Strategy> strategy_;
  std::optional<uint64_t> feasible_;  // configs_feasible()
  std::vector<MetricSpec> guards_;    // SetGuards
  TrialHistory history_;
  Recommendation recommendation_{&history_, space_, goal_};
  bool current_told_ = false;  // the last trial has been told to the strategy
  size_t sampling_ = 0;        // the trial the last kSample step was for
  int round_ = 0;              // ... for this round of the final comparison (0: none)
  // The final comparison's progress (FinalStep).
  struct FinalComparison {
    bool started = false;
    bool over = false;
    std::vector<size_t> finalists;  // trial indexes, the leader first
    int round = 1;                  // the round being measured
    size_t next = 0;                // 0: the round's baseline sample; i: finalists[i - 1]
  };
  FinalComparison final_;
  std::string final_reason_;  // why the job ends when the final comparison does
  std::vector<Config> warm_start_;
  size_t warm_started_ = 0;  // warm_start_ entries used
  int64_t prior_observations_ = 0;
};

}  // namespace hone
