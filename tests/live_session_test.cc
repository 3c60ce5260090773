// LiveSession on a simulated service (bench/live_sim.h), on simulated time: the
// decisions of a live job without a daemon, a clock or a process.
#include "daemon/tuner/live_session.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bench/live_sim.h"

namespace hone {
namespace {

using nlohmann::json;
using sim::LiveSim;
using sim::SimPhase;

// svc_a: 1..8 (default 1), swappiness: 10, 30, 60 (default 60, as a machine has it).
SearchSpace TwoKnobs() {
  std::vector<Knob> knobs(2);
  knobs[0].name = "svc_a";
  for (int a = 1; a <= 8; ++a) knobs[0].values.push_back(a);
  knobs[1].name = "vm.swappiness";
  knobs[1].values = {10, 30, 60};
  knobs[1].default_index = 2;
  SearchSpace space;
  EXPECT_TRUE(SearchSpace::Create(knobs, &space).ok());
  return space;
}

int A(const Config& c) { return static_cast<int>(c[0]) + 1; }
int B(const Config& c) { return c[1] == 0 ? 10 : c[1] == 1 ? 30 : 60; }

// Phase 1: best at a=6, swappiness 30; a=8 with swappiness 10 is harmful.
double Phase1(const Config& c) {
  double e = 1 - 0.02 * std::pow(A(c) - 6, 2);
  e *= B(c) == 10 ? 0.96 : B(c) == 30 ? 1.0 : 0.98;
  if (A(c) == 8 && B(c) == 10) e *= 0.4;
  return e;
}
// Phase 2: best at a=3, swappiness 10.
double Phase2(const Config& c) {
  double e = 1 - 0.02 * std::pow(A(c) - 3, 2);
  return e * (B(c) == 10 ? 1.0 : B(c) == 30 ? 0.95 : 0.9);
}

double BestOf(const SearchSpace& space, double (*f)(const Config&)) {
  double best = 0;
  for (uint32_t a = 0; a < space.knob(0).values.size(); ++a)
    for (uint32_t b = 0; b < space.knob(1).values.size(); ++b)
      best = std::max(best, f({a, b}));
  return best;
}

LiveSettings Settings(LiveMode mode = LiveMode::kTune) {
  LiveSettings s;
  s.interval_s = 0.2;
  s.epoch_samples = 5;
  s.max_regression_pct = 20;
  s.mode = mode;
  s.seed = 7;
  return s;
}

// Runs the session over the simulated service from `from` to `to` seconds.
struct DriveStats {
  double harmful_run = 0;  // most samples in a row under a harmful configuration
  int changes = 0;
  int reverts = 0;
};

void Drive(LiveSession& session, LiveSim& sim, double from, double to, double interval,
           Config* holding, DriveStats* stats) {
  DriveStats run;
  int harmful = 0;
  const SearchSpace& space = *session.space();
  for (double t = from; t < to; t += interval) {
    LiveSample sample{t, true, sim.Sample(*holding, t), "", "", sim.PhaseAt(t).signature};
    // Harmful: worse than the incumbent by more than the guard's 20%.
    Config incumbent;
    ASSERT_TRUE(
        space.FromJson(session.Snapshot()["incumbent"]["config"], &incumbent).ok());
    if (sim.Expected(*holding, t) < 0.75 * sim.Expected(incumbent, t)) {
      ++harmful;
      run.harmful_run = std::max<double>(run.harmful_run, harmful);
    } else {
      harmful = 0;
    }
    LiveDecision decision = session.Observe(sample);
    if (decision.change) {
      ++run.changes;
      run.reverts += decision.revert;
      *holding = decision.config;
    }
    ASSERT_EQ(session.holding(), *holding);
  }
  *stats = run;
}

DriveStats Drive(LiveSession& session, LiveSim& sim, double from, double to,
                 double interval, Config* holding) {
  DriveStats stats;
  Drive(session, sim, from, to, interval, holding, &stats);
  return stats;
}

TEST(LiveSessionTest, SettlesNearTheBestRevertsHarmAndRetunesAfterAPhaseChange) {
  SearchSpace space = TwoKnobs();
  LiveSim sim({{0, Phase1}, {900, Phase2}}, /*swing=*/0.15, /*period_s=*/400,
              /*noise=*/0.02, 11);
  LiveSession session(Settings(), Goal::kMax, &space);
  Config holding = space.Default();
  session.Start(0, holding);

  DriveStats first = Drive(session, sim, 0, 900, 0.2, &holding);
  EXPECT_TRUE(session.settled()) << session.Snapshot().dump();
  EXPECT_GE(Phase1(holding), 0.95 * BestOf(space, Phase1))
      << space.ToJson(holding).dump();
  EXPECT_LE(first.harmful_run, 1) << "a harmful configuration outlived one sample";
  EXPECT_EQ(session.phase(), 1);

  DriveStats second = Drive(session, sim, 900, 1800, 0.2, &holding);
  EXPECT_GE(session.phase(), 2) << "the phase change went unseen";
  EXPECT_TRUE(session.settled()) << session.Snapshot().dump();
  EXPECT_GE(Phase2(holding), 0.95 * BestOf(space, Phase2))
      << space.ToJson(holding).dump();
  EXPECT_LE(second.harmful_run, 1);

  json report = session.Report();
  if (getenv("HONE_TEST_VERBOSE")) printf("%s\n", report.dump(1).c_str());
  ASSERT_GE(report["phases"].size(), 2u);
  EXPECT_GT(report["phases"][0]["best"]["improvement_pct"].get<double>(), 50);
}

// Phase 1's programs again, under 80% of the load.
double Phase1Lighter(const Config& c) { return 0.8 * Phase1(c); }
// Other programs at the same level under phase 1's best (a=6, swappiness 30: 1.0), but
// best at a=3 (1.15): only the signature shows the change.
double OtherProgramsSameLevel(const Config& c) {
  return (1.15 - 0.05 * std::abs(A(c) - 3)) * (B(c) == 30 ? 1.0 : 0.97);
}

TEST(LiveSessionTest, AWorkloadSignatureTellsPhasesApartAndKnowsOneThatReturns) {
  SearchSpace space = TwoKnobs();
  ASSERT_NEAR(OtherProgramsSameLevel({5, 1}), Phase1({5, 1}), 1e-12);
  LiveSim sim({{0, Phase1, "postgres"},
               {900, OtherProgramsSameLevel, "nginx,postgres"},
               {1800, Phase1Lighter, "postgres"}},
              0, 1000, 0.02, 11);
  LiveSettings settings = Settings();
  settings.phase_signature = true;
  LiveSession session(settings, Goal::kMax, &space);
  Config holding = space.Default();
  session.Start(0, holding);

  Drive(session, sim, 0, 900, 0.2, &holding);
  ASSERT_EQ(session.phase(), 1);
  EXPECT_EQ(session.Snapshot()["signature"], "postgres");
  EXPECT_GE(Phase1(holding), 0.95 * BestOf(space, Phase1)) << space.ToJson(holding);

  // The level stays; the programs change: a new phase, tuned again.
  Drive(session, sim, 900, 1800, 0.2, &holding);
  EXPECT_EQ(session.phase(), 2) << session.Snapshot().dump();
  EXPECT_EQ(session.Snapshot()["signature"], "nginx,postgres");
  EXPECT_GE(OtherProgramsSameLevel(holding), 0.95 * BestOf(space, OtherProgramsSameLevel))
      << space.ToJson(holding);

  // Phase 1's programs return at 80% of its level: phase 1 is known by them, and its
  // best runs again.
  Drive(session, sim, 1800, 2100, 0.2, &holding);
  EXPECT_EQ(session.phase(), 1) << session.Snapshot().dump();
  EXPECT_EQ(session.Snapshot()["phases"], 2);
  EXPECT_GE(Phase1(holding), 0.95 * BestOf(space, Phase1)) << space.ToJson(holding);

  // The signatures survive a restart.
  LiveSession again(settings, Goal::kMax, &space);
  ASSERT_TRUE(again.LoadState(session.SaveState()).ok());
  json phases = again.Report()["phases"];
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0]["signature"], "postgres");
  EXPECT_EQ(phases[1]["signature"], "nginx,postgres");
}

// Without signatures, the same service: the change of programs at the same level goes
// unseen (what phase_signature is for).
TEST(LiveSessionTest, WithoutASignatureAChangeAtTheSameLevelIsNotAPhase) {
  SearchSpace space = TwoKnobs();
  LiveSim sim({{0, Phase1, "postgres"}, {900, OtherProgramsSameLevel, "nginx,postgres"}},
              0, 1000, 0.02, 11);
  LiveSession session(Settings(), Goal::kMax, &space);
  Config holding = space.Default();
  session.Start(0, holding);
  Drive(session, sim, 0, 1800, 0.2, &holding);
  EXPECT_EQ(session.phase(), 1);
  EXPECT_FALSE(session.Snapshot().contains("signature"));
}

TEST(LiveSessionTest, TheGuardRevertsAtTheFirstBadSampleAndMarksTheCandidateBad) {
  SearchSpace space = TwoKnobs();
  // Every configuration but the default is harmful.
  LiveSim sim({{0, [&](const Config& c) { return c == space.Default() ? 1.0 : 0.5; }}}, 0,
              1000, 0.01, 3);
  LiveSession session(Settings(), Goal::kMax, &space);
  Config holding = space.Default();
  session.Start(0, holding);
  DriveStats run = Drive(session, sim, 0, 120, 0.2, &holding);
  EXPECT_GT(run.reverts, 3);
  EXPECT_EQ(run.reverts * 2, run.changes) << "each trial: one change there, one revert";
  EXPECT_LE(run.harmful_run, 1);
  EXPECT_EQ(holding, space.Default());
  json status = session.Snapshot();
  EXPECT_EQ(status["guard"]["reverts"], run.reverts);
  EXPECT_NE(
      status["guard"]["last_revert"].get<std::string>().find("max_regression_pct 20"),
      std::string::npos)
      << status.dump();
}

// One sample cannot tell a configuration just past max_regression_pct from one just
// inside it; so that the first is still reverted after one interval, the first sample
// of a candidate's epoch is held to the limit less three times the sample noise, while
// a later sample of a candidate that passed it is let off down to half the limit.
TEST(LiveSessionTest, TheFirstSampleOfACandidateEpochIsHeldToTheLimitLessItsNoise) {
  SearchSpace space = TwoKnobs();
  LiveSession session(Settings(), Goal::kMax, &space);  // max_regression_pct 20
  session.Start(0, space.Default());
  double t = 0;
  int n = 0;
  // Whether a candidate epoch is running, and the guard's two limits then.
  auto candidate = [&] {
    json s = session.Snapshot();
    Config incumbent;
    EXPECT_TRUE(space.FromJson(s["incumbent"]["config"], &incumbent).ok());
    return session.holding() != incumbent;
  };
  auto guard = [&] { return session.Snapshot()["guard"]; };
  // The incumbent measures 5% noise per sample (so three of it, 15%, is more than half
  // of 20%); candidates measure the incumbent's level, until a candidate epoch starts
  // with the noise measured.
  bool ready = false;
  for (int i = 0; i < 20000 && !ready; ++i) {
    double value = 100 * (n++ % 2 ? 1.05 : 0.95);
    if (candidate()) value = session.Snapshot()["incumbent"]["value"].get<double>();
    LiveDecision d = session.Observe({t += 0.2, true, value, "", "", ""});
    ASSERT_FALSE(d.revert) << d.reason;
    ready =
        d.change && candidate() &&
        guard()["first_sample_limit"].get<double>() > guard()["limit"].get<double>() + 1;
  }
  ASSERT_TRUE(ready) << session.Snapshot().dump();
  const double first = guard()["first_sample_limit"].get<double>();
  const double later = guard()["limit"].get<double>();
  const double reference = session.Snapshot()["incumbent"]["value"].get<double>();
  EXPECT_LT(first, reference);  // 20% less three times ~5%: above 0, below 10
  EXPECT_GT(first, later);
  EXPECT_NEAR(later, reference * (1 - 0.10), reference * 1e-9);  // half of 20%
  // Between the two: reverted at the first sample ...
  LiveDecision d = session.Observe({t += 0.2, true, (first + later) / 2, "", "", ""});
  EXPECT_TRUE(d.revert);
  EXPECT_NE(d.reason.find("at the first sample of an epoch"), std::string::npos)
      << d.reason;
  // ... and kept at a later one.
  bool checked = false;
  for (int i = 0; i < 20000 && !checked; ++i) {
    bool was_candidate = candidate();
    double value = 100 * (n++ % 2 ? 1.05 : 0.95);
    if (was_candidate) value = reference;
    d = session.Observe({t += 0.2, true, value, "", "", ""});
    ASSERT_FALSE(d.revert) << d.reason;
    if (was_candidate && candidate()) {  // the candidate's first sample passed
      double now_first = guard()["first_sample_limit"].get<double>();
      double now_later = guard()["limit"].get<double>();
      d = session.Observe({t += 0.2, true, (now_first + now_later) / 2, "", "", ""});
      EXPECT_FALSE(d.revert) << d.reason;
      checked = true;
    }
  }
  EXPECT_TRUE(checked);
}

TEST(LiveSessionTest, AFailedSampleUnderACandidateRevertsToo) {
  SearchSpace space = TwoKnobs();
  LiveSession session(Settings(), Goal::kMax, &space);
  session.Start(0, space.Default());
  double t = 0;
  LiveDecision d;
  // Incumbent epochs until a candidate starts.
  while (!d.change) d = session.Observe({t += 0.2, true, 100, "", "", ""});
  ASSERT_NE(d.config, space.Default());
  d = session.Observe({t += 0.2, false, 0, "sample_script exited with status 1", "", ""});
  EXPECT_TRUE(d.change);
  EXPECT_TRUE(d.revert);
  EXPECT_EQ(d.config, space.Default());
  EXPECT_NE(d.reason.find("sample_script exited"), std::string::npos) << d.reason;
}

TEST(LiveSessionTest, AGuardMetricPastItsLimitReverts) {
  SearchSpace space = TwoKnobs();
  LiveSession session(Settings(), Goal::kMax, &space);
  session.Start(0, space.Default());
  double t = 0;
  LiveDecision d;
  while (!d.change) d = session.Observe({t += 0.2, true, 100, "", "", ""});
  d = session.Observe({t += 0.2, true, 150, "", "latency_p99 61.2 > 50", ""});
  EXPECT_TRUE(d.revert);
  EXPECT_NE(d.reason.find("latency_p99 61.2 > 50"), std::string::npos);
}

// A load that rises all along favours whatever runs later; the A/B/A pairs do not
// let it pick a winner among configurations that are all the same.
TEST(LiveSessionTest, ADriftingLoadDoesNotPromoteEqualConfigurations) {
  SearchSpace space = TwoKnobs();
  LiveSession session(Settings(), Goal::kMax, &space);
  Config holding = space.Default();
  session.Start(0, holding);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 0.005);
  int promotions = 0;
  for (double t = 0; t < 400; t += 0.2) {
    double rate = 100 * (1 + 0.01 * t) * (1 + noise(rng));  // +1% a second
    LiveDecision d = session.Observe({t, true, rate, "", "", ""});
    if (d.change && d.reason.find("promoted") != std::string::npos) ++promotions;
    if (d.change) holding = d.config;
  }
  EXPECT_LE(promotions, 1) << session.Report().dump();
  EXPECT_GE(session.Report()["phases"][0]["configs_tried"].get<int>(), 8);
}

TEST(LiveSessionTest, MaxStepDwellAndTheHourlyLimitBoundTheChanges) {
  SearchSpace space = TwoKnobs();
  LiveSettings settings = Settings();
  settings.max_step = {1, 0};  // svc_a moves by 1 at most
  settings.min_dwell_s = 3;
  settings.max_changes_per_hour = 30;
  LiveSim sim({{0, Phase1}}, 0.1, 600, 0.02, 9);
  LiveSession session(settings, Goal::kMax, &space);
  Config holding = space.Default();
  session.Start(0, holding);
  std::vector<double> changes;
  double last_change = -1e9;
  for (double t = 0; t < 4 * 3600; t += 0.2) {
    Config before = holding;
    LiveDecision d = session.Observe({t, true, sim.Sample(holding, t), "", "", ""});
    if (!d.change) continue;
    holding = d.config;
    changes.push_back(t);
    if (!d.revert) {
      EXPECT_LE(std::abs(A(holding) - A(before)), 1) << d.reason;
      EXPECT_GE(t - last_change, 3 - 1e-9) << d.reason;
    }
    last_change = t;
  }
  ASSERT_GT(changes.size(), 10u);
  for (size_t i = 0; i < changes.size(); ++i) {
    size_t in_hour = 0;
    for (size_t j = i; j < changes.size() && changes[j] < changes[i] + 3600; ++j)
      ++in_hour;
    EXPECT_LE(in_hour, 30u) << "from " << changes[i] << " s";
  }
  // One step at a time, it still climbs to the best's neighbourhood.
  EXPECT_GE(A(holding), 5);
}

TEST(LiveSessionTest, RecommendModeChangesNothingUntilAccepted) {
  SearchSpace space = TwoKnobs();
  LiveSession session(Settings(LiveMode::kRecommend), Goal::kMax, &space);
  session.Start(0, space.Default());
  EXPECT_FALSE(session.Accept().ok()) << "nothing to accept yet";
  double t = 0;
  for (; t < 30; t += 0.2) {
    LiveDecision d = session.Observe({t, true, 100, "", "", ""});
    EXPECT_FALSE(d.change) << d.reason;
  }
  ASSERT_TRUE(session.proposal().has_value());
  EXPECT_TRUE(session.Snapshot().contains("proposal"));
  Config proposed = *session.proposal();
  ASSERT_TRUE(session.Accept().ok());
  LiveDecision d;
  while (!d.change && t < 60) d = session.Observe({t += 0.2, true, 100, "", "", ""});
  EXPECT_TRUE(d.change);
  EXPECT_EQ(d.config, proposed);
}

TEST(LiveSessionTest, StateSurvivesARestartAndBestModeUsesIt) {
  SearchSpace space = TwoKnobs();
  LiveSim sim({{0, Phase1}}, 0.1, 400, 0.02, 21);
  json saved;
  {
    LiveSession session(Settings(), Goal::kMax, &space);
    Config holding = space.Default();
    session.Start(0, holding);
    Drive(session, sim, 0, 900, 0.2, &holding);
    ASSERT_TRUE(session.settled());
    saved = session.SaveState();
  }
  // A new session in mode best, from the saved state, on a machine put back to its
  // defaults: it applies the phase's best and explores nothing else.
  LiveSession best(Settings(LiveMode::kBest), Goal::kMax, &space);
  ASSERT_TRUE(best.LoadState(saved).ok());
  Config holding = space.Default();
  best.Start(900, holding);
  int changes = 0;
  for (double t = 900; t < 1000; t += 0.2) {
    LiveDecision d = best.Observe({t, true, sim.Sample(holding, t), "", "", ""});
    if (!d.change) continue;
    ++changes;
    // Nothing is explored: only the default and the phase's best ever run.
    EXPECT_TRUE(d.config == space.Default() ||
                Phase1(d.config) >= 0.95 * BestOf(space, Phase1))
        << d.reason;
    holding = d.config;
  }
  EXPECT_GE(Phase1(holding), 0.95 * BestOf(space, Phase1))
      << space.ToJson(holding).dump();
  // A B A (B A) and the best kept: its trial epochs, there and back, and the switch.
  EXPECT_GE(changes, 3);
  EXPECT_LE(changes, 5);
  EXPECT_TRUE(best.settled());
  EXPECT_EQ(best.SaveState()["phases"][0]["tried"], saved["phases"][0]["tried"]);
}

// A rejected candidate's score is a point estimate that the paired comparison did
// not establish: it is never the phase's best, however high.
TEST(LiveSessionTest, OnlyAnEstablishedConfigurationIsAPhasesBest) {
  SearchSpace space = TwoKnobs();
  json incumbent = {{"svc_a", 2}, {"vm.swappiness", 30}};
  json rejected = {{"svc_a", 3}, {"vm.swappiness", 30}};
  json state = {{"version", 1},
                {"current", 1},
                {"next_phase", 2},
                {"phases",
                 {{{"id", 1},
                   {"incumbent", incumbent},
                   {"incumbent_score", 1.2},
                   {"tried",
                    {{{"config", incumbent}, {"score", 1.2}, {"established", true}},
                     {{"config", rejected}, {"score", 1.25}, {"established", false}}}}}}}};
  LiveSession session(Settings(), Goal::kMax, &space);
  ASSERT_TRUE(session.LoadState(state).ok());
  session.Start(0, space.Default());
  json report = session.Report();
  EXPECT_EQ(report["best"]["config"], incumbent) << report.dump();
  EXPECT_EQ(report["phases"][0]["best"]["improvement_pct"], 20);
}

TEST(LiveSessionTest, DamagedStateIsRefusedAndChangesNothing) {
  SearchSpace space = TwoKnobs();
  LiveSession session(Settings(), Goal::kMax, &space);
  json good = {
      {"version", 1},
      {"current", 1},
      {"next_phase", 2},
      {"phases",
       {{{"id", 1},
         {"incumbent", {{"svc_a", 2}, {"vm.swappiness", 30}}},
         {"tried", {{{"config", {{"svc_a", 2}, {"vm.swappiness", 30}}}, {"score", 1.2}}}},
         {"levels", json::array()}}}}};
  EXPECT_TRUE(session.LoadState(good).ok());
  std::vector<json> damaged;
  damaged.push_back(json::array());
  json j = good;
  j["version"] = 2;
  damaged.push_back(j);
  j = good;
  j["current"] = 5;
  damaged.push_back(j);
  j = good;
  j["phases"][0]["incumbent"]["svc_a"] = 99;
  damaged.push_back(j);
  j = good;
  j["phases"][0]["tried"][0]["score"] = "NaN";
  damaged.push_back(j);
  j = good;
  j["phases"][0]["id"] = 7;  // not below next_phase
  damaged.push_back(j);
  j = good;
  j["phases"].push_back(good["phases"][0]);  // the same id twice
  damaged.push_back(j);
  j = good;
  j["phases"] = json::array();
  for (int i = 0; i < 40; ++i) j["phases"].push_back(good["phases"][0]);
  damaged.push_back(j);
  for (const json& signature :
       {json(7), json(std::string(2000, 'a')), json("db\x1b[2Jweb")}) {
    j = good;
    j["phases"][0]["signature"] = signature;
    damaged.push_back(j);
  }
  for (const json& d : damaged) {
    LiveSession fresh(Settings(), Goal::kMax, &space);
    Status s = fresh.LoadState(d);
    EXPECT_FALSE(s.ok()) << d.dump();
    EXPECT_NE(s.message().find("the stored live state is damaged"), std::string::npos);
    fresh.Start(0, space.Default());
    EXPECT_EQ(fresh.phase(), 1);
    EXPECT_EQ(fresh.Snapshot()["phases"], 1);
  }
}

}  // namespace
}  // namespace hone
