#include "daemon/optimizer/strategy.h"

#include <limits>

#include "daemon/optimizer/model_strategy.h"

namespace hone {

Config ConfigFromNumber(const SearchSpace& space, uint64_t number) {
  Config config(space.dims());
  for (size_t i = space.dims(); i-- > 0;) {
    uint64_t n = space.knob(i).values.size();
    config[i] = static_cast<uint32_t>(number % n);
    number /= n;
  }
  return config;
}

Config RandomConfig(const SearchSpace& space, std::mt19937_64& rng) {
  Config config(space.dims());
  for (size_t d = 0; d < config.size(); ++d)
    config[d] = static_cast<uint32_t>(
        std::uniform_int_distribution<size_t>(0, space.knob(d).values.size() - 1)(rng));
  return config;
}

std::string Strategy::ExhaustedReason() const {
  return "every configuration of the space was explored";
}

namespace {
std::string GaveUp(const SearchSpace& space) {
  return "no configuration satisfying the constraints was found in " +
         std::to_string(RandomStrategy::kMaxInfeasibleDraws) +
         " tries in a row (of " + std::to_string(space.Size()) +
         " configurations); the constraints exclude almost all of them";
}
}  // namespace

RandomStrategy::RandomStrategy(const SearchSpace* space, uint64_t seed)
    : space_(space), rng_(seed), size_(space->Size()) {}

std::optional<Config> RandomStrategy::Ask() {
  int infeasible = 0;
  if (size_ == std::numeric_limits<uint64_t>::max()) {
    // More configurations than 64 bits count: numbering them would leave most of
    // the space out, so each knob is drawn on its own, and repeats are skipped (in
    // such a space they are rare).
    while (!gave_up_) {
      Config config = RandomConfig(*space_, rng_);
      if (!space_->Feasible(config) || !told_.insert(SearchSpace::Key(config)).second) {
        gave_up_ = ++infeasible >= kMaxInfeasibleDraws;
        continue;
      }
      return config;
    }
    return std::nullopt;
  }
  while (next_ < size_ && !gave_up_) {
    if (next_ >= kMaxDraws) {
      gave_up_ = drew_all_ = true;
      break;
    }
    // Swap position next_ with a random later position; both default to themselves.
    uint64_t j = std::uniform_int_distribution<uint64_t>(next_, size_ - 1)(rng_);
    auto at = [this](uint64_t k) {
      auto it = swapped_.find(k);
      return it == swapped_.end() ? k : it->second;
    };
    uint64_t chosen = at(j);
    swapped_[j] = at(next_);
    swapped_.erase(next_);
    ++next_;
    Config config = ConfigFromNumber(*space_, chosen);
    if (!space_->Feasible(config)) {
      gave_up_ = ++infeasible >= kMaxInfeasibleDraws;
      continue;
    }
    if (!told_.count(SearchSpace::Key(config))) return config;
  }
  return std::nullopt;
}

std::string RandomStrategy::ExhaustedReason() const {
  if (drew_all_)
    return "drew " + std::to_string(kMaxDraws) +
           " configurations, the most one job draws, and the constraints excluded "
           "almost all of them";
  return gave_up_ ? GaveUp(*space_) : Strategy::ExhaustedReason();
}

void RandomStrategy::Tell(const Config& config, std::optional<double>) {
  told_.insert(SearchSpace::Key(config));
}

ExhaustiveStrategy::ExhaustiveStrategy(const SearchSpace* space)
    : space_(space), next_(Config(space->dims(), 0)) {}

std::optional<Config> ExhaustiveStrategy::Ask() {
  int infeasible = 0;
  while (next_ && !gave_up_) {
    Config config = *next_;
    // Advance the odometer; past the last configuration there is none.
    size_t i = space_->dims();
    while (i > 0) {
      --i;
      if (++(*next_)[i] < space_->knob(i).values.size()) break;
      (*next_)[i] = 0;
      if (i == 0) next_.reset();
    }
    if (!space_->Feasible(config)) {
      gave_up_ = ++infeasible >= RandomStrategy::kMaxInfeasibleDraws;
      continue;
    }
    if (!told_.count(SearchSpace::Key(config))) return config;
  }
  return std::nullopt;
}

std::string ExhaustiveStrategy::ExhaustedReason() const {
  return gave_up_ ? GaveUp(*space_) : Strategy::ExhaustedReason();
}

void ExhaustiveStrategy::Tell(const Config& config, std::optional<double>) {
  told_.insert(SearchSpace::Key(config));
}

std::unique_ptr<Strategy> MakeStrategy(const std::string& name, const SearchSpace* space,
                                       uint64_t seed, Goal goal) {
  if (name == "model") return std::make_unique<ModelStrategy>(space, goal, seed);
  if (name == "random") return std::make_unique<RandomStrategy>(space, seed);
  if (name == "exhaustive") return std::make_unique<ExhaustiveStrategy>(space);
  return nullptr;
}

}  // namespace hone
