// Strategy: the search's ask/tell interface and the simple strategies behind it.
//
// The tuner asks for a configuration, measures it, and tells the strategy what it
// measured (nullopt when every sample failed). A strategy may propose a
// configuration that was already measured; the tuner then tells it the known value
// instead of measuring again. Strategies are deterministic for a given seed. Not
// thread-safe; the space must outlive the strategy.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/config.h"
#include "common/space.h"

namespace hone {

class Strategy {
 public:
  virtual ~Strategy() = default;
  // The next configuration to measure; nullopt when the strategy has none left.
  virtual std::optional<Config> Ask() = 0;
  // The outcome of measuring `config`: its value, or nullopt when it failed.
  virtual void Tell(const Config& config, std::optional<double> value) = 0;
  // How many proposals in a row the strategy expected (almost) nothing from; the
  // tuner stops after converge_after of them. Strategies without a model: 0.
  virtual int QuietProposals() const { return 0; }
  // Why Ask() returned nullopt, for the report.
  virtual std::string ExhaustedReason() const;
  // Why the last configuration Ask() returned was chosen, in a few words, for the
  // trial history (`hone trials`).
  virtual std::string ProposalReason() const { return "proposed by the strategy"; }
};

// Every feasible configuration in a random order without repeats, including spaces
// far too large to enumerate (a lazy Fisher-Yates shuffle of the configuration
// numbers; beyond 2^64 configurations, each knob drawn on its own). Configurations that violate a constraint are skipped; after
// kMaxInfeasibleDraws of them in a row the strategy gives up (ExhaustedReason
// says so), so a constraint that excludes almost everything cannot hang a job; nor
// does it draw more than kMaxDraws in all.
class RandomStrategy : public Strategy {
 public:
  static constexpr int kMaxInfeasibleDraws = 200'000;
  // Draws in all, feasible or not: each one keeps a few dozen bytes (the sparse
  // permutation), so this bounds the strategy's memory at about 100 MB.
  static constexpr uint64_t kMaxDraws = 2'000'000;

  RandomStrategy(const SearchSpace* space, uint64_t seed);
  std::optional<Config> Ask() override;
  void Tell(const Config& config, std::optional<double> value) override;
  std::string ExhaustedReason() const override;
  std::string ProposalReason() const override { return "a random draw"; }

 private:
  bool gave_up_ = false;
  bool drew_all_ = false;  // gave up at kMaxDraws
  const SearchSpace* space_;
  std::mt19937_64 rng_;
  uint64_t size_;
  uint64_t next_ = 0;                               // positions shuffled so far
  std::unordered_map<uint64_t, uint64_t> swapped_;  // sparse permutation
  std::unordered_set<std::string> told_;            // measured before being asked
};

// Every feasible configuration in order, the last knob fastest (an odometer).
class ExhaustiveStrategy : public Strategy {
 public:
  explicit ExhaustiveStrategy(const SearchSpace* space);
  std::optional<Config> Ask() override;
  void Tell(const Config& config, std::optional<double> value) override;
  std::string ExhaustedReason() const override;
  std::string ProposalReason() const override { return "next in order"; }

 private:
  bool gave_up_ = false;
  const SearchSpace* space_;
  std::optional<Config> next_;
  std::unordered_set<std::string> told_;
};

// The strategy named in the config ("model", "random", "exhaustive"); null for
// other names. `goal` orients strategies that compare values.
std::unique_ptr<Strategy> MakeStrategy(const std::string& name, const SearchSpace* space,
                                       uint64_t seed, Goal goal = Goal::kMax);

// Configuration number <-> Config, mixed radix with the last knob fastest.
Config ConfigFromNumber(const SearchSpace& space, uint64_t number);

// A configuration with each knob's option drawn uniformly, on its own (feasible or
// not).
Config RandomConfig(const SearchSpace& space, std::mt19937_64& rng);

}  // namespace hone
