// GaussianProcess: regression with a Matern 5/2 kernel with one length scale per
// input dimension (ARD) and a noise term, for the model-based search.
//
// Inputs are points of [0,1]^d (categorical dimensions: option indices); outputs are standardised internally. Fit() chooses
// the length scales and the noise by maximising the log marginal likelihood (a
// coordinate search on a log grid, deterministic), Condition() only refactors with
// the hyperparameters it has. Predict() gives the posterior mean and standard
// deviation in the caller's units. Eigen stays inside gp.cc. Not thread-safe.
#pragma once

#include <memory>
#include <utility>
#include <vector>

namespace hone {

class GaussianProcess {
 public:
  // `categorical` flags the dimensions whose coordinates are unordered option
  // indices: two points are at distance 0 or 1 in them (a Hamming distance), never
  // "near" for neighbouring indices. Empty: every dimension is ordered.
  explicit GaussianProcess(size_t dims, const std::vector<bool>& categorical = {});
  ~GaussianProcess();
  GaussianProcess(GaussianProcess&&) noexcept;
  GaussianProcess& operator=(GaussianProcess&&) noexcept;

  // Replaces the data (x: n points of dims() coordinates; y: n values) and fits the
  // hyperparameters on at most `fit_points` of them (the most recent).
  void Fit(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
           size_t fit_points = 200);
  // Replaces the data and keeps the hyperparameters.
  void Condition(const std::vector<std::vector<double>>& x, const std::vector<double>& y);

  struct Prediction {
    double mean = 0;
    double stddev = 0;
  };
  Prediction Predict(const std::vector<double>& x) const;
  // The posterior means at the data points, without a solve: K alpha = y - noise alpha.
  std::vector<double> TrainingMeans() const;
  // Predictions for many points at once (one blocked triangular solve).
  std::vector<Prediction> PredictMany(
      const std::vector<std::vector<double>>& points) const;

  // How far each block of data points (say, one configuration's samples) lies from
  // what the rest of the data predicts for it: the block's mean less the prediction
  // made with the block left out, in standard deviations of that difference. About
  // N(0, 1) per block when the model describes the data. Blocks are [begin, end)
  // ranges of the data's indices.
  std::vector<double> LeaveOutZ(const std::vector<std::pair<size_t, size_t>>& blocks) const;

  // The kernel's correlation of two points under the current hyperparameters.
  double Correlation(const std::vector<double>& a, const std::vector<double>& b) const;

  size_t dims() const;
  const std::vector<double>& length_scales() const;
  double noise() const;  // as a fraction of the output variance
  // The log marginal likelihood of the data under the current hyperparameters.
  double LogLikelihood() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Expected improvement over `best` of a normal prediction, for maximisation.
double ExpectedImprovement(const GaussianProcess::Prediction& p, double best);

}  // namespace hone
