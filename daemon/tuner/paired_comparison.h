// PairedComparison: how much a candidate configuration beats a reference (the
// baseline, or a live job's incumbent) when the two are measured alternately in
// time, A B A B ... A, so that a machine that drifts while they are measured moves
// both alike and cannot pick the winner.
//
// Each candidate sample is paired with the reference samples just before and after
// it (A/B/A): the reference value at the candidate's time, interpolated linearly
// between them, which cancels a linear drift (their mean where the times are not
// known; the one before when there is no sample after). The estimate is the ratio of the means, R = mean(B) / mean(A),
// and its interval comes from the paired differences D = B - R * A: their spread
// holds each configuration's own variance and their covariance, so that a noisy
// reference widens it as much as a noisy candidate (the ratio estimator's delta
// method, with Student's t for the few pairs a job can afford). Pure; used by the
// sync job's final comparison and meant for the live runner's epochs.
#pragma once

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "common/config.h"

namespace hone {

// One reference value and the candidate value measured next to it in time.
struct Pair {
  double reference = 0;
  double candidate = 0;
};

struct PairedEstimate {
  int pairs = 0;
  double reference_mean = 0;
  double candidate_mean = 0;
  // The improvement of the candidate over the reference, in percent (positive is
  // better for the goal), and its 95% interval.
  double improvement_pct = 0;
  double low_pct = 0;
  double high_pct = 0;
};

// The two-sided 95% quantile of Student's t with `dof` degrees of freedom (1.96 for
// many).
double StudentT95(int dof);

// A value and when it was measured (any increasing clock; 0: not known).
struct Timed {
  double value = 0;
  double at = 0;
};

// Pairs from rounds: `reference` maps a round to the reference value taken first in
// it, `candidate` a round to the candidate's value; each candidate value pairs with
// the reference values of its round and the next, interpolated at its time (their
// mean where a time is not known; its own round's alone when the next has none). A
// round without a reference value pairs nothing.
std::vector<Pair> PairsFromRounds(const std::map<int, Timed>& reference,
                                  const std::map<int, Timed>& candidate);

// What the noise measured elsewhere says about one pair's spread: the relative
// noise of one sample (pooled over every configuration measured more than once),
// weighed as `dof` degrees of freedom.
struct NoisePrior {
  double relative_noise = 0;
  double dof = 0;
};

// The estimate from at least two pairs whose reference mean is not zero; nullopt
// otherwise. With a prior, the spread of the pairs is moderated towards the one the
// prior predicts (a weighted mean of the two variances, by their degrees of
// freedom, and Student's t with their sum), so that two or three pairs that agree
// by chance cannot make the interval narrower than the noise allows; with many
// pairs their own spread decides.
std::optional<PairedEstimate> EstimatePaired(const std::vector<Pair>& pairs, Goal goal,
                                             NoisePrior prior = {});

}  // namespace hone
