// The Gaussian process behind the model strategy.
#include "daemon/optimizer/gp.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hone {
namespace {

TEST(GaussianProcessTest, FitsASmoothFunctionAndIsUnsureFarFromData) {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int i = 0; i <= 10; ++i) {
    double t = i / 20.0;  // data only on [0, 0.5]
    x.push_back({t});
    y.push_back(std::sin(6 * t));
  }
  GaussianProcess gp(1);
  gp.Fit(x, y);
  GaussianProcess::Prediction inside = gp.Predict({0.225});
  EXPECT_NEAR(inside.mean, std::sin(6 * 0.225), 0.05);
  GaussianProcess::Prediction outside = gp.Predict({1.0});
  EXPECT_GT(outside.stddev, 5 * inside.stddev);
  EXPECT_TRUE(std::isfinite(gp.LogLikelihood()));
}

TEST(GaussianProcessTest, PredictManyAgreesWithPredict) {
  std::vector<std::vector<double>> x = {
      {0, 0}, {0.5, 0.2}, {1, 1}, {0.3, 0.9}, {0.7, 0.4}};
  std::vector<double> y = {1, 3, 2, 5, 4};
  GaussianProcess gp(2);
  gp.Fit(x, y);
  std::vector<std::vector<double>> points = {{0.1, 0.1}, {0.5, 0.5}, {0.9, 0.2}, {0, 1}};
  std::vector<GaussianProcess::Prediction> many = gp.PredictMany(points);
  ASSERT_EQ(many.size(), points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    GaussianProcess::Prediction one = gp.Predict(points[i]);
    EXPECT_NEAR(many[i].mean, one.mean, 1e-9);
    EXPECT_NEAR(many[i].stddev, one.stddev, 1e-9);
  }
}

TEST(GaussianProcessTest, TrainingMeansAreThePosteriorMeansAtTheData) {
  std::vector<std::vector<double>> x = {
      {0, 0}, {0.5, 0.2}, {1, 1}, {0.3, 0.9}, {0.7, 0.4}};
  std::vector<double> y = {1, 3, 2, 5, 4};
  GaussianProcess gp(2);
  gp.Fit(x, y);
  std::vector<double> means = gp.TrainingMeans();
  ASSERT_EQ(means.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(means[i], gp.Predict(x[i]).mean, 1e-6);
}

TEST(GaussianProcessTest, LeaveOutZSaysHowFarTheRestOfTheDataPredictsABlock) {
  // A smooth function sampled with a little noise, and a block of four repeats at
  // one point between the others: on the function, or 0.5 above it.
  auto data = [](double offset, std::vector<std::vector<double>>* x,
                 std::vector<double>* y) {
    for (int i = 0; i <= 20; ++i) {
      double t = i / 20.0;
      x->push_back({t});
      y->push_back(std::sin(6 * t) + (i % 2 ? 0.01 : -0.01));
    }
    for (int k = 0; k < 4; ++k) {
      x->push_back({0.525});
      y->push_back(std::sin(6 * 0.525) + offset + (k % 2 ? 0.01 : -0.01));
    }
  };
  for (double offset : {0.0, 0.5, -0.5}) {
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    data(offset, &x, &y);
    GaussianProcess gp(1);
    gp.Fit(x, y);
    std::vector<double> z = gp.LeaveOutZ({{21, 25}, {5, 6}, {12, 13}});
    ASSERT_EQ(z.size(), 3u) << offset;
    // The points on the function are predicted by their neighbours.
    EXPECT_LT(std::fabs(z[1]), 3) << offset;
    EXPECT_LT(std::fabs(z[2]), 3) << offset;
    if (offset == 0)
      EXPECT_LT(std::fabs(z[0]), 3);
    else  // the block off the function is not, and z says which way it strays
      EXPECT_GT(offset > 0 ? z[0] : -z[0], 3) << offset;
  }
  // Blocks that are empty or outside the data give nothing.
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  data(0, &x, &y);
  GaussianProcess gp(1);
  gp.Fit(x, y);
  EXPECT_TRUE(gp.LeaveOutZ({{21, 26}}).empty());
  EXPECT_TRUE(gp.LeaveOutZ({{3, 3}}).empty());
}

TEST(GaussianProcessTest, ExpectedImprovementGrowsWithMeanAndUncertainty) {
  EXPECT_GT(ExpectedImprovement({1.0, 0.5}, 0.0), ExpectedImprovement({0.5, 0.5}, 0.0));
  EXPECT_GT(ExpectedImprovement({0.0, 1.0}, 0.0), ExpectedImprovement({0.0, 0.1}, 0.0));
  EXPECT_DOUBLE_EQ(ExpectedImprovement({2.0, 0.0}, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(ExpectedImprovement({0.5, 0.0}, 1.0), 0.0);
}


TEST(GaussianProcessTest, CategoricalDimensionsOnlyTellEqualFromDifferent) {
  GaussianProcess gp(2, {true, false});
  // Option 0 is as far from option 1 as from option 5 ...
  EXPECT_DOUBLE_EQ(gp.Correlation({0, 0.5}, {1, 0.5}), gp.Correlation({0, 0.5}, {5, 0.5}));
  EXPECT_LT(gp.Correlation({0, 0.5}, {1, 0.5}), 1.0);
  EXPECT_DOUBLE_EQ(gp.Correlation({3, 0.5}, {3, 0.5}), 1.0);
  // ... while the ordered dimension still measures distance.
  EXPECT_GT(gp.Correlation({0, 0.5}, {0, 0.6}), gp.Correlation({0, 0.5}, {0, 0.9}));
  GaussianProcess ordered(1);
  EXPECT_GT(ordered.Correlation({0}, {0.1}), ordered.Correlation({0}, {0.5}));
}

}  // namespace
}  // namespace hone
