#include "daemon/optimizer/model_strategy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hone {

namespace {
// Spaces up to this size are scored exhaustively by the model.
constexpr uint64_t kEnumerateLimit = 4096;
constexpr size_t kRandomCandidates = 600;
constexpr size_t kMutationCandidates = 300;
constexpr size_t kPerturbCandidates = 300;
constexpr size_t kPairCandidates = 300;
// Up to this many observations every kind of candidate comes in full number.
constexpr size_t kFullCandidatesUpTo = 250;
// At most this many other options of a categorical knob count as its neighbours.
constexpr size_t kCategoricalMoves = 8;
// Refit the hyperparameters after this many new observations.
constexpr size_t kRefitEvery = 4;
// Pairs of moves around the best are enumerated (then a share kept) up to this
// many; beyond it (many knobs) they are drawn at random, so that the candidates'
// memory stays bounded whatever the number of knobs.
constexpr size_t kPairEnumerateLimit = 40'000;
// Single-knob neighbours of each of the best configurations, at most.
constexpr size_t kNeighbourCandidates = 600;
// The model sees at most this many observations: the best kModelBest and the most
// recent rest. Bounds each proposal's time (a Cholesky factor of this size) and
// memory (this many kernel rows per candidate) for any budget.
constexpr size_t kModelObservations = 1000;
constexpr size_t kModelBest = 100;
// The techniques' prior weights before any credit.
constexpr std::array<double, ModelStrategy::kTechniques> kPrior = {0.7, 0.2, 0.1};
}  // namespace

ModelStrategy::ModelStrategy(const SearchSpace* space, Goal goal, uint64_t seed)
    : space_(space),
      goal_(goal),
      rng_(seed ^ 0x9e3779b97f4a7c15ULL),
      random_(space, seed),
      gp_(space->dims(), space->Categorical()),
      initial_design_(std::min<size_t>(std::max<size_t>(5, space->dims() + 2), 12)) {}

std::vector<double> ModelStrategy::Encode(const Config& config) const {
  return space_->Normalized(config);
}

std::vector<const ModelStrategy::Observation*> ModelStrategy::ModelData() const {
  std::vector<const Observation*> used;
  for (const Observation& o : observations_) used.push_back(&o);
  if (used.size() <= kModelObservations) return used;
  // The best ones, then the most recent of the rest, in their original order.
  std::vector<size_t> order(observations_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto better = [&](size_t a, size_t b) {
    const auto& va = observations_[a].value;
    const auto& vb = observations_[b].value;
    if (!va || !vb) return va.has_value() && !vb.has_value();
    return goal_ == Goal::kMax ? *va > *vb : *va < *vb;
  };
  std::partial_sort(order.begin(), order.begin() + kModelBest, order.end(), better);
  std::vector<bool> keep(observations_.size(), false);
  for (size_t i = 0; i < kModelBest; ++i) keep[order[i]] = true;
  size_t kept = kModelBest;
  for (size_t i = observations_.size(); i-- > 0 && kept < kModelObservations;)
    if (!keep[i]) keep[i] = true, ++kept;
  used.clear();
  for (size_t i = 0; i < observations_.size(); ++i)
    if (keep[i]) used.push_back(&observations_[i]);
  return used;
}

void ModelStrategy::Scores(const std::vector<const Observation*>& data,
                           std::vector<std::vector<double>>* x,
                           std::vector<double>* y) const {
  bool positive = true;
  for (const Observation* o : data)
    if (o->value && *o->value <= 0) positive = false;
  auto score = [&](double v) {
    double s = positive ? std::log(v) : v;
    return goal_ == Goal::kMax ? s : -s;
  };
  double lo = 0, hi = 0;
  bool any = false;
  for (const Observation* o : data) {
    if (!o->value) continue;
    double s = score(*o->value);
    lo = any ? std::min(lo, s) : s;
    hi = any ? std::max(hi, s) : s;
    any = true;
  }
  // A failure counts as clearly worse than anything that worked.
  double failed = lo - std::max(0.5 * (hi - lo), 1e-3 * (std::fabs(lo) + 1));
  x->clear();
  y->clear();
  for (const Observation* o : data) {
    if (!o->value && !any) continue;
    x->push_back(Encode(o->config));
    y->push_back(o->value ? score(*o->value) : failed);
  }
}

const ModelStrategy::Observation* ModelStrategy::Incumbent() const {
  const Observation* best = nullptr;
  for (const Observation& o : observations_) {
    if (!o.value) continue;
    if (!best ||
        (goal_ == Goal::kMax ? *o.value > *best->value : *o.value < *best->value))
      best = &o;
  }
  return best;
}

ModelStrategy::Technique ModelStrategy::Choose() {
  std::array<double, kTechniques> weight;
  double total = 0;
  for (int t = 0; t < kTechniques; ++t) {
    weight[t] = kPrior[t] * (credit_[t] + 1) / (uses_[t] * 0.25 + 1);
    total += weight[t];
  }
  double pick = std::uniform_real_distribution<double>(0, total)(rng_);
  for (int t = 0; t < kTechniques; ++t) {
    if (pick < weight[t]) return static_cast<Technique>(t);
    pick -= weight[t];
  }
  return kModel;
}

std::optional<Config> ModelStrategy::Ask() {
  std::optional<Config> proposal;
  Technique technique = kRandom;
  bool have_data = Incumbent() != nullptr && observations_.size() >= initial_design_;
  if (have_data) {
    technique = Choose();
    if (technique == kModel) proposal = AskModel();
    if (technique == kLocal) proposal = AskLocal();
    if (!proposal && technique != kModel) {
      technique = kModel;
      proposal = AskModel();
    }
  }
  if (!proposal) {
    technique = kRandom;
    proposal = AskRandom();
    reason_ = have_data ? "random exploration" : "initial design (random)";
  }
  if (!proposal) return std::nullopt;
  if (technique == kLocal) reason_ = "a step from the best so far";
  ++uses_[technique];
  std::string key = SearchSpace::Key(*proposal);
  seen_.insert(key);
  proposed_by_[key] = technique;
  return proposal;
}

void ModelStrategy::Tell(const Config& config, std::optional<double> value) {
  std::string key = SearchSpace::Key(config);
  seen_.insert(key);
  random_.Tell(config, value);
  observations_.push_back({config, value});
  if (!value) return;
  bool improved = !best_ || (goal_ == Goal::kMax ? *value > *best_ : *value < *best_);
  if (improved) {
    if (best_) {
      auto by = proposed_by_.find(key);
      if (by != proposed_by_.end()) credit_[by->second] += 1;
    }
    best_ = value;
  }
}

std::optional<Config> ModelStrategy::AskRandom() {
  for (;;) {
    std::optional<Config> config = random_.Ask();
    if (!config || !Seen(*config)) return config;
  }
}

std::vector<Config> ModelStrategy::Neighbours(const Config& config,
                                              std::initializer_list<int> steps,
                                              bool feasible_only) {
  std::vector<Config> out;
  for (size_t d = 0; d < space_->dims(); ++d) {
    const Knob& knob = space_->knob(d);
    int n = static_cast<int>(knob.values.size());
    std::vector<int> moves;
    if (knob.type == KnobType::kCategorical) {
      // No order: every other option is one step away (a sample of them when there
      // are many).
      for (int v = 0; v < n; ++v)
        if (v != static_cast<int>(config[d])) moves.push_back(v);
      std::shuffle(moves.begin(), moves.end(), rng_);
      if (moves.size() > kCategoricalMoves) moves.resize(kCategoricalMoves);
    } else {
      for (int step : steps) moves.push_back(static_cast<int>(config[d]) + step);
    }
    for (int v : moves) {
      if (v < 0 || v >= n) continue;
      Config c = config;
      c[d] = static_cast<uint32_t>(v);
      if (!feasible_only || space_->Feasible(c)) out.push_back(std::move(c));
    }
  }
  return out;
}

bool ModelStrategy::RandomStep(Config* config) {
  size_t d = std::uniform_int_distribution<size_t>(0, config->size() - 1)(rng_);
  int n = static_cast<int>(space_->knob(d).values.size());
  if (n < 2) return false;
  int at = static_cast<int>((*config)[d]);
  int to;
  if (space_->knob(d).type == KnobType::kCategorical) {
    to = std::uniform_int_distribution<int>(0, n - 2)(rng_);
    if (to >= at) ++to;
  } else {
    to = at == 0 ? 1 : at == n - 1 ? n - 2 : at + ((rng_() & 1) ? 1 : -1);
  }
  (*config)[d] = static_cast<uint32_t>(to);
  return true;
}

std::optional<Config> ModelStrategy::AskLocal() {
  const Observation* incumbent = Incumbent();
  if (!incumbent) return std::nullopt;
  std::vector<Config> moves;
  for (Config& c : Neighbours(incumbent->config, {-2, -1, 1, 2}))
    if (!Seen(c)) moves.push_back(std::move(c));
  if (moves.empty()) return std::nullopt;
  return moves[std::uniform_int_distribution<size_t>(0, moves.size() - 1)(rng_)];
}

std::vector<Config> ModelStrategy::Candidates() {
  std::vector<Config> candidates;
  uint64_t size = space_->Size();
  if (size <= kEnumerateLimit) {
    for (uint64_t n = 0; n < size; ++n) {
      Config c = ConfigFromNumber(*space_, n);
      if (!Seen(c) && space_->Feasible(c)) candidates.push_back(std::move(c));
    }
    return candidates;
  }
  std::unordered_set<std::string> added;
  auto add = [&](Config c) {
    std::string key = SearchSpace::Key(c);
    if (!Seen(c) && space_->Feasible(c) && added.insert(key).second)
      candidates.push_back(std::move(c));
  };
  // Random configurations; where constraints exclude many, more draws to find some.
  // Every candidate costs a prediction, and a prediction's cost grows with the
  // observations: past kFullCandidatesUpTo of them, fewer candidates of each kind
  // (the model then knows the space well, and the search is mostly local).
  double share = std::clamp(static_cast<double>(kFullCandidatesUpTo) /
                                static_cast<double>(std::max<size_t>(1, observations_.size())),
                            0.5, 1.0);
  auto scaled = [share](size_t count) { return static_cast<size_t>(count * share); };
  int wanted = static_cast<int>(scaled(kRandomCandidates));
  for (size_t draws = 0; wanted > 0 && draws < 20 * kRandomCandidates; ++draws) {
    Config c = RandomConfig(*space_, rng_);
    if (!space_->Feasible(c)) continue;
    --wanted;
    add(std::move(c));
  }
  // Around the best configurations: every single-knob step, and random mutations.
  std::vector<const Observation*> top;
  for (const Observation& o : observations_)
    if (o.value) top.push_back(&o);
  std::sort(top.begin(), top.end(), [&](const Observation* a, const Observation* b) {
    return goal_ == Goal::kMax ? *a->value > *b->value : *a->value < *b->value;
  });
  if (top.size() > 5) top.resize(5);
  for (const Observation* o : top) {
    std::vector<Config> near = Neighbours(o->config, {-1, 1});
    if (near.size() > kNeighbourCandidates) {
      std::shuffle(near.begin(), near.end(), rng_);
      near.resize(kNeighbourCandidates);
    }
    for (Config& c : near) add(std::move(c));
  }
  // Two knobs at once around the best: constraints often couple them, so that no
  // single step from a good configuration stays feasible.
  // Many knobs make many pairs: a random share of them, to bound the cost.
  if (!top.empty()) {
    std::vector<Config> firsts = Neighbours(top[0]->config, {-1, 1}, false);
    std::vector<Config> pairs;
    if (firsts.size() * firsts.size() <= kPairEnumerateLimit) {
      for (const Config& first : firsts)
        for (Config& c : Neighbours(first, {-1, 1})) pairs.push_back(std::move(c));
      if (pairs.size() > scaled(kPairCandidates)) {
        std::shuffle(pairs.begin(), pairs.end(), rng_);
        pairs.resize(scaled(kPairCandidates));
      }
    } else {
      for (size_t i = 0; i < scaled(kPairCandidates); ++i) {
        Config c = firsts[std::uniform_int_distribution<size_t>(0, firsts.size() - 1)(rng_)];
        if (RandomStep(&c) && space_->Feasible(c)) pairs.push_back(std::move(c));
      }
    }
    for (Config& c : pairs) add(std::move(c));
  }
  for (size_t i = 0; i < scaled(kMutationCandidates) && !top.empty(); ++i) {
    Config c = top[static_cast<size_t>(i) % top.size()]->config;
    for (int m = 0; m < 3; ++m) {
      size_t d = std::uniform_int_distribution<size_t>(0, c.size() - 1)(rng_);
      c[d] = static_cast<uint32_t>(std::uniform_int_distribution<size_t>(
          0, space_->knob(d).values.size() - 1)(rng_));
    }
    add(std::move(c));
  }
  // Small moves of a few knobs at once around the best: in many dimensions a good
  // step changes several knobs a little, which neither single-knob moves nor
  // random reassignments find.
  for (size_t i = 0; i < scaled(kPerturbCandidates) && !top.empty(); ++i) {
    Config c = top[0]->config;
    int moves = 1 + std::min(3, static_cast<int>(std::geometric_distribution<int>(0.5)(rng_)));
    for (int m = 0; m < moves; ++m) {
      size_t d = std::uniform_int_distribution<size_t>(0, c.size() - 1)(rng_);
      int n = static_cast<int>(space_->knob(d).values.size());
      if (n < 2) continue;
      if (space_->knob(d).type == KnobType::kCategorical) {
        c[d] = static_cast<uint32_t>(std::uniform_int_distribution<int>(0, n - 1)(rng_));
      } else {
        int step = std::uniform_int_distribution<int>(1, std::max(1, n / 10))(rng_);
        if (rng_() & 1) step = -step;
        c[d] = static_cast<uint32_t>(std::clamp(static_cast<int>(c[d]) + step, 0, n - 1));
      }
    }
    add(std::move(c));
  }
  return candidates;
}

std::optional<Config> ModelStrategy::AskModel() {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  std::vector<const Observation*> data = ModelData();
  Scores(data, &x, &y);
  if (x.size() < 2) return std::nullopt;
  if (fitted_at_ == 0 || observations_.size() >= fitted_at_ + kRefitEvery) {
    gp_.Fit(x, y, 120);
    fitted_at_ = observations_.size();
  } else {
    gp_.Condition(x, y);
  }
  // Noisy EI: improve on the best posterior mean among the configurations measured.
  double best = -std::numeric_limits<double>::infinity();
  for (double mean : gp_.TrainingMeans()) best = std::max(best, mean);
  // Where configurations have failed, the chance that a candidate works is the
  // kernel-weighted share of working configurations around it (near points count
  // most, and far from all data the nearest still decide); expected improvement
  // is weighed by it.
  bool any_failed = std::any_of(data.begin(), data.end(),
                                [](const Observation* o) { return !o->value; });
  std::vector<std::vector<double>> observed;
  for (const Observation* o : data) observed.push_back(Encode(o->config));
  auto feasibility = [&](const std::vector<double>& point) {
    double works = 0, total = 0;
    for (size_t i = 0; i < observed.size(); ++i) {
      double w = gp_.Correlation(point, observed[i]) + 1e-300;
      total += w;
      if (data[i]->value) works += w;
    }
    return total > 0 ? works / total : 1.0;
  };
  std::vector<Config> candidates = Candidates();
  std::vector<double> ei(candidates.size()), uncertainty(candidates.size());
  std::vector<std::vector<double>> points;
  points.reserve(candidates.size());
  for (const Config& c : candidates) points.push_back(Encode(c));
  std::vector<GaussianProcess::Prediction> predictions = gp_.PredictMany(points);
  double best_ei = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    double works = any_failed ? feasibility(points[i]) : 1.0;
    ei[i] = ExpectedImprovement(predictions[i], best) * works;
    uncertainty[i] = predictions[i].stddev * works * works;
    best_ei = std::max(best_ei, ei[i]);
  }
  // When the model expects no improvement anywhere worth the name, learn where it
  // is least sure, among configurations likely to work.
  double range =
      *std::max_element(y.begin(), y.end()) - *std::min_element(y.begin(), y.end());
  const std::vector<double>& score = best_ei > 1e-6 * (range + 1e-12) ? ei : uncertainty;
  // Scores are logarithms when every value is positive, so expected improvement is
  // then a relative one: under 0.001 is under 0.1%.
  bool logarithmic = std::none_of(data.begin(), data.end(), [](const Observation* o) {
    return o->value && *o->value <= 0;
  });
  quiet_ = best_ei < (logarithmic ? 1e-3 : 1e-3 * range) ? quiet_ + 1 : 0;
  if (&score == &uncertainty) {
    reason_ = "model: where it is least sure";
  } else {
    char text[120];
    if (logarithmic)
      snprintf(text, sizeof text, "model: most expected gain (%.2g%%)",
               100 * std::expm1(best_ei));
    else
      snprintf(text, sizeof text, "model: most expected gain (%.3g)", best_ei);
    reason_ = text;
  }
  std::optional<Config> choice;
  double best_score = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (score[i] > best_score) {
      best_score = score[i];
      choice = candidates[i];
    }
  }
  return choice;
}

}  // namespace hone
