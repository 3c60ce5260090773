// TuningSession: what a sync job measures, in which order, and when it stops.
#include "daemon/tuner/tuning_session.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <deque>
#include <functional>
#include <random>

namespace hone {
namespace {

using nlohmann::json;

// Proposes a fixed list of configurations and records what it is told.
class ScriptedStrategy : public Strategy {
 public:
  explicit ScriptedStrategy(std::deque<Config> proposals)
      : proposals_(std::move(proposals)) {}
  std::optional<Config> Ask() override {
    if (proposals_.empty()) return std::nullopt;
    Config next = proposals_.front();
    proposals_.pop_front();
    return next;
  }
  void Tell(const Config& config, std::optional<double> value) override {
    told->push_back({config, value});
  }
  std::shared_ptr<std::vector<std::pair<Config, std::optional<double>>>> told =
      std::make_shared<std::vector<std::pair<Config, std::optional<double>>>>();

 private:
  std::deque<Config> proposals_;
};

SearchSpace MakeSpace() {
  SearchSpace space;
  std::vector<Knob> knobs = {{"a", {1, 2, 3}, 0}, {"b", {10, 20}, 1}};
  EXPECT_TRUE(SearchSpace::Create(knobs, &space).ok());
  return space;
}

SampleResult Valid(double value) { return {true, value, "", 0.1}; }
SampleResult Invalid(const std::string& why) { return {false, 0, why, 0.1}; }

class TuningTest : public ::testing::Test {
 protected:
  // Most tests are about the order of work, not about noise: no confirmations and
  // no final comparison.
  TuningTest() {
    settings_.confirm_samples = 1;
    settings_.race_pct = 0;
    settings_.min_baseline_samples = 2;
  }

  TuningSession Make(std::deque<Config> proposals, Goal goal = Goal::kMax) {
    auto strategy = std::make_unique<ScriptedStrategy>(std::move(proposals));
    told_ = strategy->told;
    settings_.strategy = "scripted";
    return TuningSession(settings_, Target{"m", goal}, &space_, std::move(strategy));
  }

  SearchSpace space_ = MakeSpace();
  Settings settings_;
  std::shared_ptr<std::vector<std::pair<Config, std::optional<double>>>> told_;
};

TEST_F(TuningTest, MeasuresTheBaselineFirstWithItsOwnSampleCount) {
  settings_.min_baseline_samples = 3;
  TuningSession session = Make({{1, 0}});
  for (int i = 0; i < 3; ++i) {
    Step step = session.Next(0);
    ASSERT_EQ(step.kind, Step::Kind::kSample);
    EXPECT_TRUE(step.baseline);
    EXPECT_EQ(step.trial, 0);
    EXPECT_EQ(step.config, (Config{0, 1}));  // the defaults
    EXPECT_EQ(step.first_sample, i == 0);
    session.Record(Valid(10 + i));
  }
  Step step = session.Next(0);
  ASSERT_EQ(step.kind, Step::Kind::kSample);
  EXPECT_FALSE(step.baseline);
  EXPECT_EQ(step.trial, 1);
  EXPECT_EQ(step.config, (Config{1, 0}));
  ASSERT_EQ(told_->size(), 1u);  // the baseline's mean, so strategies can skip it
  EXPECT_EQ(told_->at(0).second, 11.0);
}

// The time left goes by samples: the baseline's three samples take three times one,
// not one configuration's time (a job's ETA no longer triples during its baseline).
TEST(EstimateSecondsLeftTest, GoesBySamplesNotConfigurations) {
  Settings settings;
  settings.min_baseline_samples = 3;
  settings.min_samples_per_config = 1;
  settings.race_pct = 25;
  // 10 configurations: 3 + 9 samples, and a quarter more for the final comparison.
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(settings, 10, 1, 10), 150);  // 10 s a sample
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(settings, 10, 3, 30), 130);  // still 10 s
  EXPECT_FALSE(EstimateSecondsLeft(settings, 10, 0, 0).has_value());
  settings.max_samples = 8;
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(settings, 10, 3, 30), 50);
  settings.max_minutes = 1;
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(settings, 10, 3, 30), 30);
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(settings, 10, 20, 90), 0);
}

// Before any configuration has two valid samples, the report gives no noise figure
// (the statistics' 1% floor is not a measurement); then it gives the measured one.
TEST_F(TuningTest, TheNoiseIsReportedOnlyOnceItIsMeasured) {
  settings_.min_baseline_samples = 2;
  TuningSession session = Make({{1, 0}});
  ASSERT_EQ(session.Next(0).kind, Step::Kind::kSample);
  session.Record(Valid(100));
  EXPECT_TRUE(session.Report({})["noise_pct"].is_null()) << session.Report({});
  EXPECT_TRUE(session.Trials(std::nullopt, -1, 10, 10, 1 << 20)["noise_pct"].is_null());
  ASSERT_EQ(session.Next(0).kind, Step::Kind::kSample);
  session.Record(Valid(102));
  EXPECT_GT(session.Report({})["noise_pct"].get<double>(), 1.0);
}

// The trial history comes in pages: at most `limit` trials, `next` the last one's
// number while more follow, and each trial's samples cut at `max_samples`.
TEST_F(TuningTest, TheTrialHistoryIsPagedAndSaysWhyEachTrialWasMeasured) {
  settings_.min_baseline_samples = 3;
  TuningSession session = Make({{1, 0}, {1, 1}, {0, 0}});
  for (int i = 0; i < 6; ++i) {
    Step step = session.Next(0);
    ASSERT_EQ(step.kind, Step::Kind::kSample);
    session.Record(Valid(10 + i));
  }
  json first = session.Trials(std::nullopt, -1, 2, 2, 1 << 20);
  ASSERT_EQ(first["trials"].size(), 2u);
  EXPECT_EQ(first["next"], 1);
  EXPECT_EQ(first["trials"][0]["reason"], "baseline: the defaults");
  EXPECT_EQ(first["trials"][0]["samples"].size(), 2u);
  EXPECT_EQ(first["trials"][0]["samples_omitted"], 1);
  EXPECT_EQ(first["trials"][0]["valid"], 3) << "counts cover the omitted samples";
  EXPECT_EQ(first["trials"][1]["reason"], "proposed by the strategy");
  json rest = session.Trials(std::nullopt, 1, 2, 2, 1 << 20);
  ASSERT_EQ(rest["trials"].size(), 2u);
  EXPECT_EQ(rest["trials"][0]["trial"], 2);
  EXPECT_TRUE(rest["next"].is_null());
  // The best mean is the best while no report names one; the byte bound still lets
  // one trial through.
  EXPECT_EQ(rest["best_trial"], 3);
  EXPECT_EQ(session.Trials(std::nullopt, -1, 10, 10, 1)["trials"].size(), 1u);
}

TEST_F(TuningTest, EachConfigurationGetsMinSamplesPerConfig) {
  settings_.min_baseline_samples = 1;
  settings_.min_samples_per_config = 2;
  TuningSession session = Make({{1, 0}});
  session.Next(0);
  session.Record(Valid(1));
  Step first = session.Next(0);
  session.Record(Valid(4));
  Step second = session.Next(0);
  EXPECT_EQ(first.trial, second.trial);
  EXPECT_FALSE(second.first_sample);
  session.Record(Valid(6));
  EXPECT_EQ(session.Next(0).kind, Step::Kind::kDone);
  EXPECT_EQ(told_->back(), (std::pair<Config, std::optional<double>>{{1, 0}, 5.0}));
}

TEST_F(TuningTest, AFailedConfigurationIsNotMeasuredAgainAndIsToldAsFailed) {
  settings_.min_baseline_samples = 1;
  settings_.min_samples_per_config = 3;
  TuningSession session = Make({{1, 0}, {2, 0}});
  session.Next(0);
  session.Record(Valid(1));
  Step step = session.Next(0);
  EXPECT_EQ(step.config, (Config{1, 0}));
  session.Record(Invalid("workload exited with status 1"));
  step = session.Next(0);
  EXPECT_EQ(step.config, (Config{2, 0}));
  EXPECT_EQ(told_->back().first, (Config{1, 0}));
  EXPECT_FALSE(told_->back().second.has_value());
  EXPECT_EQ(session.samples_invalid(), 1);
}

TEST_F(TuningTest, ABaselineWithoutValidSamplesFailsTheJobWithTheReason) {
  settings_.min_baseline_samples = 2;
  TuningSession session = Make({{1, 0}});
  session.Next(0);
  session.Record(Invalid("workload timed out after 1.0s and was killed"));
  ASSERT_EQ(session.Next(0).kind,
            Step::Kind::kSample);  // the baseline gets all its tries
  session.Record(Invalid("workload timed out after 1.0s and was killed"));
  Step step = session.Next(0);
  EXPECT_EQ(step.kind, Step::Kind::kFailed);
  EXPECT_NE(step.reason.find("baseline"), std::string::npos);
  EXPECT_NE(step.reason.find("timed out"), std::string::npos);
}

TEST_F(TuningTest, StopsAtMaxConfigsCountingTheBaseline) {
  settings_.min_baseline_samples = 1;
  settings_.max_configs = 2;
  TuningSession session = Make({{1, 0}, {2, 0}, {2, 1}});
  session.Next(0);
  session.Record(Valid(1));
  session.Next(0);
  session.Record(Valid(2));
  Step step = session.Next(0);
  EXPECT_EQ(step.kind, Step::Kind::kDone);
  EXPECT_EQ(step.reason, "budget spent: max_configs (2)");
  EXPECT_EQ(session.configs_explored(), 2);
  EXPECT_EQ(session.ConfigBudget(), 2);
}

TEST_F(TuningTest, StopsAtMaxSamplesAndMaxMinutes) {
  settings_.min_baseline_samples = 1;
  settings_.max_samples = 2;
  TuningSession by_samples = Make({{1, 0}, {2, 0}});
  by_samples.Next(0);
  by_samples.Record(Valid(1));
  by_samples.Next(0);
  by_samples.Record(Valid(1));
  EXPECT_EQ(by_samples.Next(0).reason, "budget spent: max_samples (2)");

  // No new configuration starts when the samples left could not confirm it.
  settings_.max_samples = 4;
  settings_.confirm_samples = 3;
  TuningSession short_of_samples = Make({{1, 0}, {2, 0}});
  short_of_samples.Next(0);
  short_of_samples.Record(Valid(1));  // the baseline's one sample
  ASSERT_EQ(short_of_samples.Next(0).config, (Config{1, 0}));
  short_of_samples.Record(Valid(0.5));  // clearly worse: not measured again
  Step stop = short_of_samples.Next(0);
  EXPECT_EQ(stop.kind, Step::Kind::kDone);
  EXPECT_EQ(stop.reason,
            "budget spent: max_samples (4); the 2 left could not confirm another "
            "configuration");
  settings_.confirm_samples = 1;

  settings_.max_samples = 0;
  settings_.max_minutes = 1.5;
  TuningSession by_time = Make({{1, 0}, {2, 0}});
  by_time.Next(0);
  by_time.Record(Valid(1));
  EXPECT_EQ(by_time.Next(89).kind, Step::Kind::kSample);
  by_time.Record(Valid(1));
  Step step = by_time.Next(90);
  EXPECT_EQ(step.kind, Step::Kind::kDone);
  EXPECT_EQ(step.reason, "budget spent: max_minutes (1.5)");
}

TEST_F(TuningTest, StopsWhenTheStrategyHasNothingLeft) {
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({});
  session.Next(0);
  session.Record(Valid(1));
  Step step = session.Next(0);
  EXPECT_EQ(step.kind, Step::Kind::kDone);
  EXPECT_EQ(step.reason, "every configuration of the space was explored");
}

TEST_F(TuningTest, ADuplicateProposalReusesTheKnownResult) {
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{0, 1}, {2, 1}});  // the baseline again, then a new one
  session.Next(0);
  session.Record(Valid(7));
  Step step = session.Next(0);
  EXPECT_EQ(step.config, (Config{2, 1}));
  EXPECT_EQ(session.configs_explored(), 2);
  // The duplicate was answered from the baseline's samples.
  ASSERT_GE(told_->size(), 2u);
  EXPECT_EQ(told_->at(1), (std::pair<Config, std::optional<double>>{{0, 1}, 7.0}));
}

TEST_F(TuningTest, BestIsTheBestMeanForTheGoal) {
  for (Goal goal : {Goal::kMax, Goal::kMin}) {
    settings_.min_baseline_samples = 1;
    TuningSession session = Make({{1, 0}, {2, 0}}, goal);
    session.Next(0);
    session.Record(Valid(100));
    session.Next(0);
    session.Record(Valid(150));
    session.Next(0);
    session.Record(Valid(80));
    const TrialRecord* best = session.Best();
    ASSERT_NE(best, nullptr);
    if (goal == Goal::kMax) {
      EXPECT_EQ(best->config, (Config{1, 0}));
      EXPECT_DOUBLE_EQ(*session.ImprovementPct(150), 50);
    } else {
      EXPECT_EQ(best->config, (Config{2, 0}));
      EXPECT_DOUBLE_EQ(*session.ImprovementPct(80), 20);
    }
  }
}

TEST_F(TuningTest, ReportHasTheDesignKeysWithKnobValues) {
  settings_.min_baseline_samples = 2;
  TuningSession session = Make({{1, 0}});
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(110));
  session.Next(0);
  session.Record(Valid(126));
  session.Next(0);
  json report =
      session.Report({7, "completed", "budget spent", "", 12.34, "/r/job-7.env"});
  EXPECT_EQ(report["job"], 7);
  EXPECT_EQ(report["state"], "completed");
  EXPECT_EQ(report["target"], json({{"metric", "m"}, {"goal", "max"}}));
  EXPECT_EQ(report["baseline"]["config"], json({{"a", 1}, {"b", 20}}));
  EXPECT_EQ(report["baseline"]["value"], 105.0);
  EXPECT_EQ(report["best"]["config"], json({{"a", 2}, {"b", 10}}));
  EXPECT_EQ(report["best"]["value"], 126.0);
  EXPECT_EQ(report["improvement_pct"], 20.0);
  EXPECT_EQ(report["configs_explored"], 2);
  EXPECT_EQ(report["configs_total"], 6);
  EXPECT_FALSE(report.contains("configs_feasible")) << "no constraints, nothing to count";
  EXPECT_EQ(report["samples_valid"], 3);
  EXPECT_EQ(report["samples_invalid"], 0);
  EXPECT_EQ(report["elapsed_s"], 12.3);
  EXPECT_EQ(report["stop_reason"], "budget spent");
  EXPECT_EQ(report["settings_file"], "/r/job-7.env");
}

TEST_F(TuningTest, RestoreRebuildsTheSameReport) {
  settings_.min_baseline_samples = 1;
  TuningSession live = Make({{1, 0}, {2, 1}});
  live.Next(0);
  live.Record(Valid(3));
  live.Next(0);
  live.Record(Valid(5));
  live.Next(0);
  live.Record(Invalid("x"));
  TuningSession restored(settings_, Target{"m", Goal::kMax}, &space_, nullptr);
  restored.Restore(live.trials());
  ReportContext context{1, "interrupted", "", "honed stopped", 3, ""};
  EXPECT_EQ(restored.Report(context), live.Report(context));
}

// ---- The noise protocol ---------------------------------------------------------

TEST_F(TuningTest, AChallengerIsMeasuredAgainBeforeItCanWin) {
  settings_.confirm_samples = 3;
  TuningSession session = Make({{1, 0}, {2, 0}});
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(101));
  Step step = session.Next(0);
  ASSERT_EQ(step.trial, 1);
  session.Record(Valid(150));  // lucky?
  // Not yet the recommendation: one sample is not evidence.
  EXPECT_TRUE(session.Best()->baseline);
  step = session.Next(0);
  EXPECT_EQ(step.trial, 1) << "the challenger is measured again";
  EXPECT_FALSE(step.first_sample);
  session.Record(Valid(99));
  step = session.Next(0);
  EXPECT_EQ(step.trial, 1);
  session.Record(Valid(98));
  // Its mean (115.7) with three samples now beats the baseline: it is the best.
  EXPECT_EQ(session.Best()->number, 1);
  step = session.Next(0);
  EXPECT_EQ(step.trial, 2);  // and the search moves on
}

TEST_F(TuningTest, ASingleLuckySampleNeverBecomesTheRecommendation) {
  settings_.confirm_samples = 3;
  settings_.max_minutes = 1;  // the budget ends right after the lucky sample
  TuningSession session = Make({{1, 0}});
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(101));
  ASSERT_EQ(session.Next(0).config, (Config{1, 0}));
  session.Record(Valid(180));
  EXPECT_EQ(session.Next(61).kind, Step::Kind::kDone);
  json report = session.Report({1, "completed", "budget", "", 1, ""});
  EXPECT_EQ(report["best"]["trial"], 0);
  EXPECT_EQ(report["improvement_pct"], 0.0);
}

TEST_F(TuningTest, AClearlyWorseConfigurationIsNotMeasuredAgain) {
  settings_.confirm_samples = 3;
  TuningSession session = Make({{1, 0}, {2, 0}});
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(60));
  EXPECT_EQ(session.Next(0).trial, 2);
}

TEST_F(TuningTest, TheReportGivesTheNoiseAndAConfidenceIntervalOfTheImprovement) {
  settings_.confirm_samples = 3;
  TuningSession session = Make({{1, 0}});
  for (double v : {100.0, 104.0}) {
    session.Next(0);
    session.Record(Valid(v));
  }
  for (double v : {120.0, 124.0, 122.0}) {
    session.Next(0);
    session.Record(Valid(v));
  }
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["best"]["trial"], 1);
  double pct = report["improvement_pct"];
  EXPECT_NEAR(pct, (122.0 - 102.0) / 102.0 * 100, 0.01);
  ASSERT_TRUE(report["improvement_ci95_pct"].is_array());
  double lo = report["improvement_ci95_pct"][0], hi = report["improvement_ci95_pct"][1];
  EXPECT_LT(lo, pct);
  EXPECT_GT(hi, pct);
  EXPECT_GT(lo, 0) << "20% apart with 2% noise is a real improvement";
  EXPECT_GT(report["noise_pct"].get<double>(), 1.0);
  EXPECT_LT(report["noise_pct"].get<double>(), 3.0);
}

// ---- The final comparison -------------------------------------------------------

// Baseline {0,1} at 100; C {1,1} at 90; A {1,0} at 110 and B {2,0} at 111: one
// sample each, then the strategy has nothing more.
void MeasureOneSampleEach(TuningSession& session) {
  for (auto [trial, value] : std::vector<std::pair<int64_t, double>>{
           {0, 100}, {1, 90}, {2, 110}, {3, 111}}) {
    Step step = session.Next(0);
    ASSERT_EQ(step.kind, Step::Kind::kSample);
    ASSERT_EQ(step.trial, trial);
    EXPECT_FALSE(step.race);
    EXPECT_TRUE(step.first_sample);
    session.Record(Valid(value));
  }
}

// Takes the session's steps until it ends, measuring each trial with `value` (the
// baseline and each trial in turn), and returns the steps.
std::vector<Step> RunToTheEnd(TuningSession& session,
                              const std::function<double(const Step&)>& value) {
  std::vector<Step> steps;
  for (Step step = session.Next(0); step.kind == Step::Kind::kSample;
       step = session.Next(0)) {
    session.Record(Valid(value(step)));
    steps.push_back(step);
    if (steps.size() > 1000) break;
  }
  return steps;
}

TEST_F(TuningTest, AfterTheSearchTheBaselineAndTheFinalistsAreMeasuredAlternately) {
  settings_.confirm_samples = 3;
  settings_.race_pct = 25;
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 1}, {1, 0}, {2, 0}});
  MeasureOneSampleEach(session);
  // No repeats during the search. Then the first round: the baseline, and the three
  // leaders, best first; each sample sets its knobs again.
  int baseline = 100;
  std::vector<Step> steps = RunToTheEnd(session, [&](const Step& step) {
    if (step.trial == 0) return 100.0 + (baseline++ % 2);  // 100, 101, 100, ...
    return step.trial == 3 ? 111.0 : step.trial == 2 ? 106.0 : 90.0;
  });
  ASSERT_GE(steps.size(), 8u);
  std::vector<int64_t> first_round;
  for (size_t i = 0; i < 4; ++i) {
    first_round.push_back(steps[i].trial);
    EXPECT_TRUE(steps[i].race);
    EXPECT_EQ(steps[i].round, 1);
    EXPECT_TRUE(steps[i].revisit) << "another configuration was measured since";
    EXPECT_FALSE(steps[i].first_sample);
  }
  EXPECT_EQ(first_round, (std::vector<int64_t>{0, 3, 2, 1}));
  // The round closes with the baseline; A (106 against 111) and C fall behind and
  // leave; B goes on, each of its samples between two of the baseline's.
  EXPECT_EQ(steps[4].trial, 0);
  EXPECT_EQ(steps[4].round, 2);
  for (size_t i = 5; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].trial, i % 2 ? 3 : 0) << i;
    EXPECT_EQ(steps[i].round, static_cast<int>(i - 4) / 2 + 2) << i;
  }
  EXPECT_EQ(steps.back().trial, 0) << "the last round is closed by the baseline";
  // Without a sample budget it ends once the interval is narrow enough. The pairs
  // agree exactly, but the interval is never narrower than the pooled noise (its
  // floor, 1% per sample) allows: +10.4% to within max(1 point, 1.04) takes five
  // rounds.
  EXPECT_EQ(steps.size(), 13u);
  EXPECT_EQ(session.Next(0).reason, "every configuration of the space was explored");
  EXPECT_EQ(session.Best()->number, 3);

  // The improvement comes from the five rounds: B at 111 against the baseline
  // samples around each (100.5 each time), not from the search's samples.
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["improvement_method"]["rule"], "paired");
  EXPECT_EQ(report["improvement_method"]["rounds"], 5);
  EXPECT_DOUBLE_EQ(report["improvement_method"]["baseline_value"].get<double>(), 100.5);
  double pct = report["improvement_pct"].get<double>();
  EXPECT_NEAR(pct, (111 / 100.5 - 1) * 100, 0.01);
  // The interval: the pooled noise's spread (1% of 111 per sample; the baseline
  // interpolated from two), as four pairs' worth, over five pairs with none of
  // their own: t(8) * sqrt(4 / 8 * 1.5 * 1.11^2 / 5) / 100.5.
  double half = 2.306 * std::sqrt(0.5 * 1.5 * 1.11 * 1.11 / 5) / 100.5 * 100;
  EXPECT_NEAR(report["improvement_ci95_pct"][0].get<double>(), pct - half, 0.01);
  EXPECT_NEAR(report["improvement_ci95_pct"][1].get<double>(), pct + half, 0.01);
  EXPECT_EQ(report["samples_race"], 13);
}

TEST_F(TuningTest, FinalistsThatStayCloselyTiedEndTheComparisonWithoutBeingSeparated) {
  settings_.confirm_samples = 3;
  settings_.race_pct = 25;
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 1}, {1, 0}, {2, 0}});
  MeasureOneSampleEach(session);
  // A and B are equally good, both measured alike every round: once both their
  // improvement and their difference are known closely, more rounds would not pay.
  std::vector<Step> steps = RunToTheEnd(session, [](const Step& step) {
    return step.trial == 0 ? 100.0 : step.trial == 1 ? 90.0 : 111.0;
  });
  std::vector<int64_t> order;
  for (const Step& step : steps) order.push_back(step.trial);
  EXPECT_EQ(order, (std::vector<int64_t>{0, 3, 2, 1, 0, 3, 2, 0, 3, 2, 0, 3, 2, 0, 3, 2, 0}));
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["improvement_method"]["rounds"], 5);
  EXPECT_EQ(report["tied"]["count"], 1) << report.dump();
  // Noisier (A and B 5 above and below 111 in turn, opposite each other), it takes
  // more rounds than those five.
  TuningSession noisy = Make({{1, 1}, {1, 0}, {2, 0}});
  MeasureOneSampleEach(noisy);
  steps = RunToTheEnd(noisy, [](const Step& step) {
    double swing = step.round % 2 ? 5 : -5;
    return step.trial == 0 ? 100.0 : step.trial == 1 ? 90.0 : 111 + (step.trial == 2 ? swing : -swing);
  });
  EXPECT_GT(steps.size(), 17u);
}

TEST_F(TuningTest, TheFinalComparisonsIntervalFollowsDriftThatTheSearchMissed) {
  settings_.confirm_samples = 3;
  settings_.race_pct = 25;
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 1}, {1, 0}, {2, 0}});
  MeasureOneSampleEach(session);  // B 111 against 100: +11%
  // The machine has slowed by a fifth since the search, and slows on: each sample
  // 0.5% slower than the one before. B is truly 5% better than the baseline.
  double speed = 0.8;
  std::vector<Step> steps = RunToTheEnd(session, [&](const Step& step) {
    speed *= 0.995;
    double truth = step.trial == 0 ? 100 : step.trial == 3 ? 105 : 95;
    return truth * speed;
  });
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["best"]["trial"], 3);
  EXPECT_EQ(report["improvement_method"]["rule"], "paired");
  double pct = report["improvement_pct"], lo = report["improvement_ci95_pct"][0],
         hi = report["improvement_ci95_pct"][1];
  EXPECT_LE(lo, 5.0);
  EXPECT_GE(hi, 5.0);
  EXPECT_NEAR(pct, 5.0, 0.5) << "A/B/A pairs cancel the drift";
  // By the means of all samples, A (truly 95), which left the comparison early,
  // looks better than B, measured on while the machine slowed: the recommendation
  // compares them by their paired rounds instead.
  EXPECT_GT(*session.trials()[2].Mean(), *session.trials()[3].Mean());
  EXPECT_GE(session.trials()[2].valid_count(), 3) << "A was confirmed, and could have won";
}

TEST_F(TuningTest, ASampleBudgetKeepsItsLastStretchForTheFinalComparisonAndSpendsIt) {
  settings_.confirm_samples = 3;
  settings_.race_pct = 50;
  settings_.max_samples = 14;
  settings_.min_baseline_samples = 1;
  // More configurations are left to propose, but 7 of 14 samples are left after
  // these, within the comparison's half.
  ASSERT_TRUE(SearchSpace::Create({{"a", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0}}, &space_).ok());
  TuningSession session = Make({{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}});
  for (int i = 0; i < 7; ++i) {
    Step step = session.Next(0);
    ASSERT_FALSE(step.race) << i;
    session.Record(Valid(100 + i));
  }
  std::vector<Step> steps = RunToTheEnd(session, [](const Step& step) {
    return 100.0 + static_cast<double>(step.trial);  // the order stays
  });
  ASSERT_EQ(steps.size(), 7u) << "the rest of the budget, and no more";
  for (const Step& step : steps) EXPECT_TRUE(step.race);
  EXPECT_EQ(steps.front().trial, 0);
  EXPECT_EQ(steps.back().trial, 0) << "the last sample closes a round";
  EXPECT_EQ(session.Next(0).reason, "budget spent: max_samples (14)");
}

TEST_F(TuningTest, NoFinalComparisonWithRacePctZero) {
  settings_.confirm_samples = 3;
  settings_.race_pct = 0;
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 1}, {1, 0}, {2, 0}});
  // Without it, the challengers are confirmed during the search instead.
  std::vector<Step> steps = RunToTheEnd(session, [](const Step& step) {
    return 100.0 + static_cast<double>(step.trial);
  });
  for (const Step& step : steps) EXPECT_FALSE(step.race);
  EXPECT_GT(steps.size(), 4u);
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_FALSE(report.contains("samples_race"));
  EXPECT_EQ(report["improvement_method"]["rule"], "means");
}

TEST_F(TuningTest, AResumedFinalComparisonStartsANewRoundWithTheSameFinalists) {
  settings_.confirm_samples = 3;
  settings_.race_pct = 25;
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 1}, {1, 0}, {2, 0}});
  MeasureOneSampleEach(session);
  // Round 1, then honed stops after the baseline sample of round 2 and B's.
  std::vector<int64_t> order;
  for (int i = 0; i < 6; ++i) {
    Step step = session.Next(0);
    order.push_back(step.trial);
    session.Record(Valid(step.trial == 0 ? 100 : step.trial == 3 ? 111 : 101 + step.trial));
  }
  ASSERT_EQ(order, (std::vector<int64_t>{0, 3, 2, 1, 0, 3}));
  TuningSession resumed(settings_, Target{"m", Goal::kMax}, &space_,
                        std::make_unique<ScriptedStrategy>(std::deque<Config>{}));
  resumed.Restore(session.trials());
  Step step = resumed.Next(0);
  EXPECT_EQ(step.trial, 0) << "a new round, opened (and the interrupted one closed) by "
                              "the baseline";
  EXPECT_EQ(step.round, 3);
  EXPECT_TRUE(step.revisit);
  resumed.Record(Valid(100));
  step = resumed.Next(0);
  EXPECT_EQ(step.trial, 3);
  EXPECT_EQ(step.round, 3);
  // The report of the stored samples is the report of the session that took them.
  ReportContext context{1, "running", "", "", 3, ""};
  TuningSession rebuilt(settings_, Target{"m", Goal::kMax}, &space_, nullptr);
  rebuilt.Restore(session.trials());
  EXPECT_EQ(rebuilt.Report(context), session.Report(context));
}

// A strategy that says it expects nothing more after its second proposal.
class QuietStrategy : public ScriptedStrategy {
 public:
  using ScriptedStrategy::ScriptedStrategy;
  int QuietProposals() const override { return quiet; }
  int quiet = 0;
};

TEST_F(TuningTest, StopsWhenTheStrategyHasConverged) {
  settings_.min_baseline_samples = 1;
  settings_.converge_after = 2;
  auto strategy =
      std::make_unique<QuietStrategy>(std::deque<Config>{{1, 0}, {2, 0}, {2, 1}});
  QuietStrategy* quiet = strategy.get();
  TuningSession session(settings_, Target{"m", Goal::kMax}, &space_, std::move(strategy));
  session.Next(0);
  session.Record(Valid(1));
  session.Next(0);
  session.Record(Valid(2));
  quiet->quiet = 2;
  Step step = session.Next(0);
  EXPECT_EQ(step.kind, Step::Kind::kDone);
  EXPECT_EQ(
      step.reason,
      "converged: the model expected under 0.1% improvement from 2 proposals in a row");
}

TEST_F(TuningTest, StopsWhenTheTargetImprovementIsReached) {
  settings_.min_baseline_samples = 1;
  settings_.target_improvement_pct = 20;
  TuningSession session = Make({{1, 0}, {2, 0}, {2, 1}});
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(110));  // +10%: not yet
  EXPECT_EQ(session.Next(0).kind, Step::Kind::kSample);
  session.Record(Valid(125));  // +25%
  Step step = session.Next(0);
  EXPECT_EQ(step.kind, Step::Kind::kDone);
  EXPECT_EQ(step.reason, "target improvement reached: +25.00% >= 20%");
}

TEST_F(TuningTest, WarmStartConfigurationsComeRightAfterTheBaseline) {
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 0}, {2, 1}});
  session.SetWarmStart({{2, 0}, {0, 1} /* the baseline: skipped */, {2, 1}});
  session.Next(0);
  session.Record(Valid(1));
  EXPECT_EQ(session.Next(0).config, (Config{2, 0}));
  session.Record(Valid(2));
  EXPECT_EQ(session.Next(0).config, (Config{2, 1}));
  session.Record(Valid(3));
  EXPECT_EQ(session.Next(0).config, (Config{1, 0}));  // then the strategy's own
  // The strategy was told every warm-start result.
  EXPECT_EQ(told_->at(1), (std::pair<Config, std::optional<double>>{{2, 0}, 2.0}));
}

TEST_F(TuningTest, APriorTeachesTheStrategyButIsNeverOneOfTheJobsSamples) {
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 0}});
  // An earlier job saw {2, 1} at 1000 (maybe on a quieter machine) and {1, 1} fail.
  session.AddPrior({{{2, 1}, 1000.0}, {{1, 1}, std::nullopt}});
  ASSERT_EQ(told_->size(), 2u);
  EXPECT_EQ(told_->at(0), (std::pair<Config, std::optional<double>>{{2, 1}, 1000.0}));
  EXPECT_EQ(told_->at(1), (std::pair<Config, std::optional<double>>{{1, 1}, std::nullopt}));
  EXPECT_EQ(session.prior_observations(), 2);
  session.Next(0);
  session.Record(Valid(10));
  session.Next(0);
  session.Record(Valid(20));
  EXPECT_EQ(session.Next(0).kind, Step::Kind::kDone);
  // The recommendation comes from what this job measured.
  ASSERT_NE(session.Best(), nullptr);
  EXPECT_EQ(session.Best()->config, (Config{1, 0}));
  EXPECT_EQ(session.samples_valid(), 2);
  EXPECT_EQ(session.configs_explored(), 2);
  ReportContext context;
  context.warm_start_job = 4;
  json report = session.Report(context);
  EXPECT_EQ(report["warm_start"], json({{"job", 4}, {"observations", 2}}));
}

TEST_F(TuningTest, EarlyStoppingGivesNewConfigurationsACutoffAndStopsMeasuringThem) {
  settings_.min_baseline_samples = 2;
  settings_.min_samples_per_config = 2;
  settings_.early_stop_pct = 20;
  TuningSession session = Make({{1, 0}, {2, 0}}, Goal::kMin);  // durations
  Step step = session.Next(0);
  EXPECT_FALSE(step.stop_cutoff) << "the baseline always runs to the end";
  session.Record(Valid(10));
  step = session.Next(0);
  EXPECT_FALSE(step.stop_cutoff);
  session.Record(Valid(10));
  // The first run of a new configuration stops past the best mean plus 20%.
  step = session.Next(0);
  ASSERT_EQ(step.config, (Config{1, 0}));
  ASSERT_TRUE(step.stop_cutoff);
  EXPECT_DOUBLE_EQ(*step.stop_cutoff, 12.0);
  SampleResult stopped = Valid(12.0);
  stopped.stopped_early = true;
  session.Record(stopped);
  // Not measured again despite min_samples_per_config: the next configuration.
  step = session.Next(0);
  EXPECT_EQ(step.config, (Config{2, 0}));
  EXPECT_TRUE(step.first_sample);
  session.Record(Valid(11));
  // A configuration's later samples always run to the end.
  step = session.Next(0);
  EXPECT_EQ(step.config, (Config{2, 0}));
  EXPECT_FALSE(step.stop_cutoff);
  session.Record(Valid(11));
  EXPECT_EQ(session.Next(0).kind, Step::Kind::kDone);
  EXPECT_EQ(session.samples_stopped_early(), 1);
  EXPECT_EQ(session.Best()->config, (Config{0, 1}));
  // The strategy learned the stopped configuration's (flattering) value.
  EXPECT_EQ(told_->at(1), (std::pair<Config, std::optional<double>>{{1, 0}, 12.0}));
  EXPECT_EQ(session.Report({})["samples_stopped_early"], 1);
}

TEST_F(TuningTest, TheEarlyStopMarginIsNeverInsideTheNoise) {
  settings_.min_baseline_samples = 3;
  settings_.early_stop_pct = 1;
  TuningSession session = Make({{1, 0}});
  session.Next(0);
  session.Record(Valid(90));
  session.Next(0);
  session.Record(Valid(100));
  session.Next(0);
  session.Record(Valid(110));
  // 10% noise: three times that, not 1%.
  Step step = session.Next(0);
  ASSERT_TRUE(step.stop_cutoff);
  EXPECT_NEAR(*step.stop_cutoff, 100 - 3 * session.RelativeNoise() * 100, 1e-9);
  EXPECT_LT(*step.stop_cutoff, 75);
}

TEST_F(TuningTest, WithoutEarlyStoppingNoRunHasACutoff) {
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 0}});
  session.Next(0);
  session.Record(Valid(1));
  Step step = session.Next(0);
  EXPECT_EQ(step.kind, Step::Kind::kSample);
  EXPECT_FALSE(step.stop_cutoff);
  EXPECT_FALSE(session.Report({}).contains("samples_stopped_early"));
}

TEST(KnobImportanceTest, TheKnobThatMattersGetsMostOfIt) {
  std::vector<nlohmann::json> a, b;
  for (int i = 0; i < 8; ++i) a.push_back(i), b.push_back(i);
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({{"matters", a, 0}, {"barely", b, 0}}, &space).ok());
  Settings settings;
  settings.min_baseline_samples = 1;
  settings.confirm_samples = 1;
  settings.strategy = "random";
  TuningSession session(settings, Target{"m", Goal::kMax}, &space,
                        MakeStrategy("random", &space, 4));
  for (int n = 0; n < 30; ++n) {
    Step step = session.Next(0);
    ASSERT_EQ(step.kind, Step::Kind::kSample);
    double value = 100 + 10 * std::sin(step.config[0]) + 0.01 * step.config[1];
    session.Record({true, value, "", 0});
  }
  std::vector<std::pair<std::string, double>> importance = session.KnobImportance();
  ASSERT_EQ(importance.size(), 2u);
  EXPECT_EQ(importance[0].first, "matters");
  EXPECT_GT(importance[0].second, 80);
  EXPECT_NEAR(importance[0].second + importance[1].second, 100, 0.2);
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["knob_importance_pct"]["matters"], importance[0].second);
}


TEST(RecommendationTest, UnderNoiseItWeighsRepeatsAndNeighboursNotALuckyMean) {
  // The reference surface with 5% noise, searched by the model for 200 samples: a
  // configuration 2.7% below the best often gets the luckiest three samples. The
  // recommendation must still be truly within 1% of the best configuration the run
  // measured.
  std::vector<json> inter, intra;
  for (int i = 1; i <= 28; ++i) inter.push_back(i);
  for (int i = 10; i <= 56; i += 2) intra.push_back(i);
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({{"inter_op", inter, 0}, {"intra_op", intra, 0}}, &space).ok());
  auto truth = [](const Config& c) {
    double threads = std::exp(-0.5 * std::pow(std::log((c[0] + 1) / 2.0) / 0.7, 2));
    double tile = std::exp(-0.5 * std::pow((10 + 2.0 * c[1] - 28) / 14, 2));
    return 40 + 84 * threads * tile;
  };
  int good = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    Settings settings;
    settings.seed = seed;
    settings.max_samples = 200;
    settings.max_configs = 1000;
    settings.converge_after = 0;
    TuningSession session(settings, Target{"m", Goal::kMax}, &space,
                          MakeStrategy("model", &space, seed, Goal::kMax));
    std::mt19937_64 rng(seed * 7919 + 17);
    for (Step step = session.Next(0); step.kind == Step::Kind::kSample;
         step = session.Next(0))
      session.Record(
          Valid(truth(step.config) * std::exp(std::normal_distribution<double>(0, 0.05)(rng))));
    double best_measured = 0;
    for (const TrialRecord& t : session.trials()) best_measured = std::max(best_measured, truth(t.config));
    ASSERT_NE(session.Best(), nullptr);
    good += truth(session.Best()->config) >= 0.99 * best_measured;
  }
  EXPECT_GE(good, 9) << "of 10 runs recommended a configuration within 1% of the best measured";
}

// Trials made from samples, the first of them the baseline, for Restore.
std::vector<TrialRecord> MakeTrials(
    const std::vector<std::pair<Config, std::vector<double>>>& measured) {
  std::vector<TrialRecord> trials;
  for (const auto& [config, samples] : measured) {
    TrialRecord t;
    t.number = static_cast<int64_t>(trials.size());
    t.baseline = trials.empty();
    t.config = config;
    for (double v : samples) t.samples.push_back(Valid(v));
    trials.push_back(t);
  }
  return trials;
}

// `n` samples of a configuration whose mean is `mean`, with 2% noise: alternately 2%
// below and above it, the last one at it when `n` is odd.
std::vector<double> TwoPercentNoise(double mean, int n) {
  std::vector<double> samples;
  for (int k = 0; k < n; ++k) samples.push_back(mean * (k % 2 ? 1.02 : 0.98));
  if (n % 2) samples.back() = mean;
  return samples;
}

TEST(RecommendationTest, AmongTiedTrialsTheBetterMeasuredWinsOverALuckyStreak) {
  // A hill over twelve settings peaking at 6 (true 100), sampled with 2% noise: the
  // peak has 18 samples with mean 100; its neighbour 7 (true 98.5) had a lucky
  // streak of three (mean 101). The two are statistically tied, and the model's
  // posterior mean alone rates the neighbour higher; the one measured eighteen times
  // is the recommendation.
  std::vector<json> values;
  for (int i = 0; i < 12; ++i) values.push_back(i);
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({{"a", values, 0}}, &space).ok());
  auto truth = [](int i) { return 100 - 1.5 * (i - 6) * (i - 6); };
  std::vector<std::pair<Config, std::vector<double>>> measured;
  measured.push_back({{0}, TwoPercentNoise(truth(0), 2)});
  for (uint32_t i = 1; i < 12; ++i) {
    if (i == 6)
      measured.push_back({{i}, TwoPercentNoise(truth(6), 18)});
    else if (i == 7)
      measured.push_back({{i}, {100, 101, 102}});
    else
      measured.push_back({{i}, TwoPercentNoise(truth(i), 3)});
  }
  TuningSession session(Settings{}, Target{"m", Goal::kMax}, &space, nullptr);
  session.Restore(MakeTrials(measured));
  const TrialRecord* best = session.Best();
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(best->config, (Config{6}));
  // The report says that the model chose, over the streak's better mean.
  json chosen = session.Report({1, "completed", "", "", 1, ""})["chosen_by"];
  EXPECT_EQ(chosen, json({{"rule", "model"}, {"best_mean_trial", 7}})) << chosen;
}

TEST(RecommendationTest, TheModelOverrulesTheBestMeanOnlyByAMargin) {
  // Twelve settings sampled with 2% noise: 6 has the best mean (100, six samples); 5
  // is 0.3% behind it (99.7), a seventh of one sample's noise, and measured more
  // often (nine samples). 5's neighbours measured better than 6's (4 at 99, 7 at 95),
  // so the model's lower bound leans to 5, but by less than half of 5's posterior
  // standard deviation: too little to overrule the measurement, and 6 is the
  // recommendation.
  std::vector<json> values;
  for (int i = 0; i < 12; ++i) values.push_back(i);
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({{"a", values, 0}}, &space).ok());
  std::vector<std::pair<Config, std::vector<double>>> measured;
  for (uint32_t i = 0; i < 12; ++i) {
    double mean = 100 - 1.5 * (i - 5.0) * (i - 5.0);
    if (i >= 4 && i <= 7) mean = std::vector<double>{99, 99.7, 100, 95}[i - 4];
    measured.push_back({{i}, TwoPercentNoise(mean, i == 5 ? 9 : i == 6 ? 6 : 3)});
  }
  TuningSession session(Settings{}, Target{"m", Goal::kMax}, &space, nullptr);
  session.Restore(MakeTrials(measured));
  const TrialRecord* best = session.Best();
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(best->config, (Config{6}));
  // The best mean, and the model did not rate another clearly better.
  json chosen = session.Report({1, "completed", "", "", 1, ""})["chosen_by"];
  EXPECT_EQ(chosen, json({{"rule", "mean"}})) << chosen;
}

TEST(RecommendationTest, WhereTheModelCannotFollowTheSurfaceTheBestMeanStands) {
  // Four knobs of nine settings. A smooth hill along the first knob (97 at setting
  // 4), six configurations at each of its settings, measured three times, within 1%
  // of the hill; and a narrow spike that the model cannot follow: (6,4,4,4),
  // measured eighteen times at 100. (5,4,4,4), nearer the hill's top, measured
  // eighteen times at 99.6, is tied with it. The model's view of the hill pulls the
  // spike down and rates (5,4,4,4) higher, by more than the margin; but the rest of
  // the data, the spike's samples left out, predicts the spike several of the
  // model's standard deviations below what it measured. The model does not describe
  // this neighbourhood, and the measured best stands.
  std::vector<json> values;
  for (int i = 0; i < 9; ++i) values.push_back(i);
  std::vector<Knob> knobs;
  for (int k = 0; k < 4; ++k) knobs.push_back({"x" + std::to_string(k), values, 0});
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create(knobs, &space).ok());
  std::minstd_rand draw(10);  // its sequence is fixed by the standard
  auto setting = [&] { return static_cast<uint32_t>(draw() % 9); };
  std::vector<std::pair<Config, std::vector<double>>> measured;
  measured.push_back({{0, 0, 0, 0}, TwoPercentNoise(60, 2)});
  for (uint32_t a = 0; a < 9; ++a)
    for (int j = 0; j < 6; ++j) {
      Config config = {a, setting(), setting(), setting()};
      double hill = 97 - 1.5 * (a - 4.0) * (a - 4.0);
      double offset = (static_cast<double>(draw() % 201) - 100) / 10000;  // +-1%
      measured.push_back({config, TwoPercentNoise(hill * (1 + offset), 3)});
    }
  measured.push_back({{6, 4, 4, 4}, TwoPercentNoise(100, 18)});
  measured.push_back({{5, 4, 4, 4}, TwoPercentNoise(99.6, 18)});
  TuningSession session(Settings{}, Target{"m", Goal::kMax}, &space, nullptr);
  session.Restore(MakeTrials(measured));
  const TrialRecord* best = session.Best();
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(best->config, (Config{6, 4, 4, 4}));
  // The report names the trial the model preferred, (5,4,4,4), the last one.
  json chosen = session.Report({1, "completed", "", "", 1, ""})["chosen_by"];
  EXPECT_EQ(chosen, json({{"rule", "mean"},
                          {"model_unfit", {{"preferred_trial", session.trials().back().number}}}}))
      << chosen;
}

TEST_F(TuningTest, WithConstraintsTheBudgetAndReportCountTheFeasibleConfigurations) {
  SearchSpace space;
  ASSERT_TRUE(
      SearchSpace::Create({{"a", {1, 2, 3}, 0}, {"b", {10, 20}, 0}}, {"a * b <= 20"}, &space)
          .ok());
  settings_.max_configs = 100;
  TuningSession session(settings_, Target{"m", Goal::kMax}, &space, nullptr);
  EXPECT_EQ(session.configs_feasible(), 3u);  // (1, 10), (1, 20), (2, 10)
  EXPECT_EQ(session.ConfigBudget(), 3) << "not max_configs, not all 6";
  session.Restore(MakeTrials({{{0, 0}, {100}}}));
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["configs_total"], 6);
  EXPECT_EQ(report["configs_feasible"], 3);
}

TEST_F(TuningTest, TheReportListsTheConfirmedTrialsTiedWithTheBest) {
  settings_.confirm_samples = 3;
  TuningSession session(settings_, Target{"m", Goal::kMax}, &space_, nullptr);
  session.Restore(MakeTrials({
      {{0, 1}, {100, 101}},        // the baseline, far below
      {{1, 0}, {120, 121, 119}},   // 120 and
      {{2, 0}, {119, 120, 118}},   // 119: within the noise of three samples each
      {{1, 1}, {110, 111, 109}},   // clearly worse
      {{2, 1}, {150}},             // a lucky single sample, not confirmed
  }));
  const TrialRecord* best = session.Best();
  ASSERT_NE(best, nullptr);
  ASSERT_TRUE(best->number == 1 || best->number == 2) << best->number;
  json tied = session.Report({1, "completed", "", "", 1, ""})["tied"];
  EXPECT_EQ(tied["count"], 1) << tied;
  ASSERT_EQ(tied["configs"].size(), 1u) << tied;
  EXPECT_EQ(tied["configs"][0]["trial"], best->number == 1 ? 2 : 1);
  EXPECT_EQ(tied["configs"][0]["samples"], 3);
  EXPECT_FALSE(tied["configs"][0].contains("baseline"));
}

TEST_F(TuningTest, TheReportSaysWhenTheBaselineIsTiedWithTheBest) {
  settings_.confirm_samples = 3;
  TuningSession session(settings_, Target{"m", Goal::kMin}, &space_, nullptr);
  session.Restore(MakeTrials({{{0, 1}, {100, 101}}, {{1, 0}, {100, 99.5, 100.5}}}));
  json report = session.Report({1, "completed", "", "", 1, ""});
  EXPECT_EQ(report["best"]["trial"], 1);
  EXPECT_EQ(report["tied"]["count"], 1);
  EXPECT_EQ(report["tied"]["configs"][0]["trial"], 0);
  EXPECT_EQ(report["tied"]["configs"][0]["baseline"], true);
}

TEST_F(TuningTest, TheReportSaysNothingIsTiedWhenTheBestStandsApart) {
  settings_.confirm_samples = 3;
  TuningSession session(settings_, Target{"m", Goal::kMax}, &space_, nullptr);
  session.Restore(MakeTrials({{{0, 1}, {100, 101}}, {{1, 0}, {120, 121, 119}}}));
  json tied = session.Report({1, "completed", "", "", 1, ""})["tied"];
  EXPECT_EQ(tied, (json{{"count", 0}, {"configs", json::array()}}));
}

// One sample far from its configuration's others (another program took the CPU)
// is flagged as an outlier and does not set the noise on its own.
TEST_F(TuningTest, AnOutlierIsFlaggedAndLeftOutOfTheNoise) {
  settings_.min_baseline_samples = 4;
  TuningSession session = Make({});
  for (double v : {70.4, 70.6, 70.9, 7.5}) {
    ASSERT_EQ(session.Next(0).kind, Step::Kind::kSample);
    session.Record(Valid(v));
  }
  std::vector<bool> outlier = Outliers(session.trials()[0].samples);
  EXPECT_EQ(outlier, (std::vector<bool>{false, false, false, true}));
  // The spread of 70.4, 70.6 and 70.9 alone: well under 1% (the floor); with the
  // outlier it would be over 40%.
  EXPECT_LT(session.RelativeNoise(), 0.011);
  json report = session.Report({});
  EXPECT_EQ(report["samples_outliers"], 1) << report;
  json trials = session.Trials(std::nullopt, -1, 10, 10, 1 << 20);
  EXPECT_EQ(trials["trials"][0]["outliers"], 1);
  EXPECT_EQ(trials["trials"][0]["samples"][3]["outlier"], true) << trials;
  EXPECT_FALSE(trials["trials"][0]["samples"][0].contains("outlier"));
  // Its mean is still every sample's: the outlier is flagged, not hidden.
  EXPECT_NEAR(*session.trials()[0].Mean(), (70.4 + 70.6 + 70.9 + 7.5) / 4, 1e-9);
  // Two samples cannot tell which one is off; a tight cluster flags nothing.
  EXPECT_EQ(Outliers({Valid(70), Valid(7)}), (std::vector<bool>{false, false}));
  EXPECT_EQ(Outliers({Valid(100), Valid(101), Valid(102)}),
            (std::vector<bool>{false, false, false}));
}

// A sample set aside for interference stays in the trial's history but not in its
// statistics: the trial is measured again, and the strategy is told the new value.
TEST_F(TuningTest, ASetAsideSampleIsKeptApartAndTheTrialIsMeasuredAgain) {
  settings_.min_baseline_samples = 1;
  TuningSession session = Make({{1, 0}});
  ASSERT_EQ(session.Next(0).kind, Step::Kind::kSample);
  session.Record(Valid(100));
  Step step = session.Next(0);
  ASSERT_EQ(step.kind, Step::Kind::kSample);
  SampleResult interfered = Valid(40);
  interfered.interfered = true;
  interfered.valid = false;
  interfered.error = "set aside";
  interfered.other_cpu = 1.5;
  session.SetAside(interfered);
  session.Record(Valid(120));
  ASSERT_EQ(session.trials().size(), 2u);
  EXPECT_EQ(session.trials()[1].samples.size(), 1u);
  EXPECT_EQ(session.trials()[1].set_aside.size(), 1u);
  EXPECT_EQ(session.trials()[1].recorded(), 2);
  EXPECT_EQ(*session.trials()[1].Mean(), 120);
  EXPECT_EQ(session.samples_invalid(), 0);
  json report = session.Report({});
  EXPECT_EQ(report["interference"]["samples_set_aside"], 1) << report;
  EXPECT_EQ(report["interference"]["samples_measured"], 1) << report;
  json trials = session.Trials(std::nullopt, -1, 10, 10, 1 << 20);
  EXPECT_EQ(trials["trials"][1]["set_aside"], 1);
  EXPECT_EQ(trials["trials"][1]["samples"].size(), 2u) << trials;
  EXPECT_EQ(trials["trials"][1]["invalid"], 0);
  session.Next(0);  // finishes the trial: the strategy learns the valid sample
  ASSERT_FALSE(told_->empty());
  EXPECT_EQ(told_->back().second, 120);
}

// Guards judge every configuration but the baseline: an absolute limit, and one
// relative to the baseline's mean of the metric, each with a reason that says which.
TEST_F(TuningTest, GuardsMakeAConfigurationInfeasibleAndSayWhy) {
  settings_.min_baseline_samples = 2;
  TuningSession session = Make({{1, 0}});
  MetricSpec ratio;
  ratio.name = "ratio";
  ratio.guard_min_baseline_pct = -2;
  MetricSpec size;
  size.name = "size";
  size.guard_max = 50;
  MetricSpec free_metric;  // no guard: not checked
  free_metric.name = "free";
  session.SetGuards({ratio, size, free_metric});
  auto with = [](double value, double r, double z) {
    SampleResult s = Valid(value);
    s.metrics = {{"ratio", r}, {"size", z}};
    return s;
  };
  for (double r : {3.0, 3.2}) {
    ASSERT_EQ(session.Next(0).kind, Step::Kind::kSample);
    // The baseline itself is never judged, even past an absolute limit.
    EXPECT_FALSE(session.GuardViolation(with(1, r, 99), true));
    session.Record(with(100, r, 40));
  }
  // The baseline's ratio is 3.1: the limit is 3.1 - 2% = 3.038.
  EXPECT_FALSE(session.GuardViolation(with(1, 3.05, 40), false));
  std::optional<std::string> low = session.GuardViolation(with(1, 3.0, 40), false);
  ASSERT_TRUE(low);
  EXPECT_EQ(
      *low,
      "guard: metric 'ratio' was 3, below its guard.min 3.038 (the baseline's 3.1 - "
      "2%)");
  std::optional<std::string> big = session.GuardViolation(with(1, 3.1, 51), false);
  ASSERT_TRUE(big);
  EXPECT_EQ(*big, "guard: metric 'size' was 51, above its guard.max 50");
  SampleResult missing = Valid(1);
  missing.metrics = {{"size", 1}};
  EXPECT_EQ(session.GuardViolation(missing, false).value_or(""),
            "guard: metric 'ratio' was not read");
  // An invalid sample is already out, and so is a run stopped early, which read no
  // other metric.
  EXPECT_FALSE(session.GuardViolation(Invalid("x"), false));
  SampleResult stopped = Valid(1);
  stopped.stopped_early = true;
  EXPECT_FALSE(session.GuardViolation(stopped, false));
  EXPECT_TRUE(Invalid(*low).BrokeGuard());
  EXPECT_FALSE(Invalid("workload exited with status 1").BrokeGuard());
  // The best and the baseline carry their other metrics' means in the report.
  json report = session.Report({});
  EXPECT_NEAR(report["baseline"]["metrics"]["ratio"].get<double>(), 3.1, 1e-9) << report;
}

// Other metrics make each sample larger: one trial's samples are listed up to the
// page's byte budget, and the rest counted, so that a page stays under a protocol
// line whatever the job measured.
TEST_F(TuningTest, ATrialsSamplesAreListedWithinThePagesBytes) {
  settings_.min_baseline_samples = 1000;
  TuningSession session = Make({});
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(session.Next(0).kind, Step::Kind::kSample);
    SampleResult sample = Valid(100 + i % 3);
    for (int m = 0; m < 64; ++m)
      sample.metrics[std::string(200, 'a' + m % 26) + std::to_string(m)] = m;
    session.Record(sample);
  }
  const size_t max_bytes = 1 << 20;
  json page = session.Trials(std::nullopt, -1, 500, 5000, max_bytes);
  ASSERT_EQ(page["trials"].size(), 1u);
  const json& trial = page["trials"][0];
  size_t listed = trial["samples"].size();
  EXPECT_GT(listed, 0u);
  EXPECT_LT(listed, 1000u);
  EXPECT_EQ(trial["samples_omitted"], 1000 - listed);
  EXPECT_EQ(trial["valid"], 1000) << "the counts cover every sample";
  EXPECT_LT(page.dump().size(), 2 * max_bytes);
}

}  // namespace
// Issue 14: the recommendation's model took one point per trial past 400 samples,
// so its memory grew with the square of the trials a budget allowed (10,000 trials:
// an 800 MB kernel matrix, and more for its factor). It now covers the 1,000 best;
// the report of a 10,000-trial job is built under a 1 GiB address-space cap.
TEST(RecommendationTest, Issue14TheModelOfTenThousandTrialsFitsInBoundedMemory) {
  std::vector<nlohmann::json> a, b;
  for (int i = 0; i < 100; ++i) a.push_back(i), b.push_back(i);
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({{"a", a, 0}, {"b", b, 0}}, &space).ok());
  std::vector<std::pair<Config, std::vector<double>>> measured;
  for (uint32_t i = 0; i < 100; ++i)
    for (uint32_t j = 0; j < 100; ++j)
      measured.push_back({{i, j}, {1000.0 - (i - 40.0) * (i - 40.0) - (j - 60.0) * (j - 60.0)}});
  std::vector<TrialRecord> trials = MakeTrials(measured);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit cap{1ul << 30, 1ul << 30};
    setrlimit(RLIMIT_AS, &cap);
    TuningSession session(Settings{}, Target{"m", Goal::kMax}, &space, nullptr);
    session.Restore(std::move(trials));
    const TrialRecord* best = session.Best();
    json report = session.Report({1, "completed", "", "", 1, ""});
    _exit(best && best->config == Config{40, 60} && report.contains("best") ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the report died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace hone
