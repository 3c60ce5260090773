#include "daemon/tuner/tuning_session.h"

#include "daemon/optimizer/gp.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hone {

using nlohmann::json;

namespace {
// Give up when the strategy keeps proposing explored configurations.
constexpr int kMaxDuplicateProposals = 10000;
// The recommendation's model takes every sample up to this many, trial means past it.
constexpr int64_t kMaxModelSamples = 400;
// The recommendation's model covers at most this many trials, those with the best
// means (the recommendation is chosen among the best): its memory and time stay
// bounded whatever the budget.
constexpr size_t kMaxModelTrials = 1000;
// The final race: how many leading trials it measures again, and how many samples
// each may reach (in confirm_samples).
constexpr size_t kRaceWidth = 3;
constexpr int kRaceMaxConfirmations = 6;
// The recommendation's model overrules the best mean among tied trials only when a
// challenger's lower bound beats the best mean's by this many of the challenger's
// posterior standard deviations (chosen on the bench: docs/decisions/search-tuning-notebook.md).
constexpr double kOverruleMargin = 0.5;
// ... and only where it predicts the tied trials from the rest of the data: with
// each one's samples left out in turn, their means stray from the model's
// predictions by at most this, in mean squared standard deviations of the
// prediction. About 1 where the model describes them; for two trials, chance alone
// passes 5 once in 150 (docs/decisions/search-tuning-notebook.md).
constexpr double kMaxLeaveOutDeviation = 5;
// With constraints, spaces up to this size have their feasible configurations
// counted (about a quarter of a second at the limit), for the budget and report.
constexpr uint64_t kCountFeasibleUpTo = uint64_t{1} << 20;

// Rounds to `digits` decimals so that JSON shows 48.05, not 48.050000000000004.
double Round(double value, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}
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
  surface_.reset();  // a new history: the recommendation's model starts again
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

struct TuningSession::SurfaceModel {
  explicit SurfaceModel(const SearchSpace& space)
      : gp(space.dims(), space.Categorical()) {}
  GaussianProcess gp;
  int64_t samples = -1;    // history_.samples_valid() when last computed
  int64_t fitted_at = -1;  // history_.samples_valid() at the last hyperparameter fit
  std::vector<std::optional<PosteriorScore>> scores;
  // Per trial, its rows of the model's data [begin, end); empty ranges for none.
  std::vector<std::pair<size_t, size_t>> rows;
  // ModelFitsNear's answer for the lead trial it was last asked about.
  std::optional<std::pair<size_t, bool>> fits_near;
};

const std::vector<std::optional<TuningSession::PosteriorScore>>&
TuningSession::PosteriorScores() const {
  if (!surface_) surface_ = std::make_shared<SurfaceModel>(*space_);
  SurfaceModel& m = *surface_;
  // Only a new valid sample changes the model; a trial without one has no score
  // (the scores cover the trials there were when it was computed).
  if (m.samples == history_.samples_valid()) return m.scores;
  m.samples = history_.samples_valid();
  m.scores.clear();
  m.rows.assign(history_.trials().size(), {0, 0});
  m.fits_near.reset();
  size_t measured = static_cast<size_t>(std::count_if(
      history_.trials().begin(), history_.trials().end(), [](const TrialRecord& t) { return t.Mean(); }));
  if (measured < std::max<size_t>(5, space_->dims() + 2)) return m.scores;
  std::vector<bool> modelled(history_.trials().size());
  for (size_t i = 0; i < history_.trials().size(); ++i) modelled[i] = history_.trials()[i].Mean().has_value();
  if (measured > kMaxModelTrials) {
    std::vector<size_t> order;
    for (size_t i = 0; i < history_.trials().size(); ++i)
      if (modelled[i]) order.push_back(i);
    std::partial_sort(order.begin(), order.begin() + kMaxModelTrials, order.end(),
                      [&](size_t a, size_t b) {
                        return Better(*history_.trials()[a].Mean(), *history_.trials()[b].Mean());
                      });
    modelled.assign(history_.trials().size(), false);
    for (size_t k = 0; k < kMaxModelTrials; ++k) modelled[order[k]] = true;
  }
  bool positive = true;
  for (const TrialRecord& t : history_.trials())
    for (const SampleResult& s : t.samples)
      if (s.valid && s.value <= 0) positive = false;
  auto score = [&](double v) {
    double s = positive ? std::log(v) : v;
    return goal_ == Goal::kMax ? s : -s;
  };
  // Every sample is a point (repeats tell the model the noise), up to a limit;
  // past it, each trial's mean.
  bool per_sample = history_.samples_valid() <= kMaxModelSamples;
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (size_t i = 0; i < history_.trials().size(); ++i) {
    const TrialRecord& t = history_.trials()[i];
    size_t begin = y.size();
    if (!modelled[i]) {
      m.rows[i] = {begin, begin};
      continue;
    }
    if (per_sample) {
      for (const SampleResult& s : t.samples) {
        if (!s.valid) continue;
        x.push_back(space_->Normalized(t.config));
        y.push_back(score(s.value));
      }
    } else if (std::optional<double> mean = t.Mean()) {
      x.push_back(space_->Normalized(t.config));
      y.push_back(score(*mean));
    }
    m.rows[i] = {begin, y.size()};
  }
  // Hyperparameters are refitted as the data grows by a quarter; in between the
  // model is only conditioned on the new samples.
  if (m.fitted_at < 0 || history_.samples_valid() >= m.fitted_at + std::max<int64_t>(4, m.fitted_at / 4)) {
    m.gp.Fit(x, y, kMaxModelSamples);
    m.fitted_at = history_.samples_valid();
  } else {
    m.gp.Condition(x, y);
  }
  std::vector<std::vector<double>> points;
  for (size_t i = 0; i < history_.trials().size(); ++i)
    if (modelled[i]) points.push_back(space_->Normalized(history_.trials()[i].config));
  std::vector<GaussianProcess::Prediction> predictions = m.gp.PredictMany(points);
  size_t next = 0;
  // A trial's score is a lower bound: the posterior mean less one standard
  // deviation, so that a trial measured three times does not win a tie against
  // one measured eighteen times on a hopeful estimate.
  for (size_t i = 0; i < history_.trials().size(); ++i) {
    if (!modelled[i]) {
      m.scores.push_back(std::nullopt);
      continue;
    }
    const GaussianProcess::Prediction& p = predictions[next++];
    m.scores.push_back(PosteriorScore{p.mean - p.stddev, p.stddev});
  }
  return m.scores;
}

bool TuningSession::ModelFitsNear(const TrialRecord& lead) const {
  if (PosteriorScores().empty()) return false;
  SurfaceModel& m = *surface_;
  size_t index = static_cast<size_t>(&lead - history_.trials().data());
  if (m.fits_near && m.fits_near->first == index) return m.fits_near->second;
  // The lead and the trials tied with it, each left out of the data in turn: where
  // the surface is rougher than the model can follow (a fine ripple, as on
  // Rastrigin's function), their measured means stray from what their neighbours
  // predict by several of the model's standard deviations, and the model's ranking
  // of them is no better than a guess.
  std::vector<std::pair<size_t, size_t>> blocks;
  for (const TrialRecord* t : history_.TiedTrials(lead))
    if (size_t i = static_cast<size_t>(t - history_.trials().data()); i < m.rows.size())
      blocks.push_back(m.rows[i]);
  if (index < m.rows.size()) blocks.push_back(m.rows[index]);
  std::erase_if(blocks, [](const auto& block) { return block.first == block.second; });
  std::vector<double> z = m.gp.LeaveOutZ(blocks);
  double squares = 0;
  for (double v : z) squares += v * v;
  bool fits =
      !z.empty() && squares / static_cast<double>(z.size()) <= kMaxLeaveOutDeviation;
  m.fits_near = {index, fits};
  return fits;
}

TuningSession::Choice TuningSession::Choose() const {
  Choice choice;
  // The best mean among the confirmed trials ...
  const TrialRecord* by_mean = BestByMean();
  choice.best = choice.by_mean = by_mean;
  const std::vector<std::optional<PosteriorScore>>& posterior = PosteriorScores();
  if (!by_mean || posterior.empty()) return choice;
  // ... unless other confirmed trials are statistically tied with it: then the one
  // the model rates best, since it weighs each against its repeats and neighbours.
  // The model's ranking of close rivals is itself uncertain, so it overrules the
  // measured best only by a margin of the challenger's own standard deviation.
  double noise = RelativeNoise() * std::fabs(*by_mean->Mean());
  const TrialRecord* best = by_mean;
  double lead = posterior[static_cast<size_t>(by_mean - history_.trials().data())]->lower;
  double best_score = lead;
  for (size_t i = 0; i < history_.trials().size(); ++i) {
    const TrialRecord& t = history_.trials()[i];
    if (&t == by_mean || i >= posterior.size() || !posterior[i] || !history_.Confirmed(t)) continue;
    const PosteriorScore& score = *posterior[i];
    if (history_.Tied(t, *by_mean, noise) && score.lower > best_score &&
        score.lower > lead + kOverruleMargin * score.stddev)
      best = &t, best_score = score.lower;
  }
  if (best == by_mean) return choice;
  choice.model_pick = best;
  if (ModelFitsNear(*by_mean)) choice.best = best;
  return choice;
}

const TrialRecord* TuningSession::Best() const { return Choose().best; }

int64_t TuningSession::ConfigBudget() const {
  uint64_t size = feasible_ ? *feasible_ : space_->Size();
  uint64_t budget = static_cast<uint64_t>(settings_.max_configs);
  return static_cast<int64_t>(std::min(size, budget));
}

std::vector<std::pair<std::string, double>> TuningSession::KnobImportance() const {
  std::vector<std::pair<std::string, double>> importance;
  // The recommendation's surface model: a knob matters as much as the model's
  // length scale along it is short.
  if (PosteriorScores().empty()) return importance;
  const std::vector<double>& scales = surface_->gp.length_scales();
  double total = 0;
  std::vector<double> weight(space_->dims());
  for (size_t i = 0; i < space_->dims(); ++i) {
    weight[i] = space_->knob(i).values.size() > 1 ? 1 / scales[i] : 0;
    total += weight[i];
  }
  for (size_t i = 0; i < space_->dims(); ++i)
    importance.emplace_back(space_->knob(i).name,
                            total > 0 ? Round(100 * weight[i] / total, 1) : 0.0);
  return importance;
}

}  // namespace hone
