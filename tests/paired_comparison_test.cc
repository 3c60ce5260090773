// PairedComparison: the A/B/A estimate of an improvement and its interval.
#include "daemon/tuner/paired_comparison.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <limits>
#include <random>

namespace hone {
namespace {

TEST(PairedComparisonTest, StudentsQuantilesAreTheTablesAndTendToTheNormal) {
  EXPECT_NEAR(StudentT95(1), 12.706, 1e-3);
  EXPECT_NEAR(StudentT95(4), 2.776, 1e-3);
  EXPECT_NEAR(StudentT95(30), 2.042, 1e-3);
  EXPECT_NEAR(StudentT95(40), 2.021, 1e-3);
  EXPECT_NEAR(StudentT95(120), 1.980, 1e-3);
  EXPECT_NEAR(StudentT95(100000), 1.960, 1e-3);
  EXPECT_TRUE(std::isinf(StudentT95(0)));
  for (int dof = 1; dof < 200; ++dof) EXPECT_GT(StudentT95(dof), StudentT95(dof + 1)) << dof;
}

TEST(PairedComparisonTest, ALinearDriftCancelsBetweenTheSamplesAroundEachCandidate) {
  // The machine slows steadily; the candidate is 10% faster at every moment. Rounds
  // at times 0, 10, 20, ...: the reference first, the candidate 4 later.
  auto speed = [](double t) { return 100 - 0.5 * t; };
  std::map<int, Timed> reference, candidate;
  for (int r = 1; r <= 5; ++r) {
    double t = 10.0 * r;
    reference[r] = {speed(t), t};
    if (r < 5) candidate[r] = {1.1 * speed(t + 4), t + 4};
  }
  std::vector<Pair> pairs = PairsFromRounds(reference, candidate);
  ASSERT_EQ(pairs.size(), 4u);
  std::optional<PairedEstimate> e = EstimatePaired(pairs, Goal::kMax);
  ASSERT_TRUE(e);
  EXPECT_NEAR(e->improvement_pct, 10, 1e-9);
  EXPECT_NEAR(e->high_pct - e->low_pct, 0, 1e-9);
  // Without times, each candidate pairs with the mean of the two around it.
  for (auto& [round, sample] : reference) sample.at = 0;
  pairs = PairsFromRounds(reference, candidate);
  EXPECT_DOUBLE_EQ(pairs[0].reference, (speed(10) + speed(20)) / 2);
}

TEST(PairedComparisonTest, TheIntervalWidensWithANoisyReferenceAndCoversTheTruth) {
  // Truth: +20%. A quiet candidate against a bimodal reference (3.6 or 5.4 from run
  // to run, as a thread placement can make it) and against a quiet one.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.02);
  std::bernoulli_distribution low(0.3);
  int covered = 0, runs = 400;
  double wide = 0, narrow = 0;
  for (int run = 0; run < runs; ++run) {
    std::map<int, Timed> bimodal, quiet, candidate;
    for (int r = 1; r <= 9; ++r) {
      bimodal[r] = {(low(rng) ? 3.6 : 5.4) * (1 + noise(rng)), 0};
      quiet[r] = {4.86 * (1 + noise(rng)), 0};
      if (r < 9) candidate[r] = {4.86 * 1.2 * (1 + noise(rng)), 0};
    }
    auto a = EstimatePaired(PairsFromRounds(bimodal, candidate), Goal::kMax);
    auto b = EstimatePaired(PairsFromRounds(quiet, candidate), Goal::kMax);
    ASSERT_TRUE(a && b);
    wide += a->high_pct - a->low_pct;
    narrow += b->high_pct - b->low_pct;
    covered += b->low_pct <= 20 && 20 <= b->high_pct;
  }
  EXPECT_GT(wide, 4 * narrow) << "the reference's own variance is in the interval";
  // A 95% interval: about 95% of runs cover the truth (380 expected; 364 is 3 sd).
  EXPECT_GE(covered, 364);
  EXPECT_LE(covered, 396);
}

TEST(PairedComparisonTest, GoalMinAndTooFewPairs) {
  std::map<int, Timed> reference = {{1, {10, 0}}, {2, {10, 0}}, {3, {10, 0}}};
  std::map<int, Timed> candidate = {{1, {8, 0}}, {2, {8, 0}}};
  std::optional<PairedEstimate> e =
      EstimatePaired(PairsFromRounds(reference, candidate), Goal::kMin);
  ASSERT_TRUE(e);
  EXPECT_NEAR(e->improvement_pct, 20, 1e-9);  // 20% less time
  EXPECT_EQ(e->pairs, 2);
  candidate.erase(2);
  EXPECT_FALSE(EstimatePaired(PairsFromRounds(reference, candidate), Goal::kMin));
  // A zero reference has no ratio.
  EXPECT_FALSE(EstimatePaired({{0, 1}, {0, 2}}, Goal::kMax));
}

TEST(PairedComparisonTest, RoundsFromAnywhereAreBoundedByTheSamplesNotTheirNumbers) {
  // Round numbers come from the state directory: the largest pair, the rest skip.
  std::map<int, Timed> reference = {{INT_MAX - 1, {10, 0}}, {INT_MAX, {12, 0}}, {1, {5, 0}}};
  std::map<int, Timed> candidate = {{INT_MAX - 1, {11, 0}}, {INT_MAX, {13, 0}}, {7, {1, 0}}};
  std::vector<Pair> pairs = PairsFromRounds(reference, candidate);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_DOUBLE_EQ(pairs[0].reference, 11);
  EXPECT_DOUBLE_EQ(pairs[1].reference, 12);
}

TEST(PairedComparisonTest, TimesFromAnywhereFallBackToTheMidpoint) {
  // Times come from the state directory too: NaN, infinities and negative times
  // pair each candidate with the mean of the reference values around it.
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  const double kInf = std::numeric_limits<double>::infinity();
  for (double bad : {kNaN, kInf, -kInf, -5.0}) {
    std::map<int, Timed> reference = {{1, {10, 1}}, {2, {12, bad}}, {3, {14, kInf}}};
    std::map<int, Timed> candidate = {{1, {22, bad}}, {2, {26, 2.5}}};
    std::vector<Pair> pairs = PairsFromRounds(reference, candidate);
    ASSERT_EQ(pairs.size(), 2u) << bad;
    for (const Pair& p : pairs) EXPECT_TRUE(std::isfinite(p.reference)) << bad;
    EXPECT_DOUBLE_EQ(pairs[0].reference, 11) << bad;
    std::optional<PairedEstimate> e = EstimatePaired(pairs, Goal::kMax);
    ASSERT_TRUE(e) << bad;
    EXPECT_TRUE(std::isfinite(e->low_pct) && std::isfinite(e->high_pct)) << bad;
  }
}

}  // namespace
}  // namespace hone
