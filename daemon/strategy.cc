#include "daemon/strategy.h"

#include "daemon/model_strategy.h"

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

RandomStrategy::RandomStrategy(const SearchSpace* space, uint64_t seed)
    : space_(space), rng_(seed), size_(space->Size()) {}

std::optional<Config> RandomStrategy::Ask() {
  while (next_ < size_) {
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
    if (!told_.count(SearchSpace::Key(config))) return config;
  }
  return std::nullopt;
}

void RandomStrategy::Tell(const Config& config, std::optional<double>) {
  told_.insert(SearchSpace::Key(config));
}

ExhaustiveStrategy::ExhaustiveStrategy(const SearchSpace* space)
    : space_(space), next_(Config(space->dims(), 0)) {}

std::optional<Config> ExhaustiveStrategy::Ask() {
  while (next_) {
    Config config = *next_;
    // Advance the odometer; past the last configuration there is none.
    size_t i = space_->dims();
    while (i > 0) {
      --i;
      if (++(*next_)[i] < space_->knob(i).values.size()) break;
      (*next_)[i] = 0;
      if (i == 0) next_.reset();
    }
    if (!told_.count(SearchSpace::Key(config))) return config;
  }
  return std::nullopt;
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
