#include "daemon/tuner/tuning_session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "common/report.h"

namespace hone {

using nlohmann::json;

namespace {
// Give up when the strategy keeps proposing explored configurations.
constexpr int kMaxDuplicateProposals = 10000;
// The final comparison: how many leading trials it compares with the baseline, the
// rounds it takes at least (budget allowing) and at most, and the interval it aims
// for without a sample budget: a half-width of this share of the improvement, or
// of kSettledFloorPct percentage points where that is more.
constexpr size_t kFinalists = 3;
constexpr int kMinRounds = 3;
constexpr int kMaxRounds = 10;
constexpr double kSettledShare = 0.1;
constexpr double kSettledFloorPct = 1.0;
// With constraints, spaces up to this size have their feasible configurations
// counted (about a quarter of a second at the limit), for the budget and report.
constexpr uint64_t kCountFeasibleUpTo = uint64_t{1} << 20;

// A trial may be a finalist: measured, and none of its runs failed or was stopped
// early (its next run might fail too).
bool EveryRunWhole(const TrialRecord& t) {
  return t.Mean() && std::all_of(t.samples.begin(), t.samples.end(), [](const SampleResult& s) {
           return s.valid && !s.stopped_early;
         });
}
}  // namespace

std::optional<double> EstimateSecondsLeft(const Settings& settings, int64_t budget,
                                          int64_t samples_taken, double elapsed_s) {
  if (samples_taken <= 0 || elapsed_s <= 0) return std::nullopt;
  double total = settings.min_baseline_samples +
                 static_cast<double>(std::max<int64_t>(budget - 1, 0)) *
                     settings.min_samples_per_config;
  if (settings.race_pct > 0) total /= 1 - settings.race_pct / 100.0;
  if (settings.max_samples > 0)
    total = std::min(total, static_cast<double>(settings.max_samples));
  double left = std::max(0.0, total - static_cast<double>(samples_taken)) * elapsed_s /
                static_cast<double>(samples_taken);
  if (settings.max_minutes > 0)
    left = std::min(left, std::max(0.0, settings.max_minutes * 60 - elapsed_s));
  return left;
}

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
      history_(target.goal, settings.confirm_samples, settings.race_pct > 0) {}

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
  round_ = 0;
  // A final comparison under way goes on with a new round (its baseline sample
  // closes the round it interrupted), with the finalists of the last round.
  final_ = FinalComparison{};
  int last = 0;
  for (const TrialRecord& t : trials_)
    for (const SampleResult& sample : t.samples) last = std::max(last, sample.round);
  if (last > 0) {
    final_.started = true;
    final_.round = last < INT32_MAX ? last + 1 : last;
    for (size_t i = 0; i < trials_.size(); ++i)
      if (!trials_[i].baseline &&
          std::any_of(trials_[i].samples.begin(), trials_[i].samples.end(),
                      [&](const SampleResult& sample) { return sample.round >= last - 1; }))
        final_.finalists.push_back(i);
    NarrowFinalists();
  }
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
  // Without a final comparison, a challenger is measured again until it is
  // confirmed or falls behind; with one, the finalists get their repeats there,
  // and a single sample of each configuration serves the search better.
  return settings_.race_pct <= 0 && !trial.baseline && taken < settings_.confirm_samples &&
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
    baseline.reason = "baseline: the defaults";
    history_.Add(std::move(baseline));
    current_told_ = false;
  }
  if (final_.started) {
    if (std::optional<std::string> spent = BudgetSpent(elapsed_s)) {
      step.reason = *spent;
      return step;
    }
    if (std::optional<Step> final = FinalStep()) return *final;
    step.reason = final_reason_;
    return step;
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
  int64_t needed = settings_.race_pct > 0
                       ? settings_.min_samples_per_config
                       : std::max(settings_.min_samples_per_config, settings_.confirm_samples);
  std::optional<std::string> stop;  // why no new configuration starts
  if (settings_.max_samples > 0 && left < needed)
    stop = "budget spent: max_samples (" + std::to_string(settings_.max_samples) +
           "); the " + std::to_string(left) + " left could not confirm another configuration";
  else if (configs_explored() >= settings_.max_configs)
    stop = "budget spent: max_configs (" + std::to_string(settings_.max_configs) + ")";
  if (stop && settings_.recheck_rounds > 0)
    stop = "the re-check measured its two configurations for " +
           std::to_string(settings_.recheck_rounds) + " rounds";
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
  // Before the job ends, and in the last stretch of its budget, the leaders are
  // compared with the baseline.
  if (stop || BudgetEnding(elapsed_s)) {
    final_reason_ = stop ? *stop
                         : "the final comparison settled before the budget ran out";
    if (std::optional<Step> final = FinalStep()) return *final;
  }
  if (stop) {
    step.reason = *stop;
    return step;
  }
  for (int attempt = 0; attempt < kMaxDuplicateProposals; ++attempt) {
    std::optional<Config> proposal;
    std::string why;
    if (warm_started_ < warm_start_.size()) {
      proposal = warm_start_[warm_started_++];
      why = "warm start: an earlier job's best";
    } else if (strategy_) {
      proposal = strategy_->Ask();
      why = strategy_->ProposalReason();
    }
    if (!proposal) {
      step.reason = strategy_ ? strategy_->ExhaustedReason()
                              : "every configuration of the space was explored";
      final_reason_ = step.reason;
      if (std::optional<Step> final = FinalStep()) return *final;
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
    trial.reason = why;
    size_t index = history_.Add(std::move(trial));
    current_told_ = false;
    step = SampleStep(index, true);
    step.stop_cutoff = EarlyStopCutoff();
    return step;
  }
  step.reason = "the strategy proposes only configurations already explored";
  return step;
}

Step TuningSession::SampleStep(size_t index, bool first_sample, int round) {
  const TrialRecord& trial = history_.trials()[index];
  Step step;
  step.kind = Step::Kind::kSample;
  step.config = trial.config;
  step.trial = trial.number;
  step.baseline = trial.baseline;
  step.first_sample = first_sample;
  step.race = round > 0;
  step.round = round;
  step.revisit = !first_sample && index != sampling_;
  step.reason = trial.reason;
  sampling_ = index;
  round_ = round;
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

std::optional<Step> TuningSession::FinalStep() {
  if (settings_.race_pct <= 0 || final_.over) return std::nullopt;
  const TrialRecord* baseline = Baseline();
  if (!baseline || !baseline->Mean()) return std::nullopt;
  size_t base = history_.IndexOf(*baseline);
  if (!final_.started) {
    // The finalists: the recommendation, then the leaders under the model and by
    // measured mean (the best mean first, then by mean; equal means in trial order),
    // in turn.
    final_.finalists.clear();
    std::vector<const TrialRecord*> candidates;
    if (const TrialRecord* best = Best(); best && !best->baseline && EveryRunWhole(*best))
      candidates.push_back(best);
    std::vector<const TrialRecord*> by_model =
        recommendation_.Leaders(kFinalists, EveryRunWhole);
    std::vector<const TrialRecord*> by_mean;
    for (const TrialRecord& t : history_.trials())
      if (!t.baseline && EveryRunWhole(t)) by_mean.push_back(&t);
    std::stable_sort(by_mean.begin(), by_mean.end(), [this](const TrialRecord* a, const TrialRecord* b) {
      return Better(*a->Mean(), *b->Mean());
    });
    if (const TrialRecord* lead = BestByMean())
      if (auto at = std::find(by_mean.begin(), by_mean.end(), lead); at != by_mean.end())
        std::rotate(by_mean.begin(), at, at + 1);
    if (by_mean.size() > kFinalists) by_mean.resize(kFinalists);
    for (size_t i = 0; i < kFinalists; ++i)
      for (const std::vector<const TrialRecord*>* list : {&by_model, &by_mean})
        if (i < list->size()) candidates.push_back((*list)[i]);
    for (const TrialRecord* t : candidates) {
      size_t index = history_.IndexOf(*t);
      if (final_.finalists.size() < kFinalists &&
          std::find(final_.finalists.begin(), final_.finalists.end(), index) ==
              final_.finalists.end())
        final_.finalists.push_back(index);
    }
  }
  int64_t left = settings_.max_samples > 0 ? settings_.max_samples - samples_taken()
                                           : std::numeric_limits<int64_t>::max();
  // Over once it has started; before, it may start later (more trials, a new reason).
  auto over = [this] {
    final_.over = final_.started;
    return std::nullopt;
  };
  if (final_.next == 0) {
    // The round's baseline sample; it also closes the round before. The first
    // round needs room for one finalist and the closing sample.
    if (left < 1 || (final_.round == 1 && (final_.finalists.empty() || left < 3)))
      return over();
    final_.started = true;
    final_.next = 1;
    return SampleStep(base, false, final_.round);
  }
  if (final_.next == 1 && final_.round > 1 && settings_.recheck_rounds > 0) {
    // A re-check measures its pair for the rounds it was asked for, whatever they
    // show (the budget, when there is one, still caps them).
    if (final_.round - 1 >= settings_.recheck_rounds || left < 2) return over();
  } else if (final_.next == 1 && final_.round > 1) {
    // A round is complete: go on only while it pays.
    NarrowFinalists();
    int complete = final_.round - 1;
    // A sample budget caps the rounds itself.
    if (final_.finalists.empty() || left < 2 ||
        (settings_.max_samples <= 0 && complete >= kMaxRounds) ||
        FinalComparisonSettled(complete))
      return over();
  }
  // Each finalist sample keeps one for the closing baseline sample.
  if (final_.next > final_.finalists.size() || left < 2) {
    if (final_.round == INT32_MAX) return over();
    ++final_.round;
    final_.next = 0;
    return FinalStep();
  }
  size_t index = final_.finalists[final_.next - 1];
  ++final_.next;
  return SampleStep(index, false, final_.round);
}

void TuningSession::NarrowFinalists() {
  const std::vector<TrialRecord>& trials = history_.trials();
  std::vector<size_t>& f = final_.finalists;
  std::erase_if(f, [&](size_t i) { return !EveryRunWhole(trials[i]); });
  if (f.size() < 2) return;
  // Each finalist's samples of the comparison's rounds, which were all measured
  // side by side: compared with each other, a drift of the machine cancels.
  std::map<size_t, std::map<int, Timed>> rounds;
  for (size_t i : f) rounds[i] = TrialHistory::RoundSamples(trials[i]);
  auto round_mean = [&](size_t i) {
    double sum = 0;
    for (const auto& [round, sample] : rounds[i]) sum += sample.value;
    return rounds[i].empty() ? *trials[i].Mean() : sum / static_cast<double>(rounds[i].size());
  };
  // The leader: the best mean over the rounds. Those the samples show behind it
  // leave: by the paired rounds once there are two, by the pooled noise before.
  size_t lead = *std::min_element(f.begin(), f.end(), [&](size_t a, size_t b) {
    return Better(round_mean(a), round_mean(b));
  });
  const TrialRecord& leader = trials[lead];
  double noise = RelativeNoise() * std::fabs(*leader.Mean());
  std::erase_if(f, [&](size_t i) {
    if (i == lead) return false;
    if (auto paired = EstimatePaired(PairsFromRounds(rounds[lead], rounds[i]), goal_))
      return paired->high_pct < 0;
    return !history_.Tied(trials[i], leader, noise);
  });
  std::stable_partition(f.begin(), f.end(), [&](size_t i) { return i == lead; });
}

bool TuningSession::FinalComparisonSettled(int rounds) const {
  // A sample budget is spent to its end: more rounds, a narrower interval.
  if (settings_.max_samples > 0 || rounds < std::max(kMinRounds, settings_.confirm_samples - 1) ||
      final_.finalists.empty())
    return false;
  // Settled when the leader's improvement over the baseline, and how each other
  // finalist compares with the leader, are known to within the same margin: a
  // finalist that stays tied with the leader that closely is as good a choice, and
  // more rounds to tell them apart would not pay.
  const TrialRecord& leader = history_.trials()[final_.finalists[0]];
  std::optional<PairedEstimate> paired = history_.PairedImprovement(leader);
  if (!paired) return false;
  double allowed =
      std::max(kSettledFloorPct, kSettledShare * std::fabs(paired->improvement_pct));
  auto narrow = [&](const PairedEstimate& e) { return (e.high_pct - e.low_pct) / 2 <= allowed; };
  if (!narrow(*paired)) return false;
  std::map<int, Timed> lead_rounds = TrialHistory::RoundSamples(leader);
  for (size_t k = 1; k < final_.finalists.size(); ++k) {
    std::optional<PairedEstimate> versus = EstimatePaired(
        PairsFromRounds(lead_rounds,
                        TrialHistory::RoundSamples(history_.trials()[final_.finalists[k]])),
        goal_, history_.PairedNoisePrior());
    if (!versus || !narrow(*versus)) return false;
  }
  return true;
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
  sample.race = round_ > 0;
  sample.round = round_;
  history_.AddSample(sampling_, std::move(sample));
}

void TuningSession::SetGuards(const std::vector<MetricSpec>& metrics) {
  guards_.clear();
  for (const MetricSpec& m : metrics)
    if (m.guarded()) guards_.push_back(m);
}

std::optional<std::string> TuningSession::GuardViolation(const SampleResult& sample,
                                                         bool baseline) const {
  // A run stopped early read no other metric, and is out already.
  if (baseline || !sample.valid || sample.stopped_early) return std::nullopt;
  const TrialRecord* base_trial = Baseline();
  for (const MetricSpec& m : guards_) {
    // A metric's value in a sample, and its mean over the baseline's.
    const bool target = m.name == target_.metric;
    auto it = sample.metrics.find(m.name);
    if (!target && it == sample.metrics.end())
      return std::string(kGuardError) + "metric '" + m.name + "' was not read";
    const double value = target ? sample.value : it->second;
    std::optional<double> base;
    if (base_trial) {
      if (target) {
        base = base_trial->Mean();
      } else {
        std::map<std::string, double> means = base_trial->MetricMeans();
        if (auto mean = means.find(m.name); mean != means.end()) base = mean->second;
      }
    }
    struct Limit {
      std::optional<double> value;
      std::optional<double> baseline_pct;  // relative to the baseline instead
      bool is_min;
    };
    for (const Limit& limit :
         {Limit{m.guard_min, std::nullopt, true}, Limit{m.guard_max, std::nullopt, false},
          Limit{std::nullopt, m.guard_min_baseline_pct, true},
          Limit{std::nullopt, m.guard_max_baseline_pct, false}}) {
      std::optional<double> bound = limit.value;
      std::string why;
      if (limit.baseline_pct) {
        if (!base)
          return std::string(kGuardError) + "metric '" + m.name +
                 "' has no baseline value to compare with";
        double pct = *limit.baseline_pct;
        bound = *base + std::fabs(*base) * pct / 100;
        why = " (the baseline's " + FormatValue(*base) +
              (pct == 0 ? ""
                        : (pct < 0 ? " - " : " + ") + FormatValue(std::fabs(pct)) + "%") +
              ")";
      }
      if (!bound || (limit.is_min ? value >= *bound : value <= *bound)) continue;
      return std::string(kGuardError) + "metric '" + m.name + "' was " +
             FormatValue(value) +
             (limit.is_min ? ", below its guard.min " : ", above its guard.max ") +
             FormatValue(*bound) + why;
    }
  }
  return std::nullopt;
}

void TuningSession::SetAside(SampleResult sample) {
  if (history_.trials().empty()) return;
  if (sampling_ >= history_.trials().size()) sampling_ = history_.trials().size() - 1;
  sample.race = round_ > 0;
  sample.round = round_;
  history_.SetAside(sampling_, std::move(sample));
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
