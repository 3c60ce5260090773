#include "daemon/tuner/paired_comparison.h"

#include <algorithm>
#include <cmath>

namespace hone {

double StudentT95(int dof) {
  // Exact to three decimals up to 30 degrees of freedom; past them the series
  // z + (z^3 + z) / (4 dof) + (5 z^5 + 16 z^3 + 3 z) / (96 dof^2) is within 0.001.
  static const double kTable[] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447,
                                  2.365,  2.306,  2.262, 2.228, 2.201, 2.179, 2.160,
                                  2.145,  2.131,  2.120, 2.110, 2.101, 2.093, 2.086,
                                  2.080,  2.074,  2.069, 2.064, 2.060, 2.056, 2.052,
                                  2.048,  2.045,  2.042};
  if (dof < 1) return INFINITY;
  if (dof <= 30) return kTable[dof];
  constexpr double z = 1.959964;
  double n = dof;
  return z + (z * z * z + z) / (4 * n) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
}

std::vector<Pair> PairsFromRounds(const std::map<int, Timed>& reference,
                                  const std::map<int, Timed>& candidate) {
  std::vector<Pair> pairs;
  for (const auto& [round, sample] : candidate) {
    auto before = reference.find(round);
    if (before == reference.end()) continue;
    auto after = round < INT32_MAX ? reference.find(round + 1) : reference.end();
    double ref = before->second.value;
    if (after != reference.end()) {
      const Timed &b = before->second, &a = after->second;
      // Times a reader cannot trust (not finite, not after zero, not in order)
      // count as unknown: the midpoint.
      double weight = 0.5;
      auto known = [](double t) { return std::isfinite(t) && t > 0; };
      if (known(b.at) && known(a.at) && known(sample.at) && a.at > b.at)
        weight = std::clamp((sample.at - b.at) / (a.at - b.at), 0.0, 1.0);
      ref = b.value + weight * (a.value - b.value);
    }
    pairs.push_back({ref, sample.value});
  }
  return pairs;
}

std::optional<PairedEstimate> EstimatePaired(const std::vector<Pair>& pairs, Goal goal,
                                             NoisePrior prior) {
  if (pairs.size() < 2) return std::nullopt;
  double n = static_cast<double>(pairs.size());
  double a = 0, b = 0;
  for (const Pair& p : pairs) a += p.reference, b += p.candidate;
  a /= n, b /= n;
  if (a == 0 || !std::isfinite(a) || !std::isfinite(b)) return std::nullopt;
  double ratio = b / a;
  // Var(R) ~ Var(mean of D) / a^2, D = B - R A (mean zero by construction).
  double squares = 0;
  for (const Pair& p : pairs) squares += std::pow(p.candidate - ratio * p.reference, 2);
  double dof = n - 1;
  double variance = squares / dof;
  if (prior.dof > 0 && prior.relative_noise > 0) {
    // One pair: the candidate's sample, less R times the reference interpolated
    // from two samples (half a sample's variance at the midpoint).
    double predicted = std::pow(prior.relative_noise * b, 2) * 1.5;
    variance = (dof * variance + prior.dof * predicted) / (dof + prior.dof);
    dof += prior.dof;
  }
  double se = std::sqrt(variance / n) / std::fabs(a);
  double half = StudentT95(static_cast<int>(std::floor(dof))) * se;
  PairedEstimate e;
  e.pairs = static_cast<int>(pairs.size());
  e.reference_mean = a;
  e.candidate_mean = b;
  // With a negative reference mean the ratio turns: what is better is the sign of
  // the difference.
  double sign = a > 0 ? 1 : -1;
  e.improvement_pct = sign * (goal == Goal::kMax ? ratio - 1 : 1 - ratio) * 100;
  e.low_pct = e.improvement_pct - half * 100;
  e.high_pct = e.improvement_pct + half * 100;
  return e;
}

}  // namespace hone
