#include "daemon/optimizer/gp.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <limits>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>

namespace hone {

namespace {

constexpr double kSqrt5 = 2.23606797749979;

// `categorical` (empty, or one flag per dimension): those dimensions only tell
// equal from different (distance 0 or 1).
double Matern52(const double* a, const double* b, const std::vector<double>& scales,
                const std::vector<uint8_t>& categorical) {
  double r2 = 0;
  if (categorical.empty()) {
    for (size_t i = 0; i < scales.size(); ++i) {
      double d = (a[i] - b[i]) / scales[i];
      r2 += d * d;
    }
  } else {
    for (size_t i = 0; i < scales.size(); ++i) {
      double d = categorical[i] ? (a[i] != b[i]) / scales[i] : (a[i] - b[i]) / scales[i];
      r2 += d * d;
    }
  }
  double r = std::sqrt(r2);
  return (1 + kSqrt5 * r + 5.0 / 3.0 * r2) * std::exp(-kSqrt5 * r);
}

}  // namespace

struct GaussianProcess::Impl {
  size_t dims;
  std::vector<double> scales;
  std::vector<uint8_t> categorical;  // empty when no dimension is
  double noise = 1e-2;  // relative to the standardised output's unit variance
  // n x d, row-major so that each point's coordinates are contiguous (Matern52).
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x;
  Eigen::VectorXd y;  // standardised
  double mean = 0, scale = 1;
  Eigen::LLT<Eigen::MatrixXd> llt;
  Eigen::VectorXd alpha;
  double log_likelihood = -std::numeric_limits<double>::infinity();

  // Factorises K + noise I for the current data; returns the log marginal likelihood.
  double Factor() {
    const Eigen::Index n = x.rows();
    Eigen::MatrixXd k(n, n);
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j <= i; ++j) {
        double v = Matern52(x.row(i).data(), x.row(j).data(), scales, categorical);
        k(i, j) = k(j, i) = v;
      }
      k(i, i) += noise + 1e-8;
    }
    llt.compute(k);
    if (llt.info() != Eigen::Success) return -std::numeric_limits<double>::infinity();
    alpha = llt.solve(y);
    double log_det = 0;
    const Eigen::MatrixXd& l = llt.matrixLLT();
    for (Eigen::Index i = 0; i < n; ++i) log_det += std::log(l(i, i));
    return -0.5 * y.dot(alpha) - log_det -
           0.5 * static_cast<double>(n) * std::log(2 * M_PI);
  }

  void SetData(const std::vector<std::vector<double>>& xs,
               const std::vector<double>& ys) {
    const Eigen::Index n = static_cast<Eigen::Index>(xs.size());
    x.resize(n, static_cast<Eigen::Index>(dims));
    y.resize(n);
    for (Eigen::Index i = 0; i < n; ++i)
      for (size_t j = 0; j < dims; ++j) x(i, static_cast<Eigen::Index>(j)) = xs[i][j];
    mean = 0;
    for (double v : ys) mean += v;
    mean = n ? mean / static_cast<double>(n) : 0;
    double var = 0;
    for (double v : ys) var += (v - mean) * (v - mean);
    scale = n > 1 ? std::sqrt(var / static_cast<double>(n - 1)) : 1;
    if (!(scale > 1e-12)) scale = 1;
    for (Eigen::Index i = 0; i < n; ++i) y(i) = (ys[i] - mean) / scale;
  }
};

GaussianProcess::GaussianProcess(size_t dims, const std::vector<bool>& categorical)
    : impl_(std::make_unique<Impl>()) {
  impl_->dims = dims;
  impl_->scales.assign(dims, 0.3);
  if (std::find(categorical.begin(), categorical.end(), true) != categorical.end())
    for (size_t i = 0; i < dims; ++i)
      impl_->categorical.push_back(i < categorical.size() && categorical[i]);
}
GaussianProcess::~GaussianProcess() = default;
GaussianProcess::GaussianProcess(GaussianProcess&&) noexcept = default;
GaussianProcess& GaussianProcess::operator=(GaussianProcess&&) noexcept = default;

size_t GaussianProcess::dims() const { return impl_->dims; }
const std::vector<double>& GaussianProcess::length_scales() const {
  return impl_->scales;
}
double GaussianProcess::noise() const { return impl_->noise; }
double GaussianProcess::LogLikelihood() const { return impl_->log_likelihood; }

void GaussianProcess::Condition(const std::vector<std::vector<double>>& x,
                                const std::vector<double>& y) {
  impl_->SetData(x, y);
  impl_->log_likelihood = impl_->Factor();
}

void GaussianProcess::Fit(const std::vector<std::vector<double>>& x,
                          const std::vector<double>& y, size_t fit_points) {
  // Fit on the most recent points (the search concentrates where it matters).
  size_t start = x.size() > fit_points ? x.size() - fit_points : 0;
  std::vector<std::vector<double>> fx(x.begin() + static_cast<long>(start), x.end());
  std::vector<double> fy(y.begin() + static_cast<long>(start), y.end());
  impl_->SetData(fx, fy);
  double best = impl_->Factor();
  // Coordinate search in log space: each length scale, then the noise, a few rounds.
  const double kSteps[] = {0.25, 0.5, 2.0, 4.0};
  for (int round = 0; round < 2; ++round) {
    for (size_t d = 0; d <= impl_->dims; ++d) {
      double& param = d < impl_->dims ? impl_->scales[d] : impl_->noise;
      double lo = d < impl_->dims ? 0.02 : 1e-4;
      double hi = d < impl_->dims ? 20.0 : 1.0;
      double kept = param;
      for (double step : kSteps) {
        double candidate = std::clamp(kept * step, lo, hi);
        if (candidate == param) continue;
        double previous = param;
        param = candidate;
        double ll = impl_->Factor();
        if (ll > best + 1e-9) {
          best = ll;
        } else {
          param = previous;
        }
      }
    }
  }
  Condition(x, y);
}

GaussianProcess::Prediction GaussianProcess::Predict(
    const std::vector<double>& point) const {
  const Impl& m = *impl_;
  const Eigen::Index n = m.x.rows();
  Prediction p;
  if (n == 0 || m.alpha.size() != n) {
    p.mean = m.mean;
    p.stddev = m.scale;
    return p;
  }
  Eigen::VectorXd k(n);
  for (Eigen::Index i = 0; i < n; ++i)
    k(i) = Matern52(m.x.row(i).data(), point.data(), m.scales, m.categorical);
  double mu = k.dot(m.alpha);
  Eigen::VectorXd v = m.llt.matrixL().solve(k);
  double var = std::max(1.0 - v.squaredNorm(), 1e-12);
  p.mean = m.mean + m.scale * mu;
  p.stddev = m.scale * std::sqrt(var);
  return p;
}

std::vector<double> GaussianProcess::TrainingMeans() const {
  const Impl& m = *impl_;
  std::vector<double> means(static_cast<size_t>(m.y.size()));
  for (Eigen::Index i = 0; i < m.y.size(); ++i) {
    double standardised =
        m.alpha.size() == m.y.size() ? m.y(i) - (m.noise + 1e-8) * m.alpha(i) : 0;
    means[static_cast<size_t>(i)] = m.mean + m.scale * standardised;
  }
  return means;
}

std::vector<GaussianProcess::Prediction> GaussianProcess::PredictMany(
    const std::vector<std::vector<double>>& points) const {
  const Impl& m = *impl_;
  const Eigen::Index n = m.x.rows();
  const Eigen::Index count = static_cast<Eigen::Index>(points.size());
  std::vector<Prediction> out(points.size());
  if (n == 0 || m.alpha.size() != n) {
    for (Prediction& p : out) p = {m.mean, m.scale};
    return out;
  }
  Eigen::MatrixXd k(n, count);
  for (Eigen::Index j = 0; j < count; ++j)
    for (Eigen::Index i = 0; i < n; ++i)
      k(i, j) = Matern52(m.x.row(i).data(), points[j].data(), m.scales, m.categorical);
  Eigen::VectorXd mu = k.transpose() * m.alpha;
  m.llt.matrixL().solveInPlace(k);
  Eigen::VectorXd reduction = k.colwise().squaredNorm();
  for (Eigen::Index j = 0; j < count; ++j) {
    out[j].mean = m.mean + m.scale * mu(j);
    out[j].stddev = m.scale * std::sqrt(std::max(1.0 - reduction(j), 1e-12));
  }
  return out;
}

std::vector<double> GaussianProcess::LeaveOutZ(
    const std::vector<std::pair<size_t, size_t>>& blocks) const {
  const Impl& m = *impl_;
  const Eigen::Index n = m.x.rows();
  std::vector<double> z;  // empty when a block is empty or out of range
  if (n == 0 || m.alpha.size() != n) return z;
  for (auto [begin, end] : blocks)
    if (begin >= end || end > static_cast<size_t>(n)) return z;
  // The columns of (K + noise I)^-1 that the blocks need, in one solve.
  Eigen::Index columns = 0;
  for (auto [begin, end] : blocks) columns += static_cast<Eigen::Index>(end - begin);
  Eigen::MatrixXd unit = Eigen::MatrixXd::Zero(n, columns);
  Eigen::Index column = 0;
  for (auto [begin, end] : blocks)
    for (size_t i = begin; i < end; ++i) unit(static_cast<Eigen::Index>(i), column++) = 1;
  Eigen::MatrixXd inverse = m.llt.solve(unit);
  column = 0;
  for (auto [begin, end] : blocks) {
    const Eigen::Index first = static_cast<Eigen::Index>(begin);
    const Eigen::Index size = static_cast<Eigen::Index>(end - begin);
    // With the block left out, its residuals are A^-1 alpha_B with covariance A^-1,
    // A the block of the inverse (Rasmussen and Williams, section 5.4.2).
    Eigen::MatrixXd covariance = inverse.block(first, column, size, size).inverse();
    column += size;
    Eigen::VectorXd residual = covariance * m.alpha.segment(first, size);
    double variance = covariance.sum();
    z.push_back(variance > 0 ? residual.sum() / std::sqrt(variance) : 0);
  }
  return z;
}

double GaussianProcess::Correlation(const std::vector<double>& a,
                                    const std::vector<double>& b) const {
  return Matern52(a.data(), b.data(), impl_->scales, impl_->categorical);
}

double ExpectedImprovement(const GaussianProcess::Prediction& p, double best) {
  if (p.stddev <= 0) return std::max(0.0, p.mean - best);
  double z = (p.mean - best) / p.stddev;
  double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  double pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
  return (p.mean - best) * cdf + p.stddev * pdf;
}

}  // namespace hone
