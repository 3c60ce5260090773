// hone_bench: how many runs the search strategies need, under noise.
//
// Not a test: it prints figures (docs/performance.md). Each problem is a space with
// a known truth: a synthetic surface shaped like the reference scenario with
// log-normal noise, or a brute-forced GPU-kernel space from ../shared/bench-data
// (Kernel Tuner cache files), replayed with noise drawn from each configuration's
// repeated times; configurations absent from a cache are infeasible. Every tuner
// runs through TuningSession, as in honed (baseline samples, confirmations), and
// every sample counts as an evaluation. Printed per problem and tuner, over the
// seeds: the median evaluations until a configuration truly within 1%, 2% and 5%
// of the optimum was measured, and the median true gap of the recommendation after
// 25, 50, 100 and 200 evaluations; then the strategy's own cost per proposal.
//
//   build/bin/hone_bench [--seeds N] [--data DIR] [--quick]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/space.h"
#include "daemon/strategy.h"
#include "daemon/tuning.h"

namespace hone {
namespace {

using nlohmann::json;

struct Problem {
  std::string name;
  SearchSpace space;
  Goal goal = Goal::kMax;
  // The true value; nullopt when the configuration cannot run.
  std::function<std::optional<double>(const Config&)> truth;
  // One noisy measurement.
  std::function<std::optional<double>(const Config&, std::mt19937_64&)> sample;
  double optimum = 0;
};

double FindOptimum(const Problem& p) {
  double best = p.goal == Goal::kMax ? -INFINITY : INFINITY;
  for (uint64_t n = 0; n < p.space.Size(); ++n)
    if (auto v = p.truth(ConfigFromNumber(p.space, n)))
      best = p.goal == Goal::kMax ? std::max(best, *v) : std::min(best, *v);
  return best;
}

Problem ReferenceSurface(double noise) {
  Problem p;
  p.name =
      "reference 28x24, " + std::to_string(static_cast<int>(noise * 100)) + "% noise";
  std::vector<json> inter, intra;
  for (int i = 1; i <= 28; ++i) inter.push_back(i);
  for (int i = 10; i <= 56; i += 2) intra.push_back(i);
  SearchSpace::Create({{"inter_op", inter, 0}, {"intra_op", intra, 0}}, &p.space);
  p.truth = [](const Config& c) -> std::optional<double> {
    double a = c[0] + 1, b = 10 + 2.0 * c[1];
    double threads = std::exp(-0.5 * std::pow(std::log(a / 2) / 0.7, 2));
    double tile = std::exp(-0.5 * std::pow((b - 28) / 14, 2));
    return 40 + 84 * threads * tile;
  };
  p.sample = [noise, truth = p.truth](const Config& c, std::mt19937_64& rng) {
    return *truth(c) * std::exp(std::normal_distribution<double>(0, noise)(rng));
  };
  p.optimum = FindOptimum(p);
  return p;
}

// A Kernel Tuner cache file: minimise `time`.
std::optional<Problem> KernelTunerSpace(const std::string& path) {
  std::string command = "gzip -dc '" + path + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string text;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, n);
  if (pclose(pipe) != 0) return std::nullopt;
  json data = json::parse(text, nullptr, false);
  if (data.is_discarded()) return std::nullopt;
  Problem p;
  p.name = path.substr(path.rfind('/') + 1);
  p.name = p.name.substr(0, p.name.find(".json"));
  p.goal = Goal::kMin;
  std::vector<Knob> knobs;
  for (const json& key : data["tune_params_keys"])
    knobs.push_back(
        {key.get<std::string>(), data["tune_params"][key.get<std::string>()], 0});
  if (!SearchSpace::Create(knobs, &p.space).ok()) return std::nullopt;
  auto table =
      std::make_shared<std::map<std::string, std::pair<double, std::vector<double>>>>();
  for (const auto& [key, record] : data["cache"].items()) {
    if (!record.contains("time") || !record["time"].is_number()) continue;
    std::vector<double> times;
    for (const json& t : record.value("times", json::array()))
      if (t.is_number()) times.push_back(t.get<double>());
    if (times.empty()) times.push_back(record["time"].get<double>());
    (*table)[key] = {record["time"].get<double>(), times};
  }
  p.truth = [table, knobs](const Config& c) -> std::optional<double> {
    std::string key;
    for (size_t i = 0; i < c.size(); ++i)
      key += (i ? "," : "") + knobs[i].values[c[i]].dump();
    auto it = table->find(key);
    if (it == table->end()) return std::nullopt;
    return it->second.first;
  };
  p.sample = [table, knobs](const Config& c,
                            std::mt19937_64& rng) -> std::optional<double> {
    std::string key;
    for (size_t i = 0; i < c.size(); ++i)
      key += (i ? "," : "") + knobs[i].values[c[i]].dump();
    auto it = table->find(key);
    if (it == table->end()) return std::nullopt;
    const std::vector<double>& times = it->second.second;
    return times[std::uniform_int_distribution<size_t>(0, times.size() - 1)(rng)];
  };
  // The baseline: the first configuration that runs (honed needs a valid one).
  for (uint64_t n = 0; n < p.space.Size(); ++n) {
    Config c = ConfigFromNumber(p.space, n);
    if (!p.truth(c)) continue;
    for (size_t i = 0; i < knobs.size(); ++i) knobs[i].default_index = c[i];
    SearchSpace::Create(knobs, &p.space);
    break;
  }
  p.optimum = FindOptimum(p);
  return p;
}

// Optuna's TPE (default and multivariate) on the same problem, through
// bench/optuna_driver.py with Debian's python3-optuna; prints its rows.
void RunOptuna(const std::string& problem, double optimum, int seeds, int budget) {
  std::string driver = std::string(HONE_SOURCE_DIR) + "/bench/optuna_driver.py";
  std::string command =
      "/usr/bin/python3 -c 'import optuna' 2>/dev/null && /usr/bin/python3 '" + driver +
      "' --problem '" + problem + "' --seeds " + std::to_string(seeds) + " --budget " +
      std::to_string(budget) + " --optimum " + std::to_string(optimum) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  char line[512];
  bool any = false;
  while (pipe && fgets(line, sizeof line, pipe)) {
    fputs(line, stdout);
    fflush(stdout);
    any = true;
  }
  if (pipe) pclose(pipe);
  if (!any)
    printf(
        "  (optuna: python3-optuna is not installed; apt-get install python3-optuna)\n");
}

struct RunResult {
  std::vector<int> to_within;  // evaluations to within 1%, 2%, 5% (budget+1: never)
  std::vector<double> gap_at;  // true gap of the recommendation after 25..200 evals
  // At the end: the recommendation is truly within 1% of the best it measured.
  bool recommended_well = false;
};

const std::vector<double> kWithin = {0.01, 0.02, 0.05};
const std::vector<int> kCheckpoints = {25, 50, 100, 200};

double Gap(const Problem& p, double value) {
  return p.goal == Goal::kMax ? (p.optimum - value) / std::fabs(p.optimum)
                              : (value - p.optimum) / std::fabs(p.optimum);
}

RunResult RunOnce(const Problem& p, const std::string& tuner, uint64_t seed, int budget) {
  Settings settings;
  settings.strategy = tuner;
  settings.seed = seed;
  settings.max_samples = budget;
  settings.max_configs = int64_t{1} << 40;
  settings.converge_after = 0;  // measure the whole budget
  TuningSession session(settings, Target{"m", p.goal}, &p.space,
                        MakeStrategy(tuner, &p.space, seed, p.goal));
  std::mt19937_64 rng(seed * 7919 + 17);
  RunResult result;
  result.to_within.assign(kWithin.size(), budget + 1);
  result.gap_at.assign(kCheckpoints.size(), NAN);
  int evaluations = 0;
  std::optional<double> best_measured;  // the best true value among those measured
  auto better = [&](double a, double b) { return p.goal == Goal::kMax ? a > b : a < b; };
  for (;;) {
    Step step = session.Next(0);
    if (step.kind != Step::Kind::kSample) break;
    std::optional<double> measured = p.sample(step.config, rng);
    ++evaluations;
    SampleResult sample;
    sample.valid = measured.has_value();
    sample.value = measured.value_or(0);
    if (!measured) sample.error = "infeasible";
    session.Record(sample);
    std::optional<double> measured_truth = p.truth(step.config);
    if (measured_truth && (!best_measured || better(*measured_truth, *best_measured)))
      best_measured = measured_truth;
    if (std::optional<double> truth = measured_truth)
      for (size_t i = 0; i < kWithin.size(); ++i)
        if (Gap(p, *truth) <= kWithin[i] && result.to_within[i] > budget)
          result.to_within[i] = evaluations;
    for (size_t i = 0; i < kCheckpoints.size(); ++i)
      if (evaluations == kCheckpoints[i])
        if (const TrialRecord* best = session.Best())
          result.gap_at[i] = Gap(p, *p.truth(best->config));
  }
  if (const TrialRecord* best = session.Best(); best && best_measured) {
    double recommended = *p.truth(best->config);
    result.recommended_well =
        std::fabs(recommended - *best_measured) <= 0.01 * std::fabs(*best_measured);
  }
  return result;
}

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? T() : v[v.size() / 2];
}

void RunProblem(const Problem& p, const std::vector<std::string>& tuners, int seeds,
                int budget, const std::string& optuna_problem) {
  printf("\n%s: %llu configurations, optimum %.4g (%s)\n", p.name.c_str(),
         static_cast<unsigned long long>(p.space.Size()), p.optimum,
         p.goal == Goal::kMax ? "max" : "min");
  printf("  %-10s %8s %8s %8s   %9s %9s %9s %9s %9s\n", "tuner", "to 1%", "to 2%",
         "to 5%", "gap@25", "gap@50", "gap@100", "gap@200", "rec<=1%");
  for (const std::string& tuner : tuners) {
    std::vector<std::vector<int>> within(kWithin.size());
    std::vector<std::vector<double>> gaps(kCheckpoints.size());
    int recommended_well = 0;
    for (int seed = 1; seed <= seeds; ++seed) {
      RunResult r = RunOnce(p, tuner, static_cast<uint64_t>(seed), budget);
      recommended_well += r.recommended_well;
      for (size_t i = 0; i < kWithin.size(); ++i) within[i].push_back(r.to_within[i]);
      for (size_t i = 0; i < kCheckpoints.size(); ++i)
        if (!std::isnan(r.gap_at[i])) gaps[i].push_back(r.gap_at[i]);
    }
    printf("  %-10s", tuner.c_str());
    for (auto& w : within) {
      int m = Median(w);
      if (m > budget)
        printf(" %8s", (">" + std::to_string(budget)).c_str());
      else
        printf(" %8d", m);
    }
    printf("  ");
    for (auto& g : gaps) printf(" %8.2f%%", g.empty() ? NAN : 100 * Median(g));
    printf(" %8.0f%%\n", 100.0 * recommended_well / seeds);
    fflush(stdout);
  }
  if (!optuna_problem.empty()) RunOptuna(optuna_problem, p.optimum, seeds, budget);
}

void ProposalCost(const std::vector<int>& observations) {
  printf("\nmodel strategy: time per proposal (ms), knobs of 10 values each\n");
  printf("  %-6s", "knobs");
  for (int n : observations) printf(" %8d obs", n);
  printf("\n");
  for (int dims : {2, 8, 20}) {
    std::vector<Knob> knobs;
    for (int d = 0; d < dims; ++d) {
      std::vector<json> values;
      for (int v = 0; v < 10; ++v) values.push_back(v);
      knobs.push_back({"k" + std::to_string(d), values, 0});
    }
    SearchSpace space;
    SearchSpace::Create(knobs, &space);
    printf("  %-6d", dims);
    for (int n : observations) {
      std::unique_ptr<Strategy> strategy = MakeStrategy("model", &space, 1, Goal::kMax);
      std::mt19937_64 rng(3);
      for (int i = 0; i < n; ++i) {
        Config c = ConfigFromNumber(space, rng() % space.Size());
        double value = 1;
        for (uint32_t x : c) value += std::sin(x);
        strategy->Tell(c, value);
      }
      std::vector<double> ms;
      for (int i = 0; i < 3; ++i) {
        auto start = std::chrono::steady_clock::now();
        std::optional<Config> c = strategy->Ask();
        ms.push_back(std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - start)
                         .count());
        if (c) strategy->Tell(*c, 1);
      }
      printf(" %12.1f", Median(ms));
      fflush(stdout);
    }
    printf("\n");
  }
}

}  // namespace
}  // namespace hone

int main(int argc, char** argv) {
  int seeds = 20, budget = 200;
  bool quick = false, cost_only = false, optuna = true;
  std::string data = "../shared/bench-data";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seeds" && i + 1 < argc)
      seeds = std::atoi(argv[++i]);
    else if (arg == "--data" && i + 1 < argc)
      data = argv[++i];
    else if (arg == "--quick")
      quick = true;
    else if (arg == "--cost")
      cost_only = true;
    else if (arg == "--no-optuna")
      optuna = false;
    else {
      fprintf(stderr,
              "usage: hone_bench [--seeds N] [--data DIR] [--quick] [--cost] "
              "[--no-optuna]\n");
      return 2;
    }
  }
  if (quick) seeds = std::min(seeds, 5);
  if (cost_only) {
    hone::ProposalCost({50, 200, 500});
    return 0;
  }
  printf("hone_bench: %d seeds, %d evaluations per run; evaluations are samples\n", seeds,
         budget);
  printf(
      "(baseline and confirmation samples included); 'to N%%' is the median number of\n"
      "evaluations until a configuration truly within N%% of the optimum was measured;\n"
      "'gap@K' the median true gap of the recommendation after K evaluations;\n"
      "'rec<=1%%' the share of runs whose final recommendation is truly within 1%% of\n"
      "the best configuration the run measured.\n");
  std::vector<std::string> tuners = {"model", "random"};
  for (double noise : {0.01, 0.03, 0.05})
    hone::RunProblem(hone::ReferenceSurface(noise), tuners, seeds, budget,
                     optuna ? "reference:" + std::to_string(noise) : "");
  for (const char* file :
       {"kt_convolution_RTX_2080_Ti.json.gz", "kt_convolution_RTX_3090.json.gz",
        "kt_gemm_RTX_2080_Ti.json.gz"}) {
    std::optional<hone::Problem> p = hone::KernelTunerSpace(data + "/" + file);
    if (!p) {
      printf("\n%s: cannot read it under %s (give --data DIR)\n", file, data.c_str());
      continue;
    }
    hone::RunProblem(*p, tuners, seeds, budget, optuna ? "kt:" + data + "/" + file : "");
  }
  hone::ProposalCost(quick ? std::vector<int>{50, 200} : std::vector<int>{50, 200, 500});
  return 0;
}
