#include "daemon/tuner/trial_history.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace hone {

namespace {
// The weight of the pooled noise in the final comparison's interval, in degrees of
// freedom (EstimatePaired's NoisePrior): as much as four pairs' own spread.
constexpr double kNoisePriorDof = 4;
}  // namespace

int TrialRecord::valid_count() const {
  return static_cast<int>(std::count_if(samples.begin(), samples.end(),
                                        [](const SampleResult& s) { return s.valid; }));
}

std::optional<double> TrialRecord::Mean() const {
  double sum = 0;
  int n = 0;
  for (const SampleResult& s : samples)
    if (s.valid) sum += s.value, ++n;
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::map<std::string, double> TrialRecord::MetricMeans() const {
  std::map<std::string, std::pair<double, int>> sums;
  for (const SampleResult& s : samples)
    if (s.valid)
      for (const auto& [name, value] : s.metrics) {
        sums[name].first += value;
        ++sums[name].second;
      }
  std::map<std::string, double> means;
  for (const auto& [name, sum] : sums) means[name] = sum.first / sum.second;
  return means;
}

std::vector<bool> Outliers(const std::vector<SampleResult>& samples) {
  std::vector<bool> outlier(samples.size(), false);
  std::vector<double> values;
  for (const SampleResult& s : samples)
    if (s.valid) values.push_back(s.value);
  if (values.size() < 3) return outlier;
  auto median = [](std::vector<double> v) {
    size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + mid, v.end());
    double upper = v[mid];
    if (v.size() % 2) return upper;
    double lower = *std::max_element(v.begin(), v.begin() + mid);
    return (lower + upper) / 2;
  };
  double m = median(values);
  std::vector<double> deviations;
  for (double v : values) deviations.push_back(std::fabs(v - m));
  double spread = 5 * 1.4826 * median(deviations);
  double floor = 0.03 * std::fabs(m);
  for (size_t i = 0; i < samples.size(); ++i)
    if (samples[i].valid) {
      double d = std::fabs(samples[i].value - m);
      outlier[i] = d > spread && d > floor;
    }
  return outlier;
}

bool TrialHistory::Confirmed(const TrialRecord& trial) const {
  int needed = std::max(1, most_measured_);
  if (!final_comparison_)
    if (const TrialRecord* baseline = Baseline())
      needed = std::max(needed, baseline->valid_count());
  needed = std::min(confirm_samples_, needed);
  return trial.baseline || trial.valid_count() >= needed;
}

const TrialRecord* TrialHistory::BestByMean(const TrialRecord* except) const {
  // Asked several times per step (progress, challengers, the race): the answer
  // without `except` is kept until the trials change.
  if (!except && best_by_mean_)
    return *best_by_mean_ < trials_.size() ? &trials_[*best_by_mean_] : nullptr;
  const TrialRecord* best = nullptr;
  for (const TrialRecord& t : trials_)
    if (&t != except && t.Mean() && Confirmed(t) && (!best || Ahead(t, *best))) best = &t;
  if (!except)
    best_by_mean_ = best ? static_cast<size_t>(best - trials_.data()) : trials_.size();
  return best;
}

bool TrialHistory::Ahead(const TrialRecord& a, const TrialRecord& b) const {
  // Trials the final comparison measured are compared by their paired improvements
  // over the baseline (the baseline's is 0): measured in the same rounds, a machine
  // that drifted meanwhile cannot favour the one measured earlier.
  auto in_rounds = [](const TrialRecord& t) {
    return t.baseline || std::any_of(t.samples.begin(), t.samples.end(),
                                     [](const SampleResult& s) { return s.round > 0; });
  };
  if (in_rounds(a) && in_rounds(b)) {
    auto paired = [this](const TrialRecord& t) -> std::optional<double> {
      if (t.baseline) return 0.0;
      std::optional<PairedEstimate> e = PairedImprovement(t);
      return e ? std::optional<double>(e->improvement_pct) : std::nullopt;
    };
    std::optional<double> pa = paired(a), pb = paired(b);
    if (pa && pb) return *pa > *pb;
  }
  return Better(*a.Mean(), *b.Mean());
}

void TrialHistory::Changed() {
  noise_.reset();
  best_by_mean_.reset();
}

double TrialHistory::RelativeNoise() const {
  if (noise_) return *noise_;  // kept until the trials change
  double sum = 0;
  int dof = 0;
  for (const TrialRecord& t : trials_) {
    // An outlier does not set the noise on its own: each trial's spread is that of
    // its other samples.
    std::vector<bool> outlier = Outliers(t.samples);
    double total = 0;
    int n = 0;
    for (size_t i = 0; i < t.samples.size(); ++i)
      if (t.samples[i].valid && !outlier[i]) total += t.samples[i].value, ++n;
    if (n < 2 || total == 0) continue;
    double mean = total / n;
    for (size_t i = 0; i < t.samples.size(); ++i)
      if (t.samples[i].valid && !outlier[i])
        sum += std::pow((t.samples[i].value - mean) / mean, 2);
    dof += n - 1;
  }
  double noise = dof > 0 ? std::sqrt(sum / dof) : 0;
  noise_dof_ = dof;
  noise_ = std::max(noise, 0.01);
  return *noise_;
}

std::optional<PairedEstimate> TrialHistory::PairedImprovement(
    const TrialRecord& trial) const {
  const TrialRecord* baseline = Baseline();
  if (!baseline || &trial == baseline) return std::nullopt;
  return EstimatePaired(PairsFromRounds(RoundSamples(*baseline), RoundSamples(trial)), goal_,
                        PairedNoisePrior());
}

NoisePrior TrialHistory::PairedNoisePrior() const {
  return NoisePrior{RelativeNoise(), kNoisePriorDof};
}

std::map<int, Timed> TrialHistory::RoundSamples(const TrialRecord& trial) {
  std::map<int, Timed> values;
  for (const SampleResult& s : trial.samples)
    if (s.valid && s.round > 0) values.emplace(s.round, Timed{s.value, s.taken_at});
  return values;
}

std::optional<TrialHistory::Improvement> TrialHistory::ImprovementOf(
    const TrialRecord& trial) const {
  if (std::optional<PairedEstimate> paired = PairedImprovement(trial))
    return Improvement{paired->improvement_pct, paired->low_pct, paired->high_pct, paired};
  const TrialRecord* baseline = Baseline();
  std::optional<double> pct = trial.Mean() ? ImprovementPct(*trial.Mean()) : std::nullopt;
  if (!pct) return std::nullopt;
  double noise = RelativeNoise();
  double b = *baseline->Mean(), t = *trial.Mean();
  // Standard error of the difference of means, each sample with the pooled noise.
  double se = std::sqrt(std::pow(noise * b, 2) / baseline->valid_count() +
                        std::pow(noise * t, 2) / trial.valid_count());
  double half = 1.96 * se * 100 / std::fabs(b);
  return Improvement{*pct, *pct - half, *pct + half, std::nullopt};
}

bool TrialHistory::Tied(const TrialRecord& a, const TrialRecord& b, double noise) const {
  double se = noise * std::sqrt(1.0 / a.valid_count() + 1.0 / b.valid_count());
  return std::fabs(*a.Mean() - *b.Mean()) <= 2 * se;
}

std::vector<const TrialRecord*> TrialHistory::TiedTrials(
    const TrialRecord& lead, bool (*also)(const TrialRecord&)) const {
  double noise = RelativeNoise() * std::fabs(*lead.Mean());
  std::vector<const TrialRecord*> tied;
  for (const TrialRecord& t : trials_) {
    if (&t == &lead || !t.Mean() || !Confirmed(t) || (also && !also(t))) continue;
    if (Tied(t, lead, noise)) tied.push_back(&t);
  }
  std::sort(tied.begin(), tied.end(), [this](const TrialRecord* a, const TrialRecord* b) {
    return Better(*a->Mean(), *b->Mean());
  });
  return tied;
}

const TrialRecord* TrialHistory::Baseline() const {
  for (const TrialRecord& t : trials_)
    if (t.baseline) return &t;
  return nullptr;
}

std::optional<double> TrialHistory::ImprovementPct(double value) const {
  const TrialRecord* baseline = Baseline();
  std::optional<double> base = baseline ? baseline->Mean() : std::nullopt;
  if (!base || *base == 0) return std::nullopt;
  double pct = goal_ == Goal::kMax ? (value - *base) / std::fabs(*base) * 100
                                   : (*base - value) / std::fabs(*base) * 100;
  return pct;
}

void TrialHistory::Replace(std::vector<TrialRecord> trials) {
  trials_ = std::move(trials);
  Changed();
  by_key_.clear();
  samples_valid_ = samples_invalid_ = samples_stopped_early_ = race_samples_ = 0;
  samples_set_aside_ = 0;
  most_measured_ = 0;
  for (size_t i = 0; i < trials_.size(); ++i) {
    by_key_[SearchSpace::Key(trials_[i].config)] = i;
    int valid = trials_[i].valid_count();
    if (!trials_[i].baseline) most_measured_ = std::max(most_measured_, valid);
    samples_valid_ += valid;
    samples_invalid_ += static_cast<int64_t>(trials_[i].samples.size()) - valid;
    samples_set_aside_ += static_cast<int64_t>(trials_[i].set_aside.size());
    for (const SampleResult& sample : trials_[i].samples) {
      samples_stopped_early_ += sample.stopped_early;
      race_samples_ += sample.race;
    }
  }
}

size_t TrialHistory::Add(TrialRecord trial) {
  size_t index = trials_.size();
  by_key_[SearchSpace::Key(trial.config)] = index;
  trials_.push_back(std::move(trial));
  Changed();
  return index;
}

void TrialHistory::AddSample(size_t index, SampleResult sample) {
  (sample.valid ? samples_valid_ : samples_invalid_)++;
  samples_stopped_early_ += sample.stopped_early;
  race_samples_ += sample.race;
  trials_[index].samples.push_back(std::move(sample));
  if (!trials_[index].baseline)
    most_measured_ = std::max(most_measured_, trials_[index].valid_count());
  Changed();
}

std::optional<size_t> TrialHistory::Find(const Config& config) const {
  auto it = by_key_.find(SearchSpace::Key(config));
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

}  // namespace hone
