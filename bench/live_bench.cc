// hone_live_bench: live tuning over a simulated day, faster than real time.
//
// A simulated service (bench/live_sim.h) runs through a day: its offered load swings
// by +-30% (one period a day), each sample has 3% noise, and its workload changes
// phase four times (night, morning, peak, evening, and the night's again at 22:00),
// each phase with its own best configuration and a harmful corner. LiveSession, the
// live job's decisions, drives it on simulated time (the clock seam: the session
// never reads a clock), sampling every 5 s with epochs of 7 samples, as the
// commercial runtime tuner does by default, with max_regression_pct 10.
//
// It prints, per seed and over all seeds (docs/performance.md, "Live tuning"):
//   regret       throughput lost against an oracle that runs each phase's best
//                configuration all the time, in % of the oracle's throughput
//                (target: under 5%)
//   unsafe       share of time under a configuration worse than the default
//                configuration by more than max_regression_pct (target: under 1%)
//   harmful      the longest time a harmful configuration (worse than the
//                incumbent by more than max_regression_pct) was held, in sampling
//                intervals (target: at most 1); "clearly", the same for one worse by
//                two sample standard deviations more, which its first sample shows;
//                "held>1", harmful trials held longer than one interval, of all
//                harmful trials
//   changes/h    knob changes per hour, in all and once settled (target: under 30
//                once settled)
//
// With --signatures, each phase's samples carry its workload signature (the programs
// that use the CPU: night "backup,db", morning "db,web", peak "web", evening
// "db,report,web"), as phase_signature: processes gives them, so that a phase that
// returns at another load is known by its programs, not its level.
//
//   hone_live_bench [--seeds N] [--days D] [--signatures]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/live_sim.h"
#include "daemon/tuner/live_session.h"

namespace hone {
namespace {

using sim::LiveSim;
using sim::SimPhase;

constexpr double kHour = 3600;
constexpr double kInterval = 5;
constexpr double kMaxRegressionPct = 10;
constexpr double kNoise = 0.03;  // one sample's relative noise

// threads 1..16, batch 1..64 (powers of two), allocator (3 kinds), prefetch on/off:
// 672 configurations.
SearchSpace ServiceSpace() {
  std::vector<Knob> knobs(4);
  knobs[0].name = "threads";
  for (int t = 1; t <= 16; ++t) knobs[0].values.push_back(t);
  knobs[0].default_index = 3;  // 4 threads
  knobs[1].name = "batch";
  for (int b = 1; b <= 64; b *= 2) knobs[1].values.push_back(b);
  knobs[1].default_index = 0;
  knobs[2].name = "allocator";
  knobs[2].values = {"glibc", "jemalloc", "tcmalloc"};
  knobs[2].type = KnobType::kCategorical;
  knobs[3].name = "prefetch";
  knobs[3].values = {0, 1};
  knobs[3].type = KnobType::kBoolean;
  knobs[3].default_index = 1;
  SearchSpace space;
  if (!SearchSpace::Create(knobs, &space).ok()) abort();
  return space;
}

// A phase's efficiency: a smooth optimum in threads and log2(batch), an allocator
// and a prefetcher that help some workloads and hurt others, and a harmful corner
// (many threads with big batches thrash).
struct Surface {
  double threads, log_batch;  // the optimum
  double width_t, width_b;    // how sharp it is
  double allocator[3];        // factors
  double prefetch_on;         // factor with the prefetcher on (off: 1)
};

double Efficiency(const Surface& s, const Config& c) {
  double t = static_cast<double>(c[0]) + 1;
  double b = static_cast<double>(c[1]);
  double e = std::exp(-std::pow((t - s.threads) / s.width_t, 2) -
                      std::pow((b - s.log_batch) / s.width_b, 2));
  e = 0.3 + 0.7 * e;
  e *= s.allocator[c[2]];
  if (c[3] == 1) e *= s.prefetch_on;
  if (t >= 14 && b >= 5) e *= 0.35;  // thrashing
  return e;
}

const Surface kNight{12, 6, 5, 2.5, {1.0, 1.08, 1.04}, 1.05};
const Surface kMorning{6, 3, 3, 2, {1.0, 0.97, 1.06}, 0.96};
const Surface kPeak{9, 2, 4, 1.5, {1.0, 1.1, 1.05}, 0.92};
const Surface kEvening{4, 4, 2.5, 2, {1.0, 1.02, 0.98}, 1.0};

struct Result {
  double regret_pct = 0, unsafe_pct = 0, harmful_intervals = 0;
  double changes_per_hour = 0, settled_changes_per_hour = 0;
  double default_regret_pct = 0;
  int phases_seen = 0;
  double clearly_harmful_intervals = 0;
  int harmful_trials = 0, harmful_held_longer = 0;
  // The regret's two parts: trials (the candidate's worse than the incumbent), and
  // the incumbent's gap to the phase's best.
  double explore_pct = 0, incumbent_pct = 0;
};

Result RunDay(uint64_t seed, double days, bool signatures) {
  SearchSpace space = ServiceSpace();
  std::vector<SimPhase> phases;
  for (int d = 0; d < static_cast<int>(std::ceil(days)); ++d) {
    double base = d * 24 * kHour;
    auto at = [&](const Surface* s) {
      return [s](const Config& c) { return Efficiency(*s, c); };
    };
    auto programs = [&](const char* names) {
      return std::string(signatures ? names : "");
    };
    phases.push_back({base + 0, at(&kNight), programs("backup,db")});
    phases.push_back({base + 6 * kHour, at(&kMorning), programs("db,web")});
    phases.push_back({base + 11 * kHour, at(&kPeak), programs("web")});
    phases.push_back({base + 17 * kHour, at(&kEvening), programs("db,report,web")});
    phases.push_back({base + 22 * kHour, at(&kNight), programs("backup,db")});
  }
  LiveSim sim(phases, 0.3, 24 * kHour, kNoise, seed);
  // Each phase's best, for the oracle.
  std::vector<double> best(phases.size(), 0);
  for (size_t p = 0; p < phases.size(); ++p)
    for (uint64_t n = 0; n < space.Size(); ++n) {
      Config c = {static_cast<uint32_t>(n / 42), static_cast<uint32_t>(n / 6 % 7),
                  static_cast<uint32_t>(n / 2 % 3), static_cast<uint32_t>(n % 2)};
      best[p] = std::max(best[p], phases[p].efficiency(c));
    }

  LiveSettings settings;
  settings.interval_s = kInterval;
  settings.epoch_samples = 7;
  settings.max_regression_pct = kMaxRegressionPct;
  settings.seed = seed;
  settings.phase_signature = signatures;
  LiveSession session(settings, Goal::kMax, &space);
  const Config defaults = space.Default();
  Config holding = defaults;
  session.Start(0, holding);

  Result r;
  double achieved = 0, oracle = 0, by_default = 0, unsafe = 0;
  double harmful = 0, worst_harmful = 0, clearly = 0, worst_clearly = 0;
  double explore_loss = 0, incumbent_loss = 0;
  int64_t changes = 0, settled_changes = 0;
  double settled_time = 0;
  const double end = days * 24 * kHour;
  for (double t = 0; t < end; t += kInterval) {
    size_t p = sim.PhaseIndex(t);
    double load = sim.Load(t);
    double now = 100 * load * phases[p].efficiency(holding);
    achieved += now;
    oracle += 100 * load * best[p];
    double under_default = 100 * load * phases[p].efficiency(defaults);
    by_default += under_default;
    if (now < (1 - kMaxRegressionPct / 100) * under_default) unsafe += 1;
    // Harmful: worse than the incumbent by more than max_regression_pct.
    const nlohmann::json snapshot = session.Snapshot();
    Config incumbent;
    if (!space.FromJson(snapshot["incumbent"]["config"], &incumbent).ok()) abort();
    double under_incumbent = 100 * load * phases[p].efficiency(incumbent);
    explore_loss += under_incumbent - now;
    incumbent_loss += 100 * load * best[p] - under_incumbent;
    if (now < (1 - kMaxRegressionPct / 100) * under_incumbent) {
      harmful += 1;
      worst_harmful = std::max(worst_harmful, harmful);
      if (harmful == 1) ++r.harmful_trials;
      if (harmful == 2) ++r.harmful_held_longer;
    } else {
      harmful = 0;
    }
    // Clearly harmful: past the limit by two standard deviations of one sample, so
    // that its first sample shows it (one sample cannot tell a configuration 10.5%
    // worse from one 9.5% worse).
    if (now < (1 - (kMaxRegressionPct + 2 * 100 * kNoise) / 100) * under_incumbent) {
      clearly += 1;
      worst_clearly = std::max(worst_clearly, clearly);
    } else {
      clearly = 0;
    }
    bool settled = session.settled();
    if (settled) settled_time += kInterval;
    LiveDecision d =
        session.Observe({t, true, sim.Sample(holding, t), "", "", phases[p].signature});
    if (d.change) {
      ++changes;
      if (settled) ++settled_changes;
      holding = d.config;
    }
  }
  r.regret_pct = (1 - achieved / oracle) * 100;
  r.default_regret_pct = (1 - by_default / oracle) * 100;
  r.unsafe_pct = unsafe * kInterval / end * 100;
  r.harmful_intervals = worst_harmful;
  r.clearly_harmful_intervals = worst_clearly;
  r.changes_per_hour = static_cast<double>(changes) / (end / kHour);
  r.settled_changes_per_hour =
      settled_time > 0 ? static_cast<double>(settled_changes) / (settled_time / kHour)
                       : 0;
  r.phases_seen = session.Snapshot()["phases"].get<int>();
  r.explore_pct = explore_loss / oracle * 100;
  r.incumbent_pct = incumbent_loss / oracle * 100;
  return r;
}

}  // namespace
}  // namespace hone

int main(int argc, char** argv) {
  int seeds = 5;
  double days = 1;
  bool signatures = false;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--signatures")) signatures = true;
    if (i + 1 >= argc) continue;
    if (!strcmp(argv[i], "--seeds")) seeds = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--days")) days = atof(argv[i + 1]);
  }
  printf(
      "live tuning over %.3g simulated day(s): 672 configurations, 5 phase changes a "
      "day, load +-30%%, noise 3%%,\nsampling every 5 s, epochs of 7 samples, "
      "max_regression_pct 10%s\n\n",
      days, signatures ? ", workload signatures" : "");
  printf("%-6s %8s %8s %8s %9s %8s %8s %8s %10s %10s %12s %7s\n", "seed", "regret%",
         "trials%", "gap%", "default%", "unsafe%", "harmful", "clearly", "held>1",
         "changes/h", "settled c/h", "phases");
  hone::Result sum;
  double worst_harmful = 0, worst_regret = 0, worst_unsafe = 0, worst_settled = 0;
  double worst_clearly = 0;
  int held_longer = 0, harmful_trials = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    hone::Result r = hone::RunDay(static_cast<uint64_t>(seed), days, signatures);
    printf("%-6d %8.2f %8.2f %8.2f %9.2f %8.3f %8.0f %8.0f %6d/%-3d %10.1f %12.1f %7d\n",
           seed, r.regret_pct, r.explore_pct, r.incumbent_pct, r.default_regret_pct,
           r.unsafe_pct, r.harmful_intervals, r.clearly_harmful_intervals,
           r.harmful_held_longer, r.harmful_trials, r.changes_per_hour,
           r.settled_changes_per_hour, r.phases_seen);
    sum.regret_pct += r.regret_pct / seeds;
    sum.default_regret_pct += r.default_regret_pct / seeds;
    sum.explore_pct += r.explore_pct / seeds;
    sum.incumbent_pct += r.incumbent_pct / seeds;
    sum.unsafe_pct += r.unsafe_pct / seeds;
    sum.changes_per_hour += r.changes_per_hour / seeds;
    sum.settled_changes_per_hour += r.settled_changes_per_hour / seeds;
    worst_harmful = std::max(worst_harmful, r.harmful_intervals);
    worst_clearly = std::max(worst_clearly, r.clearly_harmful_intervals);
    held_longer += r.harmful_held_longer;
    harmful_trials += r.harmful_trials;
    worst_regret = std::max(worst_regret, r.regret_pct);
    worst_unsafe = std::max(worst_unsafe, r.unsafe_pct);
    worst_settled = std::max(worst_settled, r.settled_changes_per_hour);
  }
  printf("%-6s %8.2f %8.2f %8.2f %9.2f %8.3f %8.0f %8.0f %6d/%-3d %10.1f %12.1f\n", "all",
         sum.regret_pct, sum.explore_pct, sum.incumbent_pct, sum.default_regret_pct,
         sum.unsafe_pct, worst_harmful, worst_clearly, held_longer, harmful_trials,
         sum.changes_per_hour, sum.settled_changes_per_hour);
  printf(
      "\ntargets: regret < 5%% (worst %.2f%%), unsafe < 1%% (worst %.3f%%), harmful "
      "held <= 1 interval (worst %.0f; clearly harmful: worst %.0f; %d of %d harmful "
      "trials held longer), < 30 changes/h once settled (worst %.1f)\n",
      worst_regret, worst_unsafe, worst_harmful, worst_clearly, held_longer,
      harmful_trials, worst_settled);
  return 0;
}
