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
// Two synthetic families more, with log-normal noise as the reference surface
// (sample = truth * exp(N(0, noise))); bench/optuna_driver.py builds the same
// truths, so its rows compare:
//
// - classic <function> 33^d: a classic test function of d = 2..20 knobs, each knob
//   an ordered integer grid 0..32 mapped evenly onto the function's usual domain,
//   x = lo + (hi - lo) * k / 32. With f >= 0 and f = 0 at the optimum on the grid,
//   the surface is a throughput to maximise,
//       truth = 100 / (1 + f(x) / (s * d)),
//   so the optimum is 100 and a gap g means f = s * d * g / (1 - g): s is how much f
//   per knob halves the throughput. The functions, their grids and s:
//     rosenbrock       sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 on [-2, 2]
//                      (step 0.125); optimum x = 1 (k = 24); s = 50
//     rastrigin        sum_i x_i^2 + 10 - 10 cos(2 pi x_i) on [-5.12, 5.12]
//                      (step 0.32); optimum x = 0 (k = 16); s = 10
//     styblinski-tang  sum_i (x_i^4 - 16 x_i^2 + 5 x_i - m) / 2 on [-5, 5] (step
//                      0.3125), m the least of x^4 - 16 x^2 + 5 x on the grid;
//                      optimum x = -2.8125 (k = 7), the grid point nearest the
//                      continuous optimum -2.9035; s = 10
//   The optimum is known (100), so no enumeration: 33^20 is about 2e30. The
//   baseline is the grid's first value on every knob, a corner: gaps of 97-99%, 74%
//   and 93%. Rastrigin and Styblinski-Tang are separable and multimodal (at 2 knobs
//   only their optimum is within 5%), Rosenbrock a curved valley whose floor is
//   mostly within 5% (15, 31 and 61 of the 1089 points within 1%, 2% and 5%).
//   Each function runs at 2, 5, 10 and 20 knobs, at 3% noise (--full: 1%, 3%, 5%).
// - boolean 2^n: n boolean knobs (kBoolean, false/true), a throughput
//       truth = 100 * exp(sum of the terms whose knobs are all true),
//   with main effects (one per knob, weight in +-0.05), pairwise interactions
//   (each pair with probability 0.3, weight in +-0.08) and three-way ones (10
//   draws of three knobs, kept when distinct, weight in +-0.1). Every weight and
//   choice comes, in this order, from a 32-bit linear congruential generator
//   (state = state * 1664525 + 1013904223 mod 2^32, u = state / 2^32, seeded with
//   12345 + n) that optuna_driver.py repeats exactly. The baseline is every knob
//   off (100); the optimum is found by enumeration. n = 12: 30 pairs and 7 triples,
//   optimum 154.0, 2, 3 and 9 configurations within 1%, 2% and 5%, 3 local optima
//   (no single flip improves them); n = 16: 30 pairs and 9 triples, optimum 147.3,
//   2, 5 and 35 within 1%, 2% and 5%, 6 local optima. Setting just the knobs with a
//   positive main effect leaves a gap of 31% (12) and 32% (16).
//
// - kt_gemm_RTX_2080_Ti + restrictions: the GEMM space with the restrictions of
//   CLBlast's kernel written as hone constraints (kGemmRestrictions), exactly the
//   configurations the cache holds. hone's strategies propose only those; Optuna
//   gets them through TPE's constraints_func, and a suggestion that violates them
//   is not run and costs no evaluation.
//
// Under those, for spaces small enough to count, what the noise allows: an oracle
// that knows the 3 best configurations measures each 33 (and 66) times and
// recommends the best mean; the share of its races that pick one truly within 1%.
//
// At the end, over every run of every problem above, per tuner: the runs whose
// recommendation is truly within 1% of the best configuration they measured, in all
// and per kind of noise (1%, 3%, 5%; "replayed" for the Kernel Tuner files). Optuna's
// rows are not in it (bench/optuna_driver.py prints them).
//
// Under each random row, for spaces small enough to count: random search's exact
// median evaluations, one per configuration (without the baseline and
// confirmations the random row pays for), a lower bound for that row.
//
//   build/bin/hone_bench [--seeds N] [--budget N] [--optuna-budget N] [--jobs N]
//                        [--data DIR] [--quick] [--full] [--cost] [--no-optuna]
//                        [--problems SUBSTR[,...]]
//
// --jobs runs that many problems at once (default: one per core); the output comes
// in the same order. --budget sets the evaluations per run (default 200; the gap
// checkpoints stay at 25..200); --optuna-budget gives Optuna's runs another (where
// TPE needs more evaluations than hone's strategies can afford to run, since
// their proposals cost more as observations grow). --full adds 1% and 5% noise to the classic
// functions (3% only by default). --problems runs only the problems whose name
// contains one of the comma-separated substrings ("classic,boolean", "rastrigin
// 33^20", "boolean 2^16, 3%": a comma followed by a space belongs to the
// substring; "=NAME" is the problem NAME only), and then leaves out the table of
// proposal costs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/space.h"
#include "daemon/optimizer/strategy.h"
#include "daemon/tuner/tuning_session.h"

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
  // Constraints the space holds, as the config would write them (for the driver).
  std::vector<std::string> constraints;
};

// printf into a string: problems run in parallel, and print in order at the end.
__attribute__((format(printf, 2, 3))) void Append(std::string* out, const char* format,
                                                  ...) {
  va_list args;
  va_start(args, format);
  char line[1024];
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  *out += line;
}

// `a` is better than `b` in the problem's goal.
bool Better(const Problem& p, double a, double b) {
  return p.goal == Goal::kMax ? a > b : a < b;
}

// What rec<=1% counts: `value` is truly within 1% of `best`.
bool WithinOnePercent(double value, double best) {
  return std::fabs(value - best) <= 0.01 * std::fabs(best);
}

double FindOptimum(const Problem& p) {
  double best = p.goal == Goal::kMax ? -INFINITY : INFINITY;
  for (uint64_t n = 0; n < p.space.Size(); ++n)
    if (auto v = p.truth(ConfigFromNumber(p.space, n)); v && Better(p, *v, best)) best = *v;
  return best;
}

std::string Percent(double noise) { return std::to_string(std::lround(noise * 100)); }

// One sample: the truth with log-normal noise, truth * exp(N(0, noise)).
std::function<std::optional<double>(const Config&, std::mt19937_64&)> LogNormalSample(
    std::function<std::optional<double>(const Config&)> truth, double noise) {
  return [noise, truth = std::move(truth)](const Config& c, std::mt19937_64& rng) {
    return *truth(c) * std::exp(std::normal_distribution<double>(0, noise)(rng));
  };
}

// The true distance from the optimum, as a fraction of it (0: the optimum).
double Gap(const Problem& p, double value) {
  return p.goal == Goal::kMax ? (p.optimum - value) / std::fabs(p.optimum)
                              : (value - p.optimum) / std::fabs(p.optimum);
}

// The number of configurations, as a double: Size() saturates (33^20 is about 2e30).
double SpaceSize(const Problem& p) {
  double size = 1;
  for (const Knob& knob : p.space.knobs()) size *= static_cast<double>(knob.values.size());
  return size;
}

Problem ReferenceSurface(double noise) {
  Problem p;
  p.name = "reference 28x24, " + Percent(noise) + "% noise";
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
  p.sample = LogNormalSample(p.truth, noise);
  p.optimum = FindOptimum(p);
  return p;
}

// A narrow ridge, as the reference scenario's threads and tile are coupled: x and y
// in 1..40 (ordered), good only near x = y, best at x = y = 26,
//     truth = 30 + 90 * exp(-((x - y) / 1.2)^2 / 2) * exp(-((x + y - 52) / 18)^2 / 2),
// with log-normal noise. One step off the ridge costs 29%; the baseline (1, 1) is
// at 32 of the optimum 120.
Problem RidgeProblem(double noise) {
  Problem p;
  p.name = "ridge 40x40, " + Percent(noise) + "% noise";
  std::vector<json> grid;
  for (int i = 1; i <= 40; ++i) grid.push_back(i);
  SearchSpace::Create({{"x", grid, 0}, {"y", grid, 0}}, &p.space);
  p.truth = [](const Config& c) -> std::optional<double> {
    double x = c[0] + 1, y = c[1] + 1;
    return 30 + 90 * std::exp(-0.5 * std::pow((x - y) / 1.2, 2)) *
                    std::exp(-0.5 * std::pow((x + y - 52) / 18, 2));
  };
  p.sample = LogNormalSample(p.truth, noise);
  p.optimum = FindOptimum(p);
  return p;
}

// A Kernel Tuner problem's name: the cache file's, without directory or extension.
std::string KernelTunerName(const std::string& path, bool restricted) {
  std::string name = path.substr(path.rfind('/') + 1);
  name = name.substr(0, name.find(".json"));
  return restricted ? name + " + restrictions" : name;
}

// A Kernel Tuner cache file: minimise `time`.
std::optional<Problem> KernelTunerSpace(const std::string& path,
                                        const std::vector<std::string>& constraints = {}) {
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
  p.name = KernelTunerName(path, !constraints.empty());
  p.goal = Goal::kMin;
  std::vector<Knob> knobs;
  for (const json& key : data["tune_params_keys"])
    knobs.push_back(
        {key.get<std::string>(), data["tune_params"][key.get<std::string>()], 0});
  if (!SearchSpace::Create(knobs, constraints, &p.space).ok()) return std::nullopt;
  p.constraints = constraints;
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
    if (!p.truth(c) || !p.space.Feasible(c)) continue;
    for (size_t i = 0; i < knobs.size(); ++i) knobs[i].default_index = c[i];
    SearchSpace::Create(knobs, constraints, &p.space);
    break;
  }
  p.optimum = FindOptimum(p);
  return p;
}

// A classic test function on integer grids (see the top of the file).
struct ClassicFunction {
  std::string name;
  double lo, hi;  // the grid: kGridPoints values, evenly from lo to hi
  double scale;   // s: truth = 100 / (1 + f / (s * knobs))
  // f >= 0, with 0 at the optimum on the grid; x are the knobs' coordinates.
  std::function<double(const std::vector<double>&)> f;
};

constexpr int kGridPoints = 33;

std::vector<ClassicFunction> ClassicFunctions() {
  constexpr double kTwoPi = 2 * 3.141592653589793;
  auto styblinski_tang = [](double x) { return x * x * x * x - 16 * x * x + 5 * x; };
  double least = INFINITY;  // m: the least of the 1-d term on the grid
  for (int k = 0; k < kGridPoints; ++k)
    least = std::min(least, styblinski_tang(-5 + 10.0 * k / (kGridPoints - 1)));
  return {
      {"rosenbrock", -2, 2, 50,
       [](const std::vector<double>& x) {
         double f = 0;
         for (size_t i = 0; i + 1 < x.size(); ++i)
           f += 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) +
                (1 - x[i]) * (1 - x[i]);
         return f;
       }},
      {"rastrigin", -5.12, 5.12, 10,
       [kTwoPi](const std::vector<double>& x) {
         double f = 0;
         for (double v : x) f += v * v + 10 - 10 * std::cos(kTwoPi * v);
         return f;
       }},
      {"styblinski-tang", -5, 5, 10,
       [styblinski_tang, least](const std::vector<double>& x) {
         double f = 0;
         for (double v : x) f += (styblinski_tang(v) - least) / 2;
         return f;
       }},
  };
}

Problem ClassicProblem(const ClassicFunction& function, int dims, double noise) {
  Problem p;
  p.name = "classic " + function.name + " " + std::to_string(kGridPoints) + "^" +
           std::to_string(dims) + ", " + Percent(noise) + "% noise";
  std::vector<json> grid;
  for (int k = 0; k < kGridPoints; ++k) grid.push_back(k);
  std::vector<Knob> knobs;
  for (int d = 0; d < dims; ++d) knobs.push_back({"x" + std::to_string(d), grid, 0});
  SearchSpace::Create(knobs, &p.space);
  p.truth = [function, dims](const Config& c) -> std::optional<double> {
    std::vector<double> x;
    for (uint32_t k : c)
      x.push_back(function.lo + (function.hi - function.lo) * k / (kGridPoints - 1));
    return 100 / (1 + function.f(x) / (function.scale * dims));
  };
  p.sample = LogNormalSample(p.truth, noise);
  p.optimum = 100;  // f = 0 at the optimum
  return p;
}

// The boolean surfaces' generator: a 32-bit linear congruential generator, repeated
// exactly in optuna_driver.py.
class Lcg {
 public:
  explicit Lcg(uint32_t seed) : state_(seed) {}
  // In [0, 1).
  double Uniform() {
    state_ = state_ * 1664525u + 1013904223u;
    return state_ / 4294967296.0;
  }

 private:
  uint32_t state_;
};

// A term of a boolean surface: `weight` counts when all its knobs are on.
struct BooleanTerm {
  std::vector<int> knobs;
  double weight;
};

// `scale` multiplies every weight (1 for the boolean problems; 0.25 for the small
// effects, whose main effects are within +-1.25%, under the noise of one sample).
std::vector<BooleanTerm> BooleanTerms(int n, double scale = 1) {
  Lcg lcg(12345 + n);
  std::vector<BooleanTerm> terms;
  for (int i = 0; i < n; ++i)
    terms.push_back({{i}, scale * 0.05 * (2 * lcg.Uniform() - 1)});
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (lcg.Uniform() < 0.3)
        terms.push_back({{i, j}, scale * 0.08 * (2 * lcg.Uniform() - 1)});
  for (int t = 0; t < 10; ++t) {
    int i = static_cast<int>(lcg.Uniform() * n);
    int j = static_cast<int>(lcg.Uniform() * n);
    int k = static_cast<int>(lcg.Uniform() * n);
    if (i == j || j == k || i == k) continue;
    terms.push_back({{i, j, k}, scale * 0.1 * (2 * lcg.Uniform() - 1)});
  }
  return terms;
}

std::string BooleanName(int n, double noise, double scale = 1) {
  return (scale == 1 ? "boolean 2^" : "small effects 2^") + std::to_string(n) + ", " +
         Percent(noise) + "% noise";
}

Problem BooleanProblem(int n, double noise, double scale = 1) {
  Problem p;
  p.name = BooleanName(n, noise, scale);
  std::vector<Knob> knobs;
  for (int i = 0; i < n; ++i)
    knobs.push_back({"b" + std::to_string(i), {false, true}, 0, KnobType::kBoolean});
  SearchSpace::Create(knobs, &p.space);
  p.truth = [terms = BooleanTerms(n, scale)](const Config& c) -> std::optional<double> {
    double sum = 0;
    for (const BooleanTerm& term : terms)
      if (std::all_of(term.knobs.begin(), term.knobs.end(), [&](int k) { return c[k]; }))
        sum += term.weight;
    return 100 * std::exp(sum);
  };
  p.sample = LogNormalSample(p.truth, noise);
  p.optimum = FindOptimum(p);
  return p;
}

// Optuna's TPE (default and multivariate) on the same problem, through
// bench/optuna_driver.py with Debian's python3-optuna; prints its rows.
// Constraints reach the driver as a JSON list (their syntax is also Python's).
std::string RunOptuna(const std::string& problem, const Problem& p, int seeds, int budget) {
  std::string driver = std::string(HONE_SOURCE_DIR) + "/bench/optuna_driver.py";
  char optimum[64];
  snprintf(optimum, sizeof optimum, "%.17g", p.optimum);
  std::string command =
      "/usr/bin/python3 -c 'import optuna' 2>/dev/null && /usr/bin/python3 '" + driver +
      "' --problem '" + problem + "' --seeds " + std::to_string(seeds) + " --budget " +
      std::to_string(budget) + " --optimum " + optimum;
  if (!p.constraints.empty())
    command += " --constraints '" + json(p.constraints).dump() + "'";
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  char line[512];
  std::string out;
  while (pipe && fgets(line, sizeof line, pipe)) out += line;
  if (pipe) pclose(pipe);
  if (out.empty())
    out = "  (optuna: python3-optuna is not installed; apt-get install python3-optuna)\n";
  return out;
}

// Random search's exact median evaluations to a configuration within each of
// kWithin, one evaluation per configuration (no baseline or confirmations): a lower
// bound for the random row, for spaces small enough to count. Uniform draws without
// repeats over `total` configurations of which `good` qualify: the chance that the
// first n miss them all is prod_{i<n} (total - good - i) / (total - i).
std::string ExactRandom(const Problem& p, const std::vector<double>& within) {
  if (SpaceSize(p) > 2e6) return "";
  std::vector<uint64_t> good(within.size(), 0);
  uint64_t total = 0;
  for (uint64_t n = 0; n < p.space.Size(); ++n) {
    Config c = ConfigFromNumber(p.space, n);
    if (!p.space.Feasible(c)) continue;  // random search never draws these
    ++total;
    std::optional<double> v = p.truth(c);
    if (!v) continue;
    for (size_t i = 0; i < within.size(); ++i) good[i] += Gap(p, *v) <= within[i];
  }
  std::string out = "  random, exact median (a lower bound for the row above):";
  for (size_t i = 0; i < within.size(); ++i) {
    double miss = 1;
    uint64_t n = 0;
    while (miss > 0.5 && n < total) {
      miss *= static_cast<double>(total - good[i] - n) / static_cast<double>(total - n);
      ++n;
    }
    out += " " + std::to_string(n) + " to " + std::to_string(std::lround(within[i] * 100)) + "%" +
           (i + 1 < within.size() ? "," : "\n");
  }
  return out;
}

// What the noise allows rec<=1%, for spaces small enough to count: an oracle that
// knows the kOracleRivals truly best configurations without measuring anything,
// measures each of them N times and recommends the best mean. The share of
// kOracleRuns such races whose pick is truly within 1% of the best, for each N in
// kOracleSamples. A tuner has to find its rivals first, within the same budget,
// and may face more of them; a model that pools neighbours may do better.
constexpr int kOracleRivals = 3;
constexpr int kOracleRuns = 4000;
const std::vector<int> kOracleSamples = {33, 66};

std::string OracleRace(const Problem& p) {
  if (SpaceSize(p) > 2e6) return "";
  std::vector<std::pair<double, Config>> top;  // the truly best, best first
  for (uint64_t n = 0; n < p.space.Size(); ++n) {
    Config c = ConfigFromNumber(p.space, n);
    if (!p.space.Feasible(c)) continue;
    std::optional<double> v = p.truth(c);
    if (!v) continue;
    top.emplace_back(*v, std::move(c));
    std::sort(top.begin(), top.end(),
              [&](const auto& a, const auto& b) { return Better(p, a.first, b.first); });
    if (top.size() > kOracleRivals) top.pop_back();
  }
  if (top.size() < 2) return "";
  std::string out = "  oracle: the " + std::to_string(top.size()) +
                    " best configurations, known, raced; best mean within 1%:";
  std::mt19937_64 rng(12345);
  for (size_t k = 0; k < kOracleSamples.size(); ++k) {
    int good = 0;
    for (int run = 0; run < kOracleRuns; ++run) {
      size_t pick = 0;
      double pick_mean = 0;
      for (size_t i = 0; i < top.size(); ++i) {
        double sum = 0;
        for (int s = 0; s < kOracleSamples[k]; ++s) sum += *p.sample(top[i].second, rng);
        double mean = sum / kOracleSamples[k];
        if (i == 0 || Better(p, mean, pick_mean)) pick = i, pick_mean = mean;
      }
      good += WithinOnePercent(top[pick].first, top[0].first);
    }
    char part[96];
    snprintf(part, sizeof part, " %.0f%% at %d samples each%s",
             100.0 * good / kOracleRuns, kOracleSamples[k],
             k + 1 < kOracleSamples.size() ? "," : "\n");
    out += part;
  }
  return out;
}

struct RunResult {
  std::vector<int> to_within;  // evaluations to within 1%, 2%, 5% (budget+1: never)
  std::vector<double> gap_at;  // true gap of the recommendation after 25..200 evals
  // At the end: the recommendation is truly within 1% of the best it measured.
  bool recommended_well = false;
};

const std::vector<double> kWithin = {0.01, 0.02, 0.05};
const std::vector<int> kCheckpoints = {25, 50, 100, 200};

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
  for (;;) {
    Step step = session.Next(0);
    if (step.kind != Step::Kind::kSample) break;
    std::optional<double> measured = p.sample(step.config, rng);
    ++evaluations;
    SampleResult sample;
    sample.valid = measured.has_value();
    sample.value = measured.value_or(0);
    sample.taken_at = evaluations;  // the clock of the final comparison's pairs
    if (!measured) sample.error = "infeasible";
    session.Record(sample);
    std::optional<double> measured_truth = p.truth(step.config);
    if (measured_truth && (!best_measured || Better(p, *measured_truth, *best_measured)))
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
  // A run may end a few samples early (none left to confirm another configuration):
  // its final recommendation stands for the checkpoints it did not reach.
  for (size_t i = 0; i < kCheckpoints.size(); ++i)
    if (evaluations < kCheckpoints[i] && kCheckpoints[i] <= budget)
      if (const TrialRecord* best = session.Best())
        result.gap_at[i] = Gap(p, *p.truth(best->config));
  if (const TrialRecord* best = session.Best(); best && best_measured) {
    result.recommended_well = WithinOnePercent(*p.truth(best->config), *best_measured);
  }
  return result;
}

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? T() : v[v.size() / 2];
}

// The recommendation's accuracy over every run of the benchmark, per tuner and per
// kind of noise: runs whose final recommendation is truly within 1% of the best
// configuration they measured, and all runs. Problems add to it from their threads.
class RecommendationTally {
 public:
  void Add(const std::string& tuner, const std::string& noise, int good, int runs) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const std::string& group : {std::string("all problems"), noise}) {
      auto& [g, r] = counts_[tuner][group];
      g += good;
      r += runs;
    }
  }
  // "rec<=1% over every run": one line per tuner, "all problems" first.
  void Print() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (counts_.empty()) return;
    printf("\nrec<=1%% over every run above (runs within 1%% / runs):\n");
    for (const auto& [tuner, groups] : counts_) {
      printf("  %-10s", tuner.c_str());
      auto print = [](const std::string& group, std::pair<int, int> c, const char* end) {
        printf(" %s %d/%d (%.1f%%)%s", group.c_str(), c.first, c.second,
               c.second ? 100.0 * c.first / c.second : 0.0, end);
      };
      print("all problems", groups.at("all problems"), groups.size() > 1 ? ":" : "\n");
      size_t left = groups.size() - 1;
      for (const auto& [group, c] : groups)
        if (group != "all problems") print(group, c, --left ? "," : "\n");
    }
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::pair<int, int>>> counts_;
};

// The kind of noise a problem's samples carry, for the tally: "3% noise" from the
// synthetic problems' names, "replayed" for the Kernel Tuner files.
std::string NoiseGroup(const std::string& name) {
  size_t at = name.find("% noise");
  if (at == std::string::npos) return "replayed";
  size_t start = name.find_last_not_of("0123456789", at - 1) + 1;
  return name.substr(start, at - start) + "% noise";
}

std::string RunProblem(const Problem& p, const std::vector<std::string>& tuners,
                       int seeds, int budget, int optuna_budget,
                       const std::string& optuna_problem, RecommendationTally* tally) {
  std::string out;
  double size = SpaceSize(p);
  char configurations[32];
  if (size < 1e15)
    snprintf(configurations, sizeof configurations, "%.0f", size);
  else
    snprintf(configurations, sizeof configurations, "%.2g", size);
  Append(&out, "\n%s: %s configurations, optimum %.4g (%s)\n", p.name.c_str(), configurations,
         p.optimum, p.goal == Goal::kMax ? "max" : "min");
  Append(&out, "  %-10s %8s %8s %8s   %9s %9s %9s %9s %9s\n", "tuner", "to 1%", "to 2%",
         "to 5%", "gap@25", "gap@50", "gap@100", "gap@200", "rec<=1%");
  for (const std::string& tuner : tuners) {
    std::vector<std::vector<int>> within(kWithin.size());
    std::vector<std::vector<double>> gaps(kCheckpoints.size());
    int recommended_well = 0;
    for (int seed = 1; seed <= seeds; ++seed) {
      RunResult r = RunOnce(p, tuner, static_cast<uint64_t>(seed), budget);
      recommended_well += r.recommended_well;
      for (size_t i = 0; i < kWithin.size(); ++i) within[i].push_back(r.to_within[i]);
      for (size_t i = 0; i < kCheckpoints.size(); ++i) {
        // hone plans its samples for the budget it is given (the final comparison
        // takes the last of them): the gap at K smaller than the run's budget comes
        // from a run whose budget is K, as a user with K samples would run it.
        if (kCheckpoints[i] < budget) {
          RunResult shorter =
              RunOnce(p, tuner, static_cast<uint64_t>(seed), kCheckpoints[i]);
          r.gap_at[i] = shorter.gap_at[i];
        }
        if (!std::isnan(r.gap_at[i])) gaps[i].push_back(r.gap_at[i]);
      }
    }
    Append(&out, "  %-10s", tuner.c_str());
    for (auto& w : within) {
      int m = Median(w);
      char cell[16];
      if (m > budget)
        snprintf(cell, sizeof cell, ">%d", budget);
      else
        snprintf(cell, sizeof cell, "%d", m);
      Append(&out, " %8s", cell);
    }
    Append(&out, "  ");
    for (auto& g : gaps) Append(&out, " %8.2f%%", g.empty() ? NAN : 100 * Median(g));
    Append(&out, " %8.0f%%\n", 100.0 * recommended_well / seeds);
    tally->Add(tuner, NoiseGroup(p.name), recommended_well, seeds);
  }
  if (std::find(tuners.begin(), tuners.end(), "random") != tuners.end())
    out += ExactRandom(p, kWithin);
  out += OracleRace(p);
  if (!optuna_problem.empty()) {
    if (optuna_budget != budget)
      Append(&out, "  (Optuna's runs: %d evaluations each)\n", optuna_budget);
    out += RunOptuna(optuna_problem, p, seeds, optuna_budget);
  }
  return out;
}

// Runs `tasks` on `threads` threads and prints each one's text in order, as soon as
// it and those before it are done.
void RunInOrder(const std::vector<std::function<std::string()>>& tasks, int threads) {
  std::vector<std::optional<std::string>> results(tasks.size());
  std::mutex mutex;
  std::condition_variable done;
  size_t next = 0;
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next == tasks.size()) return;
        i = next++;
      }
      std::string text = tasks[i]();
      std::lock_guard<std::mutex> lock(mutex);
      results[i] = std::move(text);
      done.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(worker);
  for (size_t i = 0; i < tasks.size(); ++i) {
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return results[i].has_value(); });
    fputs(results[i]->c_str(), stdout);
    fflush(stdout);
  }
  for (std::thread& t : pool) t.join();
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
      std::string name = "k";
      name += std::to_string(d);
      knobs.push_back({name, values, 0});
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

// The restrictions of CLBlast's GEMM kernel, as Kernel Tuner's GEMM example states
// them (and as a hone config would): exactly the configurations in the cache.
const std::vector<std::string> kGemmRestrictions = {
    "KWG % KWI == 0",
    "MWG % (MDIMC * VWM) == 0",
    "NWG % (NDIMC * VWN) == 0",
    "MWG % (MDIMA * VWM) == 0",
    "NWG % (NDIMB * VWN) == 0",
    "KWG % ((MDIMC * NDIMC) / MDIMA) == 0",
    "KWG % ((MDIMC * NDIMC) / NDIMB) == 0"};

}  // namespace
}  // namespace hone

int main(int argc, char** argv) {
  int seeds = 20, budget = 200, optuna_budget = 0;
  bool quick = false, cost_only = false, optuna = true, full = false;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string data = "../shared/bench-data";
  std::vector<std::string> only;  // --problems: name substrings
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seeds" && i + 1 < argc)
      seeds = std::atoi(argv[++i]);
    else if (arg == "--data" && i + 1 < argc)
      data = argv[++i];
    else if (arg == "--budget" && i + 1 < argc)
      budget = std::max(25, std::atoi(argv[++i]));
    else if (arg == "--optuna-budget" && i + 1 < argc)
      optuna_budget = std::max(25, std::atoi(argv[++i]));
    else if (arg == "--jobs" && i + 1 < argc)
      threads = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--quick")
      quick = true;
    else if (arg == "--full")
      full = true;
    else if (arg == "--cost")
      cost_only = true;
    else if (arg == "--no-optuna")
      optuna = false;
    else if (arg == "--problems" && i + 1 < argc) {
      // Split at commas, but not at ", " (part of names: "boolean 2^16, 3% noise").
      std::string list = argv[++i];
      size_t start = 0;
      for (size_t at = 0; at <= list.size(); ++at) {
        if (at < list.size() && (list[at] != ',' || list[at + 1] == ' ')) continue;
        if (at > start) only.push_back(list.substr(start, at - start));
        start = at + 1;
      }
    } else {
      fprintf(stderr,
              "usage: hone_bench [--seeds N] [--budget N] [--optuna-budget N] [--data DIR] "
              "[--jobs N] [--quick] [--full] [--cost] [--no-optuna] "
              "[--problems SUBSTR[,SUBSTR...]|=NAME]\n");
      return 2;
    }
  }
  if (quick) seeds = std::min(seeds, 5);
  if (optuna_budget == 0) optuna_budget = budget;
  if (cost_only) {
    hone::ProposalCost({50, 200, 500});
    return 0;
  }
  printf("hone_bench: %d seeds, %d evaluations per run; evaluations are samples\n", seeds,
         budget);
  printf(
      "(baseline and final-comparison samples included); 'to N%%' is the median number\n"
      "of evaluations until a configuration truly within N%% of the optimum was\n"
      "measured; 'gap@K' the median true gap of the recommendation after K evaluations\n"
      "(hone's: of a run whose budget is K);\n"
      "'rec<=1%%' the share of runs whose final recommendation is truly within 1%% of\n"
      "the best configuration the run measured.\n");
  fflush(stdout);
  auto selected = [&](const std::string& name) {
    return only.empty() ||
           std::any_of(only.begin(), only.end(), [&](const std::string& s) {
             return s[0] == '=' ? name == s.substr(1) : name.find(s) != std::string::npos;
           });
  };
  const std::vector<std::string> tuners = {"model", "random"};
  // Each problem is a task; they run in parallel and print in this order.
  std::vector<std::function<std::string()>> tasks;
  hone::RecommendationTally tally;
  auto add = [&](const std::string& name, std::function<hone::Problem()> make,
                 const std::string& optuna_problem) {
    if (!selected(name)) return;
    tasks.push_back([=, &tally] {
      return hone::RunProblem(make(), tuners, seeds, budget, optuna_budget,
                              optuna ? optuna_problem : "", &tally);
    });
  };
  for (double noise : {0.01, 0.03, 0.05}) {
    hone::Problem p = hone::ReferenceSurface(noise);
    add(p.name, [p] { return p; }, "reference:" + std::to_string(noise));
  }
  {
    hone::Problem p = hone::RidgeProblem(0.03);
    add(p.name, [p] { return p; }, "ridge:0.03");
  }
  struct KernelFile {
    const char* file;
    std::vector<std::string> restrictions;
    bool ours = false;  // in bench/data rather than --data
  };
  for (const KernelFile& kernel :
       {KernelFile{"kt_convolution_RTX_2080_Ti.json.gz", {}},
        KernelFile{"kt_convolution_RTX_3090.json.gz", {}},
        KernelFile{"kt_gemm_RTX_2080_Ti.json.gz", {}},
        KernelFile{"kt_gemm_RTX_2080_Ti.json.gz", hone::kGemmRestrictions},
        KernelFile{"measured_compression.json.gz", {}, true}}) {
    std::string name = hone::KernelTunerName(kernel.file, !kernel.restrictions.empty());
    std::string path =
        (kernel.ours ? std::string(HONE_SOURCE_DIR) + "/bench/data" : data) + "/" + kernel.file;
    if (selected(name) && access(path.c_str(), R_OK) != 0) {
      printf("\n%s: cannot read %s (give --data DIR)\n", name.c_str(), path.c_str());
      continue;
    }
    add(name,
        [path, restrictions = kernel.restrictions] {
          std::optional<hone::Problem> p = hone::KernelTunerSpace(path, restrictions);
          if (!p) {
            hone::Problem unreadable;
            unreadable.name = path + " (unreadable)";
            return unreadable;
          }
          return *p;
        },
        "kt:" + path);
  }
  // By default the classic functions run at 3% noise; --full adds 1% and 5%.
  std::vector<double> classic_noise = {0.03};
  if (full) classic_noise = {0.01, 0.03, 0.05};
  for (const hone::ClassicFunction& function : hone::ClassicFunctions())
    for (int dims : {2, 5, 10, 20})
      for (double noise : classic_noise) {
        hone::Problem p = hone::ClassicProblem(function, dims, noise);
        add(p.name, [p] { return p; },
            "classic:" + function.name + ":" + std::to_string(dims) + ":" +
                std::to_string(noise));
      }
  for (int n : {12, 16})
    for (double noise : {0.01, 0.03, 0.05}) {
      add(hone::BooleanName(n, noise), [n, noise] { return hone::BooleanProblem(n, noise); },
          "boolean:" + std::to_string(n) + ":" + std::to_string(noise));
    }
  add(hone::BooleanName(10, 0.03, 0.25),
      [] { return hone::BooleanProblem(10, 0.03, 0.25); }, "boolean:10:0.03:0.25");
  hone::RunInOrder(tasks, threads);
  tally.Print();
  if (!only.empty()) return 0;
  hone::ProposalCost(quick ? std::vector<int>{50, 200} : std::vector<int>{50, 200, 500});
  return 0;
}
