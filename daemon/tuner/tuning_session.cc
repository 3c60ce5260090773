#include "daemon/tuner/tuning_session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hone {

using nlohmann::json;

namespace {
// Give up when the strategy keeps proposing explored configurations.
constexpr int kMaxDuplicateProposals = 10000;
// The final race: how many leading trials it measures again, and how many samples
// each may reach (in confirm_samples).
constexpr size_t kRaceWidth = 3;
constexpr int kRaceMaxConfirmations = 6;
// With constraints, spaces up to this size have their feasible configurations
// counted (about a quarter of a second at the limit), for the budget and report.
constexpr uint64_t kCountFeasibleUpTo = uint64_t{1} << 20;
}  // namespace

TuningSession::TuningSession(const Settings& settings, const Target& target,
                             const SearchSpace* space, std::unique_ptr<Strategy> strategy)
    : settings_(settings),
      target_(target),
      goal_(target.goal),
      space_(space),
      strategy_(std::move(strategy)),
      feasible_(space->constraints().empty()
                    ? std::nullopt
                    : space->CountFeasible(kCountFeasibleUpTo)),
      history_(target.goal, settings.confirm_samples) {}

void TuningSession::Restore(std::vector<TrialRecord> trials) {
  history_.Replace(std::move(trials));
  recommendation_.Reset();  // a new history: the recommendation's model starts again
  const std::vector<TrialRecord>& trials_ = history_.trials();
  // The last trial may be part way through its samples (a resumed job).
  current_told_ = trials_.empty() || !TrialNeedsSample(trials_.back());
  for (size_t i = 0; i < trials_.size(); ++i)
    if (strategy_ && (i + 1 < trials_.size() || current_told_))
      strategy_->Tell(trials_[i].config, trials_[i].Mean());
  sampling_ = trials_.size();  // none: whichever is sampled next needs its knobs set
  racing_ = false;
}

bool TuningSession::TrialNeedsSample(const TrialRecord& trial) const {
  int wanted =
      trial.baseline ? settings_.min_baseline_samples : settings_.min_samples_per_config;
  int taken = static_cast<int>(trial.samples.size());
  // A run stopped early showed the configuration clearly worse: no more of it.
  if (std::any_of(trial.samples.begin(), trial.samples.end(),
                  [](const SampleResult& s) { return s.stopped_early; }))
    return false;
  if (taken < wanted)
    // A configuration that failed once is not measured again; the baseline gets all
    // its tries, since nothing can be compared without it.
    return trial.baseline || trial.samples.empty() || trial.valid_count() > 0;
  // A challenger is measured again until it is confirmed or falls behind.
  return !trial.baseline && taken < settings_.confirm_samples &&
         trial.valid_count() == taken && Challenges(trial);
}

bool TuningSession::Challenges(const TrialRecord& trial) const {
  std::optional<double> mean = trial.Mean();
  const TrialRecord* incumbent = BestByMean(&trial);
  if (!mean || !incumbent) return mean.has_value();
  // Within two standard errors of one sample of the incumbent counts as a tie.
  double band = 2 * RelativeNoise() * std::fabs(*incumbent->Mean());
  return goal_ == Goal::kMax ? *mean >= *incumbent->Mean() - band
                             : *mean <= *incumbent->Mean() + band;
}

std::optional<std::string> TuningSession::BudgetSpent(double elapsed_s) const {
  if (settings_.max_samples > 0 &&
      samples_taken() >= settings_.max_samples)
    return "budget spent: max_samples (" + std::to_string(settings_.max_samples) + ")";
  if (settings_.max_minutes > 0 && elapsed_s >= settings_.max_minutes * 60)
    return "budget spent: max_minutes (" + json(settings_.max_minutes).dump() + ")";
  return std::nullopt;
}

void TuningSession::FinishTrial(const TrialRecord& trial) {
  if (strategy_) strategy_->Tell(trial.config, trial.Mean());
  current_told_ = true;
}

Step TuningSession::Next(double elapsed_s) {
  Step step;
  if (history_.trials().empty()) {
    TrialRecord baseline;
    baseline.number = 0;
    baseline.baseline = true;
    baseline.config = space_->Default();
    history_.Add(std::move(baseline));
    current_told_ = false;
  }
  const TrialRecord& current = history_.trials().back();
  if (TrialNeedsSample(current)) {
    // A spent budget also cuts a trial short (all but the baseline's first samples);
    // an unconfirmed challenger then simply cannot be the recommendation.
    std::optional<std::string> spent =
        current.baseline ? std::nullopt : BudgetSpent(elapsed_s);
    if (spent && !current.samples.empty()) {
      if (!current_told_) FinishTrial(current);
      step.reason = *spent;
      return step;
    }
    return SampleStep(history_.trials().size() - 1, current.samples.empty());
  }
  if (!current_told_) FinishTrial(current);
  if (current.baseline && current.valid_count() == 0) {
    step.kind = Step::Kind::kFailed;
    std::string why =
        current.samples.empty() ? "no sample was taken" : current.samples.back().error;
    step.reason = "the baseline configuration produced no valid sample (" + why +
                  "); nothing can be compared against it";
    return step;
  }
  if (auto spent = BudgetSpent(elapsed_s)) {
    step.reason = *spent;
    return step;
  }
  // A new configuration may need confirm_samples samples before it can be
  // recommended; with fewer left, its runs would be spent on a result that cannot
  // count.
  int64_t left = settings_.max_samples - samples_taken();
  int64_t needed = std::max(settings_.min_samples_per_config, settings_.confirm_samples);
  std::optional<std::string> stop;  // why no new configuration starts
  if (settings_.max_samples > 0 && left < needed)
    stop = "budget spent: max_samples (" + std::to_string(settings_.max_samples) +
           "); the " + std::to_string(left) + " left could not confirm another configuration";
  else if (configs_explored() >= settings_.max_configs)
    stop = "budget spent: max_configs (" + std::to_string(settings_.max_configs) + ")";
  if (!stop && settings_.target_improvement_pct > 0) {
    const TrialRecord* best = Best();
    std::optional<double> pct = best ? ImprovementPct(*best->Mean()) : std::nullopt;
    if (pct && *pct >= settings_.target_improvement_pct) {
      char text[96];
      snprintf(text, sizeof text, "target improvement reached: %+.2f%% >= %g%%", *pct,
               settings_.target_improvement_pct);
      step.reason = text;
      return step;
    }
  }
  if (!stop && strategy_ && settings_.converge_after > 0 &&
      strategy_->QuietProposals() >= settings_.converge_after)
    stop = "converged: the model expected under 0.1% improvement from " +
           std::to_string(strategy_->QuietProposals()) + " proposals in a row";
  // Before the job ends, and in the last stretch of its budget, the leaders race.
  if (stop || BudgetEnding(elapsed_s))
    if (std::optional<Step> race = RaceStep()) return *race;
  if (stop) {
    step.reason = *stop;
    return step;
  }
  for (int attempt = 0; attempt < kMaxDuplicateProposals; ++attempt) {
    std::optional<Config> proposal;
    if (warm_started_ < warm_start_.size())
      proposal = warm_start_[warm_started_++];
    else if (strategy_)
      proposal = strategy_->Ask();
    if (!proposal) {
      if (std::optional<Step> race = RaceStep()) return *race;
      step.reason = strategy_ ? strategy_->ExhaustedReason()
                              : "every configuration of the space was explored";
      return step;
    }
    // Strategies propose feasible configurations only; never measure another.
    if (!space_->Feasible(*proposal)) {
      if (strategy_) strategy_->Tell(*proposal, std::nullopt);
      continue;
    }
    if (std::optional<size_t> known = history_.Find(*proposal)) {
      strategy_->Tell(*proposal, history_.trials()[*known].Mean());
      continue;
    }
    TrialRecord trial;
    trial.number = history_.trials().back().number + 1;
    trial.config = *proposal;
    size_t index = history_.Add(std::move(trial));
    current_told_ = false;
    step = SampleStep(index, true);
    step.stop_cutoff = EarlyStopCutoff();
    return step;
  }
  step.reason = "the strategy proposes only configurations already explored";
  return step;
}

Step TuningSession::SampleStep(size_t index, bool first_sample, bool race) {
  const TrialRecord& trial = history_.trials()[index];
  Step step;
  step.kind = Step::Kind::kSample;
  step.config = trial.config;
  step.trial = trial.number;
  step.baseline = trial.baseline;
  step.first_sample = first_sample;
  step.race = race;
  step.revisit = !first_sample && index != sampling_;
  sampling_ = index;
  racing_ = race;
  return step;
}

bool TuningSession::BudgetEnding(double elapsed_s) const {
  double share = settings_.race_pct / 100.0;
  if (settings_.max_samples > 0 &&
      settings_.max_samples - samples_taken() <=
          std::ceil(share * static_cast<double>(settings_.max_samples)))
    return true;
  return settings_.max_minutes > 0 && elapsed_s >= (1 - share) * settings_.max_minutes * 60;
}

std::optional<Step> TuningSession::RaceStep() {
  if (settings_.race_pct <= 0) return std::nullopt;
  // The race's share of the samples taken so far (a few at least).
  double taken = static_cast<double>(samples_taken());
  if (static_cast<double>(history_.samples_race()) >=
      std::max<double>(kRaceWidth, std::ceil(settings_.race_pct / 100.0 * taken)))
    return std::nullopt;
  std::optional<size_t> index = RaceTrial();
  if (!index) return std::nullopt;
  return SampleStep(*index, false, true);
}

std::optional<size_t> TuningSession::RaceTrial() const {
  const TrialRecord* lead = BestByMean();
  if (!lead) return std::nullopt;
  // A trial with a failed or stopped run is not raced: its next run may fail too.
  std::vector<const TrialRecord*> field = history_.TiedTrials(*lead, [](const TrialRecord& t) {
    return std::all_of(t.samples.begin(), t.samples.end(),
                       [](const SampleResult& s) { return s.valid && !s.stopped_early; });
  });
  if (field.empty()) return std::nullopt;
  if (field.size() > kRaceWidth - 1) field.resize(kRaceWidth - 1);
  field.insert(field.begin(), lead);
  size_t cap = static_cast<size_t>(
      kRaceMaxConfirmations *
      std::max({settings_.confirm_samples, settings_.min_samples_per_config, 1}));
  const TrialRecord* pick = nullptr;  // the least measured; the better of equals
  for (const TrialRecord* t : field)
    if (t->samples.size() < cap && (!pick || t->samples.size() < pick->samples.size()))
      pick = t;
  if (!pick) return std::nullopt;
  return static_cast<size_t>(pick - history_.trials().data());
}

std::optional<double> TuningSession::EarlyStopCutoff() const {
  if (settings_.early_stop_pct <= 0) return std::nullopt;
  const TrialRecord* best = Best();
  if (!best) return std::nullopt;
  // "Clearly worse": by the margin asked for, and by at least three times the
  // noise of one sample, so that noise alone never stops a run.
  double margin = std::max(settings_.early_stop_pct / 100, 3 * RelativeNoise());
  double mean = *best->Mean();
  return goal_ == Goal::kMax ? mean - margin * std::fabs(mean)
                             : mean + margin * std::fabs(mean);
}

void TuningSession::Record(SampleResult sample) {
  if (history_.trials().empty()) return;
  if (sampling_ >= history_.trials().size()) sampling_ = history_.trials().size() - 1;
  sample.race = racing_;
  history_.AddSample(sampling_, std::move(sample));
}

void TuningSession::AddPrior(
    const std::vector<std::pair<Config, std::optional<double>>>& prior) {
  if (!strategy_) return;
  for (const auto& [config, value] : prior) {
    if (!space_->Contains(config)) continue;
    strategy_->Tell(config, value);
    ++prior_observations_;
  }
}

const TrialRecord* TuningSession::Best() const { return recommendation_.Choose().best; }

int64_t TuningSession::ConfigBudget() const {
  uint64_t size = feasible_ ? *feasible_ : space_->Size();
  uint64_t budget = static_cast<uint64_t>(settings_.max_configs);
  return static_cast<int64_t>(std::min(size, budget));
}

}  // namespace hone
