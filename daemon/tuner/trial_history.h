// TrialHistory: the trials of one job, their samples, and what the samples say
// (each trial's mean, the noise of one sample, which trials the samples cannot tell
// apart, the improvement over the baseline). Pure: no decisions, no I/O. The
// statistics are kept until the trials change, so that asking twice in one step
// costs nothing. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/space.h"
#include "daemon/tuner/paired_comparison.h"
#include "daemon/tuner/sample.h"

namespace hone {

// Which of `samples` are outliers: with three valid samples or more, a valid sample
// farther from their median than five times their scaled median absolute deviation
// (1.4826 MAD, the standard deviation of a normal sample) and than 3% of the median.
// Outliers are flagged and left out of the noise figure (RelativeNoise); they stay in
// the means.
std::vector<bool> Outliers(const std::vector<SampleResult>& samples);

struct TrialRecord {
  int64_t number = 0;  // 0 is the baseline
  Config config;
  bool baseline = false;
  std::string reason;  // why it was measured: the baseline, a warm start, a proposal
  std::vector<SampleResult> samples;
  // Samples taken under interference and measured again (SampleResult::SetAside):
  // shown in the trial history, never in the statistics.
  std::vector<SampleResult> set_aside = {};

  int valid_count() const;
  // The mean of each of the job's other metrics over the valid samples that have it.
  std::map<std::string, double> MetricMeans() const;
  // Every sample recorded for the trial, set-aside ones included (their numbering).
  int recorded() const { return static_cast<int>(samples.size() + set_aside.size()); }
  // Mean of the valid samples; nullopt when there are none.
  std::optional<double> Mean() const;
};

class TrialHistory {
 public:
  // `confirm_samples`: the valid samples a trial needs before it can be the best,
  // or fewer (Confirmed). `final_comparison`: the job ends with one, which gives
  // the finalists their samples.
  TrialHistory(Goal goal, int confirm_samples, bool final_comparison)
      : goal_(goal), confirm_samples_(confirm_samples), final_comparison_(final_comparison) {}

  const std::vector<TrialRecord>& trials() const { return trials_; }
  // Replaces every trial (a restored job), and counts their samples again.
  void Replace(std::vector<TrialRecord> trials);
  // Adds a trial; returns its index.
  size_t Add(TrialRecord trial);
  // Adds a sample to the trial at `index`.
  void AddSample(size_t index, SampleResult sample);
  // Adds a set-aside sample to the trial at `index` (TrialRecord::set_aside).
  void SetAside(size_t index, SampleResult sample) {
    trials_[index].set_aside.push_back(std::move(sample));
    ++samples_set_aside_;
  }
  // The index of the trial of `config`, if it was measured.
  std::optional<size_t> Find(const Config& config) const;
  size_t IndexOf(const TrialRecord& trial) const {
    return static_cast<size_t>(&trial - trials_.data());
  }

  const TrialRecord* Baseline() const;
  // Measured enough to be recommended (the baseline always): confirm_samples valid
  // samples, or as many as the most measured trial other than the baseline has, when
  // that is fewer (during the search, when each has one, any can lead; after the
  // final comparison, only its finalists). Without a final comparison, at least as
  // many as the baseline has too (up to confirm_samples), so that one lucky sample
  // never beats a baseline measured twice.
  bool Confirmed(const TrialRecord& trial) const;
  // The confirmed trial with the best mean, other than `except`; null when none.
  // Two trials the final comparison measured, each with two pairs at least, are
  // ranked by their paired improvements over the baseline instead (Ahead).
  const TrialRecord* BestByMean(const TrialRecord* except = nullptr) const;
  // The relative noise of one sample (pooled standard deviation / mean over the
  // trials measured more than once); at least 1%.
  double RelativeNoise() const;
  // The degrees of freedom RelativeNoise rests on (valid samples beyond the first of
  // each trial); 0: the noise is not measured, RelativeNoise is its 1% floor.
  int NoiseDegreesOfFreedom() const {
    RelativeNoise();
    return noise_dof_;
  }
  // Two valid trials' means are within two standard errors of their difference,
  // each sample with `noise` (absolute): the data cannot tell them apart.
  bool Tied(const TrialRecord& a, const TrialRecord& b, double noise) const;
  // The confirmed trials other than `lead` that are Tied with it at the measured
  // noise (and pass `also`, when given), best mean first.
  std::vector<const TrialRecord*> TiedTrials(
      const TrialRecord& lead, bool (*also)(const TrialRecord&) = nullptr) const;
  // Percent by which `value` beats the baseline (positive is better).
  std::optional<double> ImprovementPct(double value) const;
  // What the pooled noise (RelativeNoise) says about a pair of the final comparison,
  // for EstimatePaired: worth four pairs' own spread.
  NoisePrior PairedNoisePrior() const;
  // The valid samples of `trial` that the final comparison took, by round (the
  // first of each round), with their times.
  static std::map<int, Timed> RoundSamples(const TrialRecord& trial);
  // The final comparison's estimate of `trial` against the baseline: their valid
  // samples of the same rounds, paired A/B/A (PairedComparison); nullopt with fewer
  // than two pairs.
  std::optional<PairedEstimate> PairedImprovement(const TrialRecord& trial) const;
  // How much `trial` beats the baseline, in percent (positive is better), with a
  // 95% confidence interval: from the final comparison's rounds where it measured
  // them both (`paired` says so), otherwise from the means of all their samples,
  // each sample with the pooled noise (RelativeNoise). Nullopt without a valid
  // baseline, or when the baseline's mean is 0.
  struct Improvement {
    double pct = 0;
    double low_pct = 0;
    double high_pct = 0;
    std::optional<PairedEstimate> paired;
  };
  std::optional<Improvement> ImprovementOf(const TrialRecord& trial) const;
  bool Better(double a, double b) const { return goal_ == Goal::kMax ? a > b : a < b; }

  int64_t samples_valid() const { return samples_valid_; }
  int64_t samples_invalid() const { return samples_invalid_; }
  int64_t samples_stopped_early() const { return samples_stopped_early_; }
  int64_t samples_race() const { return race_samples_; }
  int64_t samples_set_aside() const { return samples_set_aside_; }
  int64_t samples_taken() const { return samples_valid_ + samples_invalid_; }

 private:
  // `a` ranks before `b` (BestByMean).
  bool Ahead(const TrialRecord& a, const TrialRecord& b) const;
  // Forgets what is kept between changes of the trials (RelativeNoise, BestByMean).
  void Changed();

  Goal goal_;
  int confirm_samples_;
  bool final_comparison_;
  std::vector<TrialRecord> trials_;
  std::unordered_map<std::string, size_t> by_key_;  // configuration -> index
  int64_t samples_valid_ = 0;
  int64_t samples_invalid_ = 0;
  int64_t samples_stopped_early_ = 0;
  int64_t race_samples_ = 0;
  int64_t samples_set_aside_ = 0;
  int most_measured_ = 0;  // the most valid samples of a trial other than the baseline
  mutable std::optional<double> noise_;         // RelativeNoise()
  mutable int noise_dof_ = 0;                   // ... and its degrees of freedom
  mutable std::optional<size_t> best_by_mean_;  // BestByMean(); trials_.size(): none
};

}  // namespace hone
