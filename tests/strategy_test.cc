// Specification of the search strategies (daemon/optimizer/strategy.h): which configurations
// they propose, in what order, and when they run out.
#include "daemon/optimizer/strategy.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hone {
namespace {

using nlohmann::json;

// A space of `sizes.size()` knobs, knob i having sizes[i] integer values 0..n-1.
SearchSpace MakeSpace(const std::vector<int>& sizes) {
  std::vector<Knob> knobs;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Knob knob;
    knob.name = "k" + std::to_string(i);
    for (int v = 0; v < sizes[i]; ++v) knob.values.push_back(v);
    knobs.push_back(std::move(knob));
  }
  SearchSpace space;
  Status s = SearchSpace::Create(std::move(knobs), &space);
  EXPECT_TRUE(s.ok()) << s.message();
  return space;
}

// Asks until the strategy runs out (or `limit` proposals, to stop a runaway).
std::vector<Config> AskAll(Strategy* strategy, size_t limit = 100000) {
  std::vector<Config> configs;
  while (configs.size() < limit) {
    std::optional<Config> config = strategy->Ask();
    if (!config) break;
    configs.push_back(*config);
  }
  return configs;
}

std::vector<Config> AskN(Strategy* strategy, size_t n) {
  std::vector<Config> configs;
  for (size_t i = 0; i < n; ++i) {
    std::optional<Config> config = strategy->Ask();
    if (!config) break;
    configs.push_back(*config);
  }
  return configs;
}

// ---------------------------------------------------------------------------
// ConfigFromNumber.

TEST(StrategyTest, ConfigFromNumberIsMixedRadixWithLastKnobFastest) {
  SearchSpace space = MakeSpace({28, 24});
  EXPECT_EQ(ConfigFromNumber(space, 0), (Config{0, 0}));
  EXPECT_EQ(ConfigFromNumber(space, 1), (Config{0, 1}));
  EXPECT_EQ(ConfigFromNumber(space, 23), (Config{0, 23}));
  EXPECT_EQ(ConfigFromNumber(space, 24), (Config{1, 0}));
  EXPECT_EQ(ConfigFromNumber(space, 25), (Config{1, 1}));
  EXPECT_EQ(ConfigFromNumber(space, 671), (Config{27, 23}));
}

TEST(StrategyTest, ConfigFromNumberCoversEveryConfigurationOnce) {
  SearchSpace space = MakeSpace({3, 1, 4, 2});
  std::set<Config> seen;
  for (uint64_t n = 0; n < space.Size(); ++n) {
    Config config = ConfigFromNumber(space, n);
    EXPECT_TRUE(space.Contains(config)) << n;
    seen.insert(config);
  }
  EXPECT_EQ(seen.size(), space.Size());
}

// ---------------------------------------------------------------------------
// RandomStrategy.

TEST(StrategyTest, RandomVisitsEveryConfigurationExactlyOnce) {
  SearchSpace space = MakeSpace({3, 4, 2});
  RandomStrategy strategy(&space, 1);
  std::vector<Config> configs = AskAll(&strategy);
  ASSERT_EQ(configs.size(), 24u);
  std::set<Config> distinct(configs.begin(), configs.end());
  EXPECT_EQ(distinct.size(), 24u);
  for (const Config& config : configs) EXPECT_TRUE(space.Contains(config));
}

TEST(StrategyTest, RandomKeepsReturningNulloptWhenExhausted) {
  SearchSpace space = MakeSpace({2, 2});
  RandomStrategy strategy(&space, 1);
  ASSERT_EQ(AskAll(&strategy).size(), 4u);
  EXPECT_EQ(strategy.Ask(), std::nullopt);
  EXPECT_EQ(strategy.Ask(), std::nullopt);
}

TEST(StrategyTest, RandomOnSingleConfigurationSpace) {
  SearchSpace space = MakeSpace({1});
  RandomStrategy strategy(&space, 7);
  EXPECT_EQ(strategy.Ask(), (Config{0}));
  EXPECT_EQ(strategy.Ask(), std::nullopt);
}

TEST(StrategyTest, RandomIsNotOdometerOrder) {
  SearchSpace space = MakeSpace({28, 24});
  RandomStrategy random(&space, 1);
  ExhaustiveStrategy exhaustive(&space);
  EXPECT_NE(AskN(&random, 20), AskN(&exhaustive, 20));
}

TEST(StrategyTest, RandomWithSameSeedGivesSameSequence) {
  SearchSpace space = MakeSpace({28, 24});
  RandomStrategy a(&space, 42);
  RandomStrategy b(&space, 42);
  EXPECT_EQ(AskAll(&a), AskAll(&b));
}

TEST(StrategyTest, RandomWithDifferentSeedGivesDifferentSequence) {
  SearchSpace space = MakeSpace({28, 24});
  RandomStrategy a(&space, 1);
  RandomStrategy b(&space, 2);
  EXPECT_NE(AskN(&a, 50), AskN(&b, 50));
}

TEST(StrategyTest, RandomSkipsConfigurationsToldBeforeBeingAsked) {
  SearchSpace space = MakeSpace({3, 4});
  RandomStrategy strategy(&space, 3);
  // The tuner measures the baseline first and tells the strategy about it.
  strategy.Tell({0, 0}, 10.0);
  strategy.Tell({2, 3}, std::nullopt);  // a failed measurement counts as known too
  std::vector<Config> configs = AskAll(&strategy);
  EXPECT_EQ(configs.size(), 10u);
  std::set<Config> distinct(configs.begin(), configs.end());
  EXPECT_EQ(distinct.size(), 10u);
  EXPECT_EQ(distinct.count({0, 0}), 0u);
  EXPECT_EQ(distinct.count({2, 3}), 0u);
}

TEST(StrategyTest, RandomTellAfterAskDoesNotRepeatOrLoseConfigurations) {
  SearchSpace space = MakeSpace({3, 3});
  RandomStrategy strategy(&space, 5);
  std::set<Config> seen;
  while (std::optional<Config> config = strategy.Ask()) {
    EXPECT_TRUE(seen.insert(*config).second) << SearchSpace::Key(*config) << " repeated";
    strategy.Tell(*config, 1.0);
  }
  EXPECT_EQ(seen.size(), 9u);
}

TEST(StrategyTest, RandomWorksOnAHugeSpaceWithoutEnumerating) {
  std::vector<int> sizes(20, 10);  // 10^20 configurations, more than fit in 64 bits
  SearchSpace space = MakeSpace(sizes);
  ASSERT_EQ(space.Size(), UINT64_MAX);
  RandomStrategy strategy(&space, 1);
  std::set<Config> seen;
  for (int i = 0; i < 1000; ++i) {
    std::optional<Config> config = strategy.Ask();
    ASSERT_TRUE(config.has_value()) << "ran out after " << i;
    EXPECT_TRUE(space.Contains(*config)) << SearchSpace::Key(*config);
    seen.insert(*config);
  }
  EXPECT_EQ(seen.size(), 1000u);
  // Every knob takes every value, the first as much as the last.
  for (size_t knob : {size_t{0}, size_t{19}}) {
    std::set<uint32_t> values;
    for (const Config& c : seen) values.insert(c[knob]);
    EXPECT_EQ(values.size(), 10u) << "knob " << knob;
  }
}

TEST(StrategyTest, RandomOnAHugeSpaceIsDeterministicPerSeed) {
  std::vector<int> sizes(20, 10);
  SearchSpace space = MakeSpace(sizes);
  RandomStrategy a(&space, 9);
  RandomStrategy b(&space, 9);
  EXPECT_EQ(AskN(&a, 100), AskN(&b, 100));
}

// ---------------------------------------------------------------------------
// ExhaustiveStrategy.

TEST(StrategyTest, ExhaustiveEnumeratesInOdometerOrder) {
  SearchSpace space = MakeSpace({2, 3});
  ExhaustiveStrategy strategy(&space);
  EXPECT_EQ(AskAll(&strategy),
            (std::vector<Config>{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}}));
}

TEST(StrategyTest, ExhaustiveMatchesConfigFromNumber) {
  SearchSpace space = MakeSpace({3, 1, 4, 2});
  ExhaustiveStrategy strategy(&space);
  std::vector<Config> configs = AskAll(&strategy);
  ASSERT_EQ(configs.size(), space.Size());
  for (uint64_t n = 0; n < configs.size(); ++n)
    EXPECT_EQ(configs[n], ConfigFromNumber(space, n)) << n;
}

TEST(StrategyTest, ExhaustiveKeepsReturningNulloptWhenExhausted) {
  SearchSpace space = MakeSpace({2});
  ExhaustiveStrategy strategy(&space);
  EXPECT_EQ(strategy.Ask(), (Config{0}));
  EXPECT_EQ(strategy.Ask(), (Config{1}));
  EXPECT_EQ(strategy.Ask(), std::nullopt);
  EXPECT_EQ(strategy.Ask(), std::nullopt);
}

TEST(StrategyTest, ExhaustiveSkipsToldConfigurations) {
  SearchSpace space = MakeSpace({2, 3});
  ExhaustiveStrategy strategy(&space);
  strategy.Tell({0, 0}, 1.0);
  strategy.Tell({1, 2}, std::nullopt);
  EXPECT_EQ(AskAll(&strategy), (std::vector<Config>{{0, 1}, {0, 2}, {1, 0}, {1, 1}}));
}

TEST(StrategyTest, ExhaustiveWithEveryConfigurationToldHasNothingToAsk) {
  SearchSpace space = MakeSpace({2, 2});
  ExhaustiveStrategy strategy(&space);
  for (uint64_t n = 0; n < space.Size(); ++n)
    strategy.Tell(ConfigFromNumber(space, n), 1.0);
  EXPECT_EQ(strategy.Ask(), std::nullopt);
}

// ---------------------------------------------------------------------------
// MakeStrategy.

TEST(StrategyTest, MakeStrategyKnowsRandomAndExhaustive) {
  SearchSpace space = MakeSpace({2, 2});
  std::unique_ptr<Strategy> random = MakeStrategy("random", &space, 1);
  ASSERT_NE(random, nullptr);
  EXPECT_NE(dynamic_cast<RandomStrategy*>(random.get()), nullptr);
  std::unique_ptr<Strategy> exhaustive = MakeStrategy("exhaustive", &space, 1);
  ASSERT_NE(exhaustive, nullptr);
  EXPECT_NE(dynamic_cast<ExhaustiveStrategy*>(exhaustive.get()), nullptr);
}

TEST(StrategyTest, MakeStrategyPassesTheSeed) {
  SearchSpace space = MakeSpace({28, 24});
  std::unique_ptr<Strategy> made = MakeStrategy("random", &space, 42);
  ASSERT_NE(made, nullptr);
  RandomStrategy direct(&space, 42);
  EXPECT_EQ(AskN(made.get(), 30), AskN(&direct, 30));
}

TEST(StrategyTest, MakeStrategyReturnsNullForUnknownNames) {
  SearchSpace space = MakeSpace({2, 2});
  EXPECT_EQ(MakeStrategy("bayesian", &space, 1), nullptr);
  EXPECT_EQ(MakeStrategy("", &space, 1), nullptr);
  EXPECT_EQ(MakeStrategy("Random", &space, 1), nullptr);
}


// ---------------------------------------------------------------------------
// Constraints: only feasible configurations are proposed.

// Two knobs of 0..9 with `constraints`.
SearchSpace ConstrainedSpace(const std::vector<std::string>& constraints, int knobs = 2) {
  std::vector<Knob> list;
  for (int i = 0; i < knobs; ++i) {
    Knob knob;
    knob.name = "k" + std::to_string(i);
    for (int v = 0; v < 10; ++v) knob.values.push_back(v);
    list.push_back(std::move(knob));
  }
  SearchSpace space;
  Status s = SearchSpace::Create(std::move(list), constraints, &space);
  EXPECT_TRUE(s.ok()) << s.message();
  return space;
}

TEST(StrategyTest, RandomAndExhaustiveProposeEveryFeasibleConfigurationOnly) {
  SearchSpace space = ConstrainedSpace({"k0 + k1 <= 9"});  // 55 of 100
  for (const char* name : {"random", "exhaustive", "model"}) {
    std::unique_ptr<Strategy> strategy = MakeStrategy(name, &space, 3);
    std::vector<Config> all = AskAll(strategy.get(), 200);
    std::set<Config> distinct(all.begin(), all.end());
    EXPECT_EQ(all.size(), 55u) << name;
    EXPECT_EQ(distinct.size(), 55u) << name;
    for (const Config& c : all) EXPECT_LE(c[0] + c[1], 9u) << name;
    EXPECT_EQ(strategy->ExhaustedReason(), "every configuration of the space was explored");
  }
}

TEST(StrategyTest, RandomGivesUpWhenConstraintsExcludeAlmostEverything) {
  // One feasible configuration in 1e12.
  SearchSpace space = ConstrainedSpace(
      {"k0 == 9 and k1 == 9 and k2 == 9 and k3 == 9 and k4 == 9 and k5 == 9 and k6 == 9 and "
       "k7 == 9 and k8 == 9 and k9 == 9 and k10 == 9 and k11 == 9"},
      12);
  RandomStrategy strategy(&space, 1);
  EXPECT_EQ(strategy.Ask(), std::nullopt);
  EXPECT_NE(strategy.ExhaustedReason().find("no configuration satisfying the constraints"),
            std::string::npos)
      << strategy.ExhaustedReason();
}

// Issue 14: every draw keeps an entry of the sparse permutation, so constraints that
// exclude almost everything, but not enough to give up, grew the strategy without
// bound. It now stops at kMaxDraws in all and says why.
TEST(StrategyTest, Issue14RandomDrawsAtMostItsLimitInAll) {
  // 1 configuration in 2,000 is feasible: about 1,000 proposals reach the limit.
  SearchSpace space = ConstrainedSpace({"k0 == 0 and k1 == 0 and k2 == 0 and k3 < 5"}, 8);
  RandomStrategy strategy(&space, 4);
  int proposals = 0;
  while (strategy.Ask()) {
    ++proposals;
    ASSERT_LT(proposals, 5000);
  }
  EXPECT_GT(proposals, 500);
  EXPECT_NE(strategy.ExhaustedReason().find("drew 2000000 configurations"),
            std::string::npos)
      << strategy.ExhaustedReason();
}

TEST(StrategyTest, RandomHonoursConstraintsInAHugeSpaceDeterministically) {
  SearchSpace space = ConstrainedSpace({"k0 + k1 + k2 <= 5", "k19 % 2 == 0"}, 20);
  ASSERT_GT(space.Size(), uint64_t{100'000'000'000'000'000});
  RandomStrategy a(&space, 9), b(&space, 9);
  std::vector<Config> first = AskN(&a, 300);
  ASSERT_EQ(first.size(), 300u);
  EXPECT_EQ(first, AskN(&b, 300));
  for (const Config& c : first) EXPECT_TRUE(space.Feasible(c)) << SearchSpace::Key(c);
}

}  // namespace
}  // namespace hone
