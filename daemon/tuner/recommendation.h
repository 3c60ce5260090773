// Recommendation: which trial a job recommends, and how much each knob mattered,
// from a TrialHistory and a surface model over it.
//
// Among the trials measured enough to be trusted (TrialHistory::Confirmed), the best
// mean; but among those statistically tied with it, the one whose posterior lower
// bound (mean less one standard deviation) is best under a Gaussian process fitted
// to every valid sample, so that a lucky streak on one configuration is weighed
// against its neighbours and its own repeats. The model overrules the best mean only
// by a margin (kOverruleMargin of the challenger's own standard deviation) and only
// where it predicts the tied trials from the rest of the data (ModelFitsNear). By
// plain mean while there are too few trials for a model. The model is fitted again
// only when a valid sample was added. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/space.h"
#include "daemon/tuner/trial_history.h"

namespace hone {

class Recommendation {
 public:
  // `history` and `space` must outlive it.
  Recommendation(const TrialHistory* history, const SearchSpace* space, Goal goal)
      : history_(history), space_(space), goal_(goal) {}

  // The recommendation (Best) and how it came about: the best mean, the trial the
  // model rated clearly better among those tied with it (null when none), and the
  // one chosen (the model's pick only where ModelFitsNear the best mean).
  struct Choice {
    const TrialRecord* best = nullptr;
    const TrialRecord* by_mean = nullptr;
    const TrialRecord* model_pick = nullptr;
  };
  Choice Choose() const;
  const TrialRecord* Best() const { return Choose().best; }
  // How much each knob mattered, in percent (summing to 100): the inverse length
  // scales of the surface model. Empty with fewer than max(5, knobs + 2) valid
  // trials.
  std::vector<std::pair<std::string, double>> KnobImportance() const;
  // The trials other than the baseline that pass `keep`, best first under the
  // surface model's posterior mean (which pools each with its neighbours), by
  // measured mean while there are too few trials for a model; at most `count`.
  std::vector<const TrialRecord*> Leaders(size_t count,
                                          bool (*keep)(const TrialRecord&)) const;
  // The history was replaced: the model starts again.
  void Reset() { surface_.reset(); }

 private:
  // A trial's score under the surface model (higher is better): the posterior
  // lower bound (mean less one standard deviation), and that standard deviation.
  struct PosteriorScore {
    double lower = 0;
    double stddev = 0;
    double mean() const { return lower + stddev; }
  };
  // Per trial, its PosteriorScore (none without a valid sample); empty while there
  // are too few trials. Recomputed when the samples change.
  const std::vector<std::optional<PosteriorScore>>& PosteriorScores() const;
  // Whether the surface model predicts `lead` and the trials tied with it from the
  // rest of the data well enough to rank them (see ModelFitsNear in recommendation.cc).
  bool ModelFitsNear(const TrialRecord& lead) const;


  const TrialHistory* history_;
  const SearchSpace* space_;
  Goal goal_;
  // The surface model (PosteriorScores), kept between calls.
  struct SurfaceModel;
  mutable std::shared_ptr<SurfaceModel> surface_;
};

}  // namespace hone
