#include "daemon/tuner/recommendation.h"

#include <algorithm>
#include <cmath>

#include "common/report.h"
#include "daemon/optimizer/gp.h"

namespace hone {

namespace {

// The recommendation's model takes every sample up to this many, trial means past it.
constexpr int64_t kMaxModelSamples = 400;
// The recommendation's model covers at most this many trials, those with the best
// means (the recommendation is chosen among the best): its memory and time stay
// bounded whatever the budget.
constexpr size_t kMaxModelTrials = 1000;
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

}  // namespace

struct Recommendation::SurfaceModel {
  explicit SurfaceModel(const SearchSpace& space)
      : gp(space.dims(), space.Categorical()) {}
  GaussianProcess gp;
  int64_t samples = -1;    // history_->samples_valid() when last computed
  int64_t fitted_at = -1;  // history_->samples_valid() at the last hyperparameter fit
  std::vector<std::optional<PosteriorScore>> scores;
  // Per trial, its rows of the model's data [begin, end); empty ranges for none.
  std::vector<std::pair<size_t, size_t>> rows;
  // ModelFitsNear's answer for the lead trial it was last asked about.
  std::optional<std::pair<size_t, bool>> fits_near;
};

const std::vector<std::optional<Recommendation::PosteriorScore>>&
Recommendation::PosteriorScores() const {
  if (!surface_) surface_ = std::make_shared<SurfaceModel>(*space_);
  SurfaceModel& m = *surface_;
  // Only a new valid sample changes the model; a trial without one has no score
  // (the scores cover the trials there were when it was computed).
  if (m.samples == history_->samples_valid()) return m.scores;
  m.samples = history_->samples_valid();
  m.scores.clear();
  m.rows.assign(history_->trials().size(), {0, 0});
  m.fits_near.reset();
  size_t measured = static_cast<size_t>(std::count_if(
      history_->trials().begin(), history_->trials().end(), [](const TrialRecord& t) { return t.Mean(); }));
  if (measured < std::max<size_t>(5, space_->dims() + 2)) return m.scores;
  std::vector<bool> modelled(history_->trials().size());
  for (size_t i = 0; i < history_->trials().size(); ++i) modelled[i] = history_->trials()[i].Mean().has_value();
  if (measured > kMaxModelTrials) {
    std::vector<size_t> order;
    for (size_t i = 0; i < history_->trials().size(); ++i)
      if (modelled[i]) order.push_back(i);
    std::partial_sort(order.begin(), order.begin() + kMaxModelTrials, order.end(),
                      [&](size_t a, size_t b) {
                        return history_->Better(*history_->trials()[a].Mean(), *history_->trials()[b].Mean());
                      });
    modelled.assign(history_->trials().size(), false);
    for (size_t k = 0; k < kMaxModelTrials; ++k) modelled[order[k]] = true;
  }
  bool positive = true;
  for (const TrialRecord& t : history_->trials())
    for (const SampleResult& s : t.samples)
      if (s.valid && s.value <= 0) positive = false;
  auto score = [&](double v) {
    double s = positive ? std::log(v) : v;
    return goal_ == Goal::kMax ? s : -s;
  };
  // Every sample is a point (repeats tell the model the noise), up to a limit;
  // past it, each trial's mean.
  bool per_sample = history_->samples_valid() <= kMaxModelSamples;
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (size_t i = 0; i < history_->trials().size(); ++i) {
    const TrialRecord& t = history_->trials()[i];
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
  if (m.fitted_at < 0 || history_->samples_valid() >= m.fitted_at + std::max<int64_t>(4, m.fitted_at / 4)) {
    m.gp.Fit(x, y, kMaxModelSamples);
    m.fitted_at = history_->samples_valid();
  } else {
    m.gp.Condition(x, y);
  }
  std::vector<std::vector<double>> points;
  for (size_t i = 0; i < history_->trials().size(); ++i)
    if (modelled[i]) points.push_back(space_->Normalized(history_->trials()[i].config));
  std::vector<GaussianProcess::Prediction> predictions = m.gp.PredictMany(points);
  size_t next = 0;
  // A trial's score is a lower bound: the posterior mean less one standard
  // deviation, so that a trial measured three times does not win a tie against
  // one measured eighteen times on a hopeful estimate.
  for (size_t i = 0; i < history_->trials().size(); ++i) {
    if (!modelled[i]) {
      m.scores.push_back(std::nullopt);
      continue;
    }
    const GaussianProcess::Prediction& p = predictions[next++];
    m.scores.push_back(PosteriorScore{p.mean - p.stddev, p.stddev});
  }
  return m.scores;
}

bool Recommendation::ModelFitsNear(const TrialRecord& lead) const {
  if (PosteriorScores().empty()) return false;
  SurfaceModel& m = *surface_;
  size_t index = static_cast<size_t>(&lead - history_->trials().data());
  if (m.fits_near && m.fits_near->first == index) return m.fits_near->second;
  // The lead and the trials tied with it, each left out of the data in turn: where
  // the surface is rougher than the model can follow (a fine ripple, as on
  // Rastrigin's function), their measured means stray from what their neighbours
  // predict by several of the model's standard deviations, and the model's ranking
  // of them is no better than a guess.
  std::vector<std::pair<size_t, size_t>> blocks;
  for (const TrialRecord* t : history_->TiedTrials(lead))
    if (size_t i = static_cast<size_t>(t - history_->trials().data()); i < m.rows.size())
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

Recommendation::Choice Recommendation::Choose() const {
  Choice choice;
  // The best mean among the confirmed trials ...
  const TrialRecord* by_mean = history_->BestByMean();
  choice.best = choice.by_mean = by_mean;
  const std::vector<std::optional<PosteriorScore>>& posterior = PosteriorScores();
  if (!by_mean || posterior.empty()) return choice;
  // ... unless other confirmed trials are statistically tied with it: then the one
  // the model rates best, since it weighs each against its repeats and neighbours.
  // The model's ranking of close rivals is itself uncertain, so it overrules the
  // measured best only by a margin of the challenger's own standard deviation.
  double noise = history_->RelativeNoise() * std::fabs(*by_mean->Mean());
  const TrialRecord* best = by_mean;
  double lead = posterior[static_cast<size_t>(by_mean - history_->trials().data())]->lower;
  double best_score = lead;
  for (size_t i = 0; i < history_->trials().size(); ++i) {
    const TrialRecord& t = history_->trials()[i];
    if (&t == by_mean || i >= posterior.size() || !posterior[i] || !history_->Confirmed(t)) continue;
    const PosteriorScore& score = *posterior[i];
    if (history_->Tied(t, *by_mean, noise) && score.lower > best_score &&
        score.lower > lead + kOverruleMargin * score.stddev)
      best = &t, best_score = score.lower;
  }
  if (best == by_mean) return choice;
  choice.model_pick = best;
  if (ModelFitsNear(*by_mean)) choice.best = best;
  return choice;
}

std::vector<const TrialRecord*> Recommendation::Leaders(
    size_t count, bool (*keep)(const TrialRecord&)) const {
  const std::vector<std::optional<PosteriorScore>>& posterior = PosteriorScores();
  const std::vector<TrialRecord>& trials = history_->trials();
  std::vector<std::pair<double, const TrialRecord*>> ranked;  // score: higher is better
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialRecord& t = trials[i];
    if (t.baseline || !t.Mean() || !keep(t)) continue;
    if (!posterior.empty())
      if (i >= posterior.size() || !posterior[i]) continue;
    double mean = *t.Mean();
    ranked.emplace_back(posterior.empty() ? (goal_ == Goal::kMax ? mean : -mean)
                                          : posterior[i]->mean(),
                        &t);
  }
  size_t n = std::min(count, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n),
                    ranked.end(), [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first
                                                : a.second->number < b.second->number;
                    });
  std::vector<const TrialRecord*> leaders;
  for (size_t i = 0; i < n; ++i) leaders.push_back(ranked[i].second);
  return leaders;
}

std::vector<std::pair<std::string, double>> Recommendation::KnobImportance() const {
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
