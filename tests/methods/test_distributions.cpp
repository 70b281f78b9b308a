#include <gtest/gtest.h>

#include <cmath>

#include "lstfuse/core/error.hpp"
#include "lstfuse/methods/classic/distributions.hpp"

using namespace lstfuse;

TEST(IncompleteBeta, ClosedForms) {
  for (double x : {0.0, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0}) {
    EXPECT_NEAR(stats::incomplete_beta(1, 1, x), x, 1e-14);                            // uniform
    EXPECT_NEAR(stats::incomplete_beta(3, 1, x), x * x * x, 1e-13);                    // x^a
    EXPECT_NEAR(stats::incomplete_beta(1, 4, x), 1 - std::pow(1 - x, 4), 1e-13);       // 1-(1-x)^b
    EXPECT_NEAR(stats::incomplete_beta(0.5, 0.5, x), 2 / M_PI * std::asin(std::sqrt(x)), 1e-12);
  }
  EXPECT_NEAR(stats::incomplete_beta(7.5, 7.5, 0.5), 0.5, 1e-13);  // symmetry
  // I_x(a,b) = 1 - I_{1-x}(b,a)
  EXPECT_NEAR(stats::incomplete_beta(2.5, 9, 0.2), 1 - stats::incomplete_beta(9, 2.5, 0.8), 1e-13);
  EXPECT_THROW(stats::incomplete_beta(-1, 1, 0.5), Error);
  EXPECT_THROW(stats::incomplete_beta(1, 1, 1.5), Error);
}

TEST(FDistribution, KnownValues) {
  // F(1,1): CDF = (2/pi) atan(sqrt(f)).
  for (double f : {0.1, 1.0, 4.0, 50.0})
    EXPECT_NEAR(stats::f_cdf(f, 1, 1), 2 / M_PI * std::atan(std::sqrt(f)), 1e-12);
  // Tabulated 5 % critical values: F(1,10) = 4.9646, F(1,30) = 4.1709, F(1,100) = 3.9361.
  EXPECT_NEAR(stats::f_sf(4.9646, 1, 10), 0.05, 2e-5);
  EXPECT_NEAR(stats::f_sf(4.1709, 1, 30), 0.05, 2e-5);
  EXPECT_NEAR(stats::f_sf(3.9361, 1, 100), 0.05, 2e-5);
  // 1 % critical value F(1,20) = 8.0960.
  EXPECT_NEAR(stats::f_sf(8.0960, 1, 20), 0.01, 1e-5);
  // F(1, n) is t(n)^2: P(|t_2| > 2) = 1 - 2/sqrt(6) (closed form for 2 degrees of freedom).
  EXPECT_NEAR(stats::f_sf(4.0, 1, 2), 1 - 2 / std::sqrt(6.0), 1e-12);
  EXPECT_NEAR(stats::f_cdf(3.0, 1, 7) + stats::f_sf(3.0, 1, 7), 1.0, 1e-14);
  EXPECT_EQ(stats::f_cdf(0.0, 1, 5), 0.0);
  EXPECT_EQ(stats::f_sf(-1.0, 1, 5), 1.0);
  // Huge F: p tiny but positive, not rounded to 0 by 1 - CDF.
  const double p = stats::f_sf(1e4, 1, 200);
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 1e-100);
}
