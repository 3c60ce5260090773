// ModelStrategy: the model-based search ("strategy: model").
//
// A Gaussian process (gp.h) over the knobs' option indices, scaled to [0,1], models
// the target (log-warped when every value is positive, oriented so that higher is
// better). Proposals come from three techniques: the model's expected improvement
// over every unexplored configuration (or, in large spaces, over random candidates
// and neighbours of the best ones), local moves around the incumbent, and random
// exploration. A bandit picks the technique for each proposal, crediting whichever
// found improvements. A failed configuration is learned as a poor value, so the
// model steers away from its neighbourhood. The first proposals are random (the
// initial design). Deterministic for a seed. Not thread-safe; `space` must outlive
// the strategy.
//
// Bounds, for any space the config limits admit (limits.h: 256 knobs) and any
// budget: a proposal scores at most about 4,500 candidates (600 random, 600
// neighbours of each of the 5 best, 300 each of pairs, mutations and small moves,
// or the whole space when it has at most 4,096 configurations) against a model of
// at most 1,000 observations, so its memory is O(candidates x (knobs + 1,000))
// doubles, tens of megabytes, and its time a Cholesky factor of 1,000 points plus
// the candidates' predictions.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/config.h"
#include "common/space.h"
#include "daemon/optimizer/gp.h"
#include "daemon/optimizer/strategy.h"

namespace hone {

class ModelStrategy : public Strategy {
 public:
  ModelStrategy(const SearchSpace* space, Goal goal, uint64_t seed);

  std::optional<Config> Ask() override;
  void Tell(const Config& config, std::optional<double> value) override;
  // Model proposals in a row whose expected improvement was under 0.1%.
  int QuietProposals() const override { return quiet_; }
  std::string ProposalReason() const override { return reason_; }

  enum Technique { kModel, kLocal, kRandom, kTechniques };
  // How often each technique was used and credited (for reports and tests).
  const std::array<int, kTechniques>& uses() const { return uses_; }
  const std::array<double, kTechniques>& credit() const { return credit_; }

 private:
  struct Observation {
    Config config;
    std::optional<double> value;
  };

  std::vector<double> Encode(const Config& config) const;
  // The observations the model learns from: all of them up to a bound, then the
  // best and the most recent (model_strategy.cc says the bound).
  std::vector<const Observation*> ModelData() const;
  // Observations as model inputs and scores (higher is better; failures poor).
  void Scores(const std::vector<const Observation*>& data,
              std::vector<std::vector<double>>* x, std::vector<double>* y) const;
  // Moves one random knob of `config` one step (a categorical one to another
  // option); false when the knob it drew has a single option.
  bool RandomStep(Config* config);
  const Observation* Incumbent() const;
  Technique Choose();
  std::optional<Config> AskModel();
  std::optional<Config> AskLocal();
  // The feasible configurations one knob away from `config`: an ordered knob moved
  // by each of `steps`, a categorical knob set to other options.
  std::vector<Config> Neighbours(const Config& config, std::initializer_list<int> steps,
                                 bool feasible_only = true);
  std::optional<Config> AskRandom();
  std::vector<Config> Candidates();
  bool Seen(const Config& config) const {
    return seen_.count(SearchSpace::Key(config)) > 0;
  }

  const SearchSpace* space_;
  Goal goal_;
  std::mt19937_64 rng_;
  RandomStrategy random_;
  GaussianProcess gp_;
  size_t fitted_at_ = 0;  // observations at the last hyperparameter fit
  size_t initial_design_;
  std::vector<Observation> observations_;
  std::unordered_set<std::string> seen_;  // asked or told
  std::unordered_map<std::string, Technique> proposed_by_;
  std::optional<double> best_;  // best valid value so far, in the goal's direction
  int quiet_ = 0;
  std::string reason_;  // ProposalReason()
  std::array<int, kTechniques> uses_{};
  std::array<double, kTechniques> credit_{};
};

}  // namespace hone
