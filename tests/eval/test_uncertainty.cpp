#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "lstfuse/core/error.hpp"
#include "lstfuse/eval/uncertainty.hpp"

using namespace lstfuse;

namespace {

Grid grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {0.0, 30.0, 0.0, 0.0, 0.0, -30.0};
  return g;
}

// Rows with predictor 1 (coarse change) uniform in [0, 2], the others constant, one class.
eval::FeatureRows rows_with_change(size_t n, std::mt19937_64& rng) {
  eval::FeatureRows r;
  r.dims = static_cast<int>(eval::error_feature_names().size());
  std::uniform_real_distribution<double> u(0.0, 2.0);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < r.dims; ++j) r.x.push_back(j == 1 ? static_cast<float>(u(rng)) : 0.5f);
    r.cls.push_back(0);
    r.pixel.push_back(i);
  }
  return r;
}

double true_sigma(float change) { return std::exp(0.1 + 0.6 * change); }

}  // namespace

TEST(Uncertainty, ConstantErrorGivesThatConstant) {
  // Every prediction is off by exactly 1.7 K (either sign): the uncertainty is 1.7 K whatever
  // the predictors say.
  std::mt19937_64 rng(3);
  const auto rows = rows_with_change(5000, rng);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) err.push_back(i % 3 ? 1.7f : -1.7f);
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  for (size_t i = 0; i < rows.rows(); i += 97)
    EXPECT_NEAR(m.sigma(rows.x.data() + i * rows.dims, 0), 1.7, 0.017) << i;
}

TEST(Uncertainty, GaussianErrorsAreCalibratedAndTheVarianceModelRecovered) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> z(0.0, 1.0);
  const auto rows = rows_with_change(60000, rng);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) err.push_back(static_cast<float>(true_sigma(rows.x[i * rows.dims + 1]) * z(rng)));
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  EXPECT_NEAR(m.scale, 1.0, 0.03);
  std::vector<float> sig;
  for (size_t i = 0; i < rows.rows(); ++i) {
    sig.push_back(static_cast<float>(m.sigma(rows.x.data() + i * rows.dims, 0)));
    if (i % 1000 == 0) {
      EXPECT_NEAR(sig.back() / true_sigma(rows.x[i * rows.dims + 1]), 1.0, 0.05);
    }
  }
  const auto s = eval::share_within(err, sig, {1.0, 2.0});
  EXPECT_NEAR(s[0], 0.6827, 0.01);
  EXPECT_NEAR(s[1], 0.9545, 0.006);
}

TEST(Uncertainty, ObservationNoiseIsRemovedForTheTruth) {
  // Errors against an observation with 0.8 K white noise: sigma must describe the error
  // against the truth (without the noise), which the test knows.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> z(0.0, 1.0);
  const auto rows = rows_with_change(60000, rng);
  std::vector<float> obs_err, true_err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    const double e = true_sigma(rows.x[i * rows.dims + 1]) * z(rng);
    true_err.push_back(static_cast<float>(e));
    obs_err.push_back(static_cast<float>(e + 0.8 * z(rng)));
  }
  const auto m = eval::fit_uncertainty(rows, obs_err, 0.64);
  std::vector<float> sig;
  for (size_t i = 0; i < rows.rows(); ++i) sig.push_back(static_cast<float>(m.sigma(rows.x.data() + i * rows.dims, 0)));
  const auto s = eval::share_within(true_err, sig, {1.0, 2.0});
  EXPECT_NEAR(s[0], 0.6827, 0.02);
  EXPECT_NEAR(s[1], 0.9545, 0.012);
  // Without removing the noise the band would be too wide for the truth.
  const auto raw = eval::fit_uncertainty(rows, obs_err, 0.0);
  std::vector<float> wide;
  for (size_t i = 0; i < rows.rows(); ++i) wide.push_back(static_cast<float>(raw.sigma(rows.x.data() + i * rows.dims, 0)));
  EXPECT_GT(eval::share_within(true_err, wide, {1.0})[0], 0.71);
}

TEST(Uncertainty, HeavyTailedErrorsStayWithinTheTargets) {
  // Laplace errors: no single sigma gives both 68.3 % and 95.4 %; the calibration keeps both
  // shares inside the bands 63-73 % and 92-98 %.
  std::mt19937_64 rng(13);
  std::exponential_distribution<double> ex(1.0);
  const auto rows = rows_with_change(40000, rng);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    const double l = (i % 2 ? 1 : -1) * ex(rng);
    err.push_back(static_cast<float>(true_sigma(rows.x[i * rows.dims + 1]) * l));
  }
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  std::vector<float> sig;
  for (size_t i = 0; i < rows.rows(); ++i) sig.push_back(static_cast<float>(m.sigma(rows.x.data() + i * rows.dims, 0)));
  const auto s = eval::share_within(err, sig, {1.0, 2.0});
  EXPECT_GE(s[0], 0.63);
  EXPECT_LE(s[0], 0.73);
  EXPECT_GE(s[1], 0.92);
  EXPECT_LE(s[1], 0.98);
}

TEST(Uncertainty, ClassesOfDifferentShapeGetTheirOwnFactor) {
  // Two land-cover classes with the same variance and different shapes: class 1 Gaussian,
  // class 2 Laplace (unit variance, scale 1/sqrt 2). The variance model gives both the same
  // sigma; the scale balances the 50/50 mixture (Phi, Laplace CDF: s = 0.953, shares 70.0 % and
  // 93.8 %), and each class's factor makes its own shares closest to those: sigma = 0.988 sd for
  // the Gaussian (67.7 / 95.2 %), 0.909 sd for the Laplace (72.3 / 92.4 %), computed by hand
  // from the two CDFs with the calibration's loss.
  std::mt19937_64 rng(19);
  std::normal_distribution<double> z(0.0, 1.0);
  std::exponential_distribution<double> ex(std::sqrt(2.0));
  auto rows = rows_with_change(60000, rng);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    rows.cls[i] = static_cast<uint8_t>(1 + i % 2);
    const double e = rows.cls[i] == 1 ? z(rng) : (i % 4 == 1 ? 1 : -1) * ex(rng);
    err.push_back(static_cast<float>(true_sigma(rows.x[i * rows.dims + 1]) * e));
  }
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  EXPECT_NEAR(m.scale, 0.953, 0.02);
  ASSERT_EQ(m.class_scale.size(), 2u);
  const float* x = rows.x.data();
  const double sd = true_sigma(x[1]);
  EXPECT_NEAR(m.sigma(x, 1) / sd, 0.988, 0.025);
  EXPECT_NEAR(m.sigma(x, 2) / sd, 0.909, 0.025);
  // The factors alone (on top of s = 0.953): 0.988 / 0.953 and 0.909 / 0.953.
  EXPECT_NEAR(m.class_factor(1), 1.036, 0.02);
  EXPECT_NEAR(m.class_factor(2), 0.954, 0.02);
  // Without the factors the Laplace class is 8 points more often within 1 sigma than the
  // Gaussian one (74.0 against 65.9 %); with them, 4.7 points.
  std::vector<float> e1, s1, e2, s2;
  for (size_t i = 0; i < rows.rows(); ++i) {
    const float sg = static_cast<float>(m.sigma(x + i * rows.dims, rows.cls[i]));
    (rows.cls[i] == 1 ? e1 : e2).push_back(err[i]);
    (rows.cls[i] == 1 ? s1 : s2).push_back(sg);
  }
  const auto g = eval::share_within(e1, s1, {1.0, 2.0});
  const auto l = eval::share_within(e2, s2, {1.0, 2.0});
  EXPECT_NEAR(g[0], 0.677, 0.012);
  EXPECT_NEAR(g[1], 0.952, 0.008);
  EXPECT_NEAR(l[0], 0.723, 0.012);
  EXPECT_NEAR(l[1], 0.924, 0.008);
  // The model's estimated curve is that of the band as written (factors included): without
  // observation noise and days, the plain share of all rows within k sigma. At k = 0.25 and 2.5
  // the factors move it by 0.2 and 0.1 points (by hand from the CDFs: 23.50 against 23.72 %,
  // 97.31 against 97.42 %), which the check resolves.
  std::vector<float> all_sigma;
  for (size_t i = 0; i < rows.rows(); ++i) all_sigma.push_back(static_cast<float>(m.sigma(x + i * rows.dims, rows.cls[i])));
  ASSERT_EQ(m.calib_k.size(), 12u);
  for (const size_t i : {size_t{0}, size_t{3}, size_t{9}})  // k = 0.25, 1, 2.5
    EXPECT_NEAR(m.calib_estimated[i], eval::share_within(err, all_sigma, {m.calib_k[i]})[0], 2e-4) << m.calib_k[i];
  // A class with too few rows keeps factor 1.
  eval::UncertaintyFit few;
  few.min_class_calibration_rows = 40000;
  EXPECT_TRUE(eval::fit_uncertainty(rows, err, 0.0, few).class_scale.empty());
}

TEST(Uncertainty, ModelSurvivesItsJson) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> z(0.0, 1.0);
  auto rows = rows_with_change(3000, rng);
  for (size_t i = 0; i < rows.rows(); ++i) rows.cls[i] = static_cast<uint8_t>(1 + i % 3);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) err.push_back(static_cast<float>((1.0 + rows.cls[i]) * z(rng)));
  const auto m = eval::fit_uncertainty(rows, err, 0.1);
  EXPECT_EQ(m.classes.size(), 2u);  // three classes, one of them the baseline
  const auto back = eval::UncertaintyModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  for (size_t i = 0; i < 30; ++i)
    EXPECT_DOUBLE_EQ(back.sigma(rows.x.data() + i * rows.dims, rows.cls[i]),
                     m.sigma(rows.x.data() + i * rows.dims, rows.cls[i]));
  // Classes with larger errors get larger sigma.
  EXPECT_LT(m.sigma(rows.x.data(), 1), m.sigma(rows.x.data(), 3));
  EXPECT_THROW(eval::UncertaintyModel::from_json(nlohmann::json{{"format", "x"}}), Error);
  // Class factors: every class here has its own; a file without them (written before them)
  // reads with factor 1; keys that are not whole class codes, a repeated class or an absurd
  // factor are errors of the model, not crashes.
  ASSERT_EQ(m.class_scale.size(), 3u);
  auto j = m.to_json();
  j.erase("class_scale");
  const auto old = eval::UncertaintyModel::from_json(j);
  EXPECT_TRUE(old.class_scale.empty());
  EXPECT_DOUBLE_EQ(old.class_factor(2), 1.0);
  EXPECT_DOUBLE_EQ(old.sigma(rows.x.data(), 2) * m.class_factor(2), m.sigma(rows.x.data(), 2));
  for (const auto& bad : {nlohmann::json{{"abc", 1.0}}, nlohmann::json{{"1.5", 1.0}}, nlohmann::json{{"", 1.0}},
                          nlohmann::json{{"0", 1.0}}, nlohmann::json{{"256", 1.0}}, nlohmann::json{{"1", 1.0}, {"01", 1.1}},
                          nlohmann::json{{"2", 1e300}}, nlohmann::json{{"2", -1.0}}}) {
    auto jb = m.to_json();
    jb["class_scale"] = bad;
    EXPECT_THROW(eval::UncertaintyModel::from_json(jb), Error) << bad.dump();
  }
  auto jn = m.to_json();
  jn["nearby"] = {{"dates", {"2024-01-01"}}, {"log_mse", {{{"x1", 0.5}}}}};
  EXPECT_THROW(eval::UncertaintyModel::from_json(jn), Error);
}

TEST(Uncertainty, ClassFactorOfEqualLossesIsTheOneNearestOne) {
  // Every error of class 1 is exactly +-1 K, class 2 Gaussian: class 1's shares are steps
  // (0 below |e| / sigma = 1, 1 above), so a whole range of factors fits it equally; the one
  // nearest 1 is kept, and the band of a constant error keeps at least that error.
  std::mt19937_64 rng(23);
  std::normal_distribution<double> z(0.0, 1.0);
  auto rows = rows_with_change(40000, rng);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    for (int d = 0; d < rows.dims; ++d) rows.x[i * rows.dims + d] = 0.5f;  // no predictor varies
    rows.cls[i] = static_cast<uint8_t>(1 + i % 2);
    err.push_back(rows.cls[i] == 1 ? (i % 4 ? 1.0f : -1.0f) : static_cast<float>(z(rng)));
  }
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  ASSERT_EQ(m.class_scale.size(), 2u);
  // All of class 1 is within 1 sigma and within 2 sigma (share 1 at both): the loss is flat for
  // every factor that keeps sigma >= 1 K, and the search starts at 2/3; the factor nearest 1
  // among them leaves sigma at or above 1 K.
  const double with_one = m.sigma(rows.x.data(), 1) / m.class_factor(1);  // sigma at factor 1
  if (with_one >= 1.0) {
    EXPECT_NEAR(m.class_factor(1), 1.0, 1e-9);  // 1 is on the plateau
  } else {
    EXPECT_GE(m.sigma(rows.x.data(), 1), 1.0);  // the plateau's first step, one grid step wide
    EXPECT_LT(m.sigma(rows.x.data(), 1), 1.0 + 0.002 * with_one + 1e-9);
  }
}

TEST(Uncertainty, AClassOfRareLargeMissesKeepsAtLeastTwoThirdsOfItsBand) {
  // Class 2 has about the variance of class 1 (Gaussian, 1 K), mostly in rare large misses: 90 %
  // of its errors have sd 0.4 K, 10 % sd 3 K (variance 0.144 + 0.9). Within 1 sigma its shares
  // want a band of about half (at 0.45 sigma: 0.9 x 73.9 % + 0.1 x 11.9 % = 67.7 %): without the
  // bound the factor goes below 2/3; with it, it stops at 2/3.
  std::mt19937_64 rng(29);
  std::normal_distribution<double> z(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto rows = rows_with_change(40000, rng);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    for (int d = 0; d < rows.dims; ++d) rows.x[i * rows.dims + d] = 0.5f;
    rows.cls[i] = static_cast<uint8_t>(1 + i % 2);
    err.push_back(static_cast<float>(rows.cls[i] == 1 ? z(rng) : (u(rng) < 0.1 ? 3.0 : 0.4) * z(rng)));
  }
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  ASSERT_EQ(m.class_scale.size(), 2u);
  EXPECT_NEAR(m.class_factor(2), 2.0 / 3.0, 1e-12);
  eval::UncertaintyFit wide;
  wide.min_class_factor = 0.25;
  EXPECT_LT(eval::fit_uncertainty(rows, err, 0.0, wide).class_factor(2), 2.0 / 3.0 - 0.02);
}

TEST(Uncertainty, TooFewRowsIsAnError) {
  std::mt19937_64 rng(1);
  const auto rows = rows_with_change(50, rng);
  EXPECT_THROW(eval::fit_uncertainty(rows, std::vector<float>(50, 1.0f), 0.0), Error);
}

TEST(Nugget, WhiteNoiseOnASmoothFieldIsFound) {
  // A smooth field (ramp + slow waves) plus 0.7 K white noise: the nugget is 0.49 K^2.
  Raster r(grid(200, 200), 1);
  std::mt19937_64 rng(21);
  std::normal_distribution<double> z(0.0, 0.7);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 200; ++x)
      r.at(y, x) = static_cast<float>(290.0 + 0.05 * x + 3.0 * std::sin(x / 15.0) * std::cos(y / 20.0) + z(rng));
  EXPECT_NEAR(eval::nugget_variance(r), 0.49, 0.05);
  // Without noise there is no nugget.
  Raster s(grid(200, 200), 1);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 200; ++x) s.at(y, x) = static_cast<float>(290.0 + 0.05 * x + 3.0 * std::sin(x / 15.0));
  EXPECT_NEAR(eval::nugget_variance(s), 0.0, 0.003);
}

TEST(ErrorFeatures, HandComputedPredictors) {
  // Target on day 10, references on days 7 and 26: 3 days to the nearest. Coarse change at a
  // pixel: |target coarse - day-7 coarse| = 2 K.
  const Grid g = grid(4, 4);
  Raster fused(g, 1, 300.0f), coarse(g, 1, 302.0f), f1(g, 1, 299.0f), c1(g, 1, 300.0f), f2(g, 1, 301.0f),
      c2(g, 1, 305.0f), lc(g, 1, 4.0f);
  eval::ErrorContext ctx;
  ctx.fused = &fused;
  ctx.coarse = &coarse;
  ctx.date = Date(2024, 1, 11);
  ctx.refs = {{Date(2024, 1, 27), &f2, &c2}, {Date(2024, 1, 8), &f1, &c1}};
  ctx.landcover = &lc;
  ctx.block = 2;
  const auto rows = eval::error_features(ctx, 1);
  ASSERT_EQ(rows.rows(), 16u);
  const float* x = rows.x.data();
  EXPECT_FLOAT_EQ(x[0], static_cast<float>(std::log1p(3.0)));
  EXPECT_FLOAT_EQ(x[1], static_cast<float>(std::log1p(2.0)));
  EXPECT_FLOAT_EQ(x[2], 0.0f);  // every block residual equals the day's bias (-2 K)
  EXPECT_FLOAT_EQ(x[3], 0.0f);  // a uniform reference
  EXPECT_FLOAT_EQ(x[4], 0.0f);  // nothing filled
  EXPECT_FLOAT_EQ(x[7], static_cast<float>(std::log1p(2.0)));  // scene change
  EXPECT_FLOAT_EQ(x[8], 1.0f);  // the whole scene observed by the coarse sensor
  EXPECT_EQ(rows.cls[0], 4);
  // Every second valid pixel with stride 2.
  EXPECT_EQ(eval::error_features(ctx, 2).rows(), 8u);
}

namespace {

// `days` days of `per_day` rows each, day d on 2024-01-01 + 10 d; predictor 1 alternates
// between 0 and 1 (row parity), the others constant, one class.
eval::FeatureRows rows_in_days(int days, int per_day) {
  eval::FeatureRows r;
  r.dims = static_cast<int>(eval::error_feature_names().size());
  for (int d = 0; d < days; ++d) {
    r.day_dates.push_back(Date(2024, 1, 1) + 10 * d);
    for (int i = 0; i < per_day; ++i) {
      for (int j = 0; j < r.dims; ++j) r.x.push_back(j == 1 ? static_cast<float>(i % 2) : 0.5f);
      r.cls.push_back(0);
      r.pixel.push_back(r.pixel.size());
      r.day.push_back(d);
    }
  }
  return r;
}

}  // namespace

TEST(Uncertainty, ConstantErrorOfEveryDayGivesThatConstant) {
  // A method off by +1.7 K everywhere on every day: all of it is shared by the pixels of a day
  // (day variance 1.7^2, nothing left per pixel), and the band is 1.7 K.
  const auto rows = rows_in_days(6, 800);
  const std::vector<float> err(rows.rows(), 1.7f);
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  EXPECT_EQ(m.days, 6);
  EXPECT_NEAR(m.day_variance, 1.7 * 1.7, 1e-4);
  for (size_t i = 0; i < rows.rows(); i += 131) EXPECT_NEAR(m.sigma(rows.x.data() + i * rows.dims, 0), 1.7, 0.017) << i;
}

TEST(Uncertainty, TwoLevelVarianceIsRecovered) {
  // Error = day part + pixel part. The day part is +-0.8 K (alternating days: variance 0.64
  // exactly); the pixel part is Gaussian with sigma 0.5 K where predictor 1 is 0 and 1.5 K
  // where it is 1. The fit must give back 0.64 for the day and 0.25 / 2.25 per pixel.
  const auto rows = rows_in_days(40, 2000);
  std::mt19937_64 rng(29);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    const double day = rows.day[i] % 2 ? 0.8 : -0.8;
    const double pix = (rows.x[i * rows.dims + 1] > 0.5f ? 1.5 : 0.5) * z(rng);
    err.push_back(static_cast<float>(day + pix));
  }
  eval::UncertaintyFit fit;
  fit.nearby = false;  // the two levels alone
  const auto m = eval::fit_uncertainty(rows, err, 0.0, fit);
  EXPECT_EQ(m.days, 40);
  // The day means carry the pixel noise averaged over 2000 pixels (about 0.025 K).
  EXPECT_NEAR(m.day_variance, 0.64, 0.02);
  const float* low = rows.x.data();               // predictor 1 = 0
  const float* high = rows.x.data() + rows.dims;  // predictor 1 = 1
  const double v_low = std::pow(m.sigma(low, 0) / m.scale, 2) - m.day_variance;
  const double v_high = std::pow(m.sigma(high, 0) / m.scale, 2) - m.day_variance;
  EXPECT_NEAR(v_low, 0.25, 0.01);
  EXPECT_NEAR(v_high, 2.25, 0.07);
  // The shares of the truth within 1 and 2 sigma meet the targets.
  std::vector<float> sig;
  for (size_t i = 0; i < rows.rows(); ++i) sig.push_back(static_cast<float>(m.sigma(rows.x.data() + i * rows.dims, 0)));
  const auto s = eval::share_within(err, sig, {1.0, 2.0});
  EXPECT_GE(s[0], 0.63);
  EXPECT_LE(s[0], 0.73);
  EXPECT_GE(s[1], 0.92);
  EXPECT_LE(s[1], 0.98);
}

TEST(Uncertainty, ObservedAndFilledCoarsePixelsHaveTheirOwnDayVariance) {
  // Each day, half the pixels have a filled coarse value (rows i % 4 >= 2). The observed half
  // shares an offset of +-0.6 K (alternating days: variance 0.36 exactly), the filled half one
  // of +-1.5 K on the opposite phase (2.25); per pixel, Gaussian noise of 0.5 K. The two day
  // variances come back apart, and the pixel part is the same 0.25 for both halves.
  auto rows = rows_in_days(30, 2000);
  std::mt19937_64 rng(41);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    const bool filled = (i % 2000) % 4 >= 2;
    rows.x[i * rows.dims + 4] = filled ? 1.0f : 0.0f;  // coarse_filled
    const double sign = rows.day[i] % 2 ? 1.0 : -1.0;
    err.push_back(static_cast<float>((filled ? -1.5 : 0.6) * sign + 0.5 * z(rng)));
  }
  eval::UncertaintyFit fit;
  fit.nearby = false;
  const auto m = eval::fit_uncertainty(rows, err, 0.0, fit);
  // A group's day mean carries the pixel noise averaged over its 1000 rows (0.016 K), so the
  // mean of 30 squared means 2 |offset| 0.016 / sqrt(30) K^2 (0.0035 and 0.0087): three of it.
  EXPECT_NEAR(m.day_variance, 0.36, 0.011);
  EXPECT_NEAR(m.day_variance_filled, 2.25, 0.027);
  const float* observed = rows.x.data();
  const float* filled = rows.x.data() + 2 * rows.dims;
  EXPECT_NEAR(std::pow(m.sigma(observed, 0) / m.scale, 2) - m.day_variance, 0.25, 0.01);
  EXPECT_NEAR(std::pow(m.sigma(filled, 0) / m.scale, 2) - m.day_variance_filled, 0.25, 0.01);
  const auto back = eval::UncertaintyModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  EXPECT_DOUBLE_EQ(back.day_variance_filled, m.day_variance_filled);
  EXPECT_DOUBLE_EQ(back.sigma(filled, 0), m.sigma(filled, 0));
  // Filled pixels on three days (the fewest that split) plus 100 rows on a fourth, too few for a
  // day mean of their own: that day's filled rows deviate from the whole day's mean and the day
  // does not enter the filled variance, which stays (1.5^2 + 1.5^2 + 1.5^2) / 3 (three days:
  // 3 x 2 1.5 0.016 / sqrt(3) K^2 of tolerance).
  for (size_t i = 0; i < rows.rows(); ++i) {
    const size_t k = i % 2000;
    const bool is_filled = (rows.day[i] < 3 && k % 4 >= 2) || (rows.day[i] == 3 && k < 100);
    rows.x[i * rows.dims + 4] = is_filled ? 1.0f : 0.0f;
  }
  const auto three = eval::fit_uncertainty(rows, err, 0.0, fit);
  EXPECT_NEAR(three.day_variance_filled, 2.25, 0.085);
  // Filled pixels on two days only: too few days for their own variance; one for all pixels,
  // that of the whole days' means, and a file that reads back without the key.
  for (size_t i = 0; i < rows.rows(); ++i) rows.x[i * rows.dims + 4] = rows.day[i] < 2 && (i % 2000) % 4 >= 2 ? 1.0f : 0.0f;
  const auto one = eval::fit_uncertainty(rows, err, 0.0, fit);
  EXPECT_LT(one.day_variance_filled, 0.0);
  const auto j = one.to_json();
  EXPECT_EQ(j.count("day_variance_coarse_filled"), 0u);
  // Whole-day means: +-(0.6 - 1.5) / 2 = -+0.45 K.
  EXPECT_NEAR(one.day_variance, 0.45 * 0.45, 0.01);
  const auto one_back = eval::UncertaintyModel::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_LT(one_back.day_variance_filled, 0.0);
  EXPECT_DOUBLE_EQ(one_back.sigma(filled, 0), one.sigma(filled, 0));
  // A negative or non-numeric filled day variance is not a file the fit wrote.
  for (const auto& bad : {nlohmann::json(-0.5), nlohmann::json("x")}) {
    auto broken = m.to_json();
    broken["day_variance_coarse_filled"] = bad;
    EXPECT_ANY_THROW(eval::UncertaintyModel::from_json(broken)) << bad.dump();
  }
}

TEST(Uncertainty, EachFillStatusHasItsOwnDayVariance) {
  // Four kinds of pixel each day (rows i % 4): observed, coarse filled, reference filled (a
  // farther pair), both. Their shared offsets alternate sign from day to day with sizes 0.3,
  // 0.8, 1.6 and 2.0 K (variances 0.09, 0.64, 2.56, 4); pixel noise 0.5 K. Each variance comes
  // back; a model file without the reference keys reads them as absent, and a status without
  // its own variance takes that of the nearest kind (both -> reference -> coarse -> observed).
  auto rows = rows_in_days(30, 2000);
  std::mt19937_64 rng(43);
  std::normal_distribution<double> z(0.0, 1.0);
  const double size[4] = {0.3, 0.8, 1.6, 2.0};
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i) {
    const int status = static_cast<int>((i % 2000) % 4);
    rows.x[i * rows.dims + 4] = status & 1 ? 1.0f : 0.0f;  // coarse_filled
    rows.x[i * rows.dims + 5] = status & 2 ? 1.0f : 0.0f;  // reference_filled
    const double sign = (rows.day[i] + status) % 2 ? 1.0 : -1.0;
    err.push_back(static_cast<float>(size[status] * sign + 0.5 * z(rng)));
  }
  eval::UncertaintyFit fit;
  fit.nearby = false;
  const auto m = eval::fit_uncertainty(rows, err, 0.0, fit);
  // 500 rows a group and day: sampling error of a day mean 0.022 K; three times its effect.
  EXPECT_NEAR(m.day_variance, 0.09, 0.01);
  EXPECT_NEAR(m.day_variance_filled, 0.64, 0.02);
  EXPECT_NEAR(m.day_variance_reference_filled, 2.56, 0.04);
  EXPECT_NEAR(m.day_variance_both_filled, 4.0, 0.05);
  EXPECT_DOUBLE_EQ(m.day_variance_for(false, false), m.day_variance);
  EXPECT_DOUBLE_EQ(m.day_variance_for(true, true), m.day_variance_both_filled);
  for (int status = 0; status < 4; ++status) {  // the pixel part, 0.25, is the same for all
    const float* x = rows.x.data() + static_cast<size_t>(status) * rows.dims;
    EXPECT_NEAR(std::pow(m.sigma(x, 0) / m.scale, 2) - m.day_variance_for(status & 1, status & 2), 0.25, 0.012)
        << status;
  }
  auto j = m.to_json();
  const auto back = eval::UncertaintyModel::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_DOUBLE_EQ(back.day_variance_reference_filled, m.day_variance_reference_filled);
  EXPECT_DOUBLE_EQ(back.day_variance_both_filled, m.day_variance_both_filled);
  j.erase("day_variance_coarse_and_reference_filled");
  const auto no_both = eval::UncertaintyModel::from_json(j);
  EXPECT_DOUBLE_EQ(no_both.day_variance_for(true, true), m.day_variance_reference_filled);
  j.erase("day_variance_reference_filled");
  const auto coarse_only = eval::UncertaintyModel::from_json(j);  // a model of the version before
  EXPECT_DOUBLE_EQ(coarse_only.day_variance_for(true, true), m.day_variance_filled);
  EXPECT_DOUBLE_EQ(coarse_only.day_variance_for(false, true), m.day_variance);
  auto bad = m.to_json();
  bad["day_variance_reference_filled"] = -1.0;
  EXPECT_ANY_THROW(eval::UncertaintyModel::from_json(bad));
}

namespace {

// 30 days x 2000 rows, the first `whole_days` of them filled whole (every row coarse filled,
// day_coarse_observed_fraction 0), missing by +-whole_miss K (the sign alternating by day); on
// the others half the rows observed (+-0.3 K) and, with `others_filled`, half filled (+-0.8 K),
// 50 % observed. Pixel noise 0.5 K. The errors go to `err`.
eval::FeatureRows whole_day_rows(int whole_days, double whole_miss, bool others_filled, unsigned seed,
                                 std::vector<float>& err) {
  auto rows = rows_in_days(30, 2000);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  err.clear();
  for (size_t i = 0; i < rows.rows(); ++i) {
    const bool whole = rows.day[i] < whole_days;
    const bool filled = whole || (others_filled && (i % 2000) % 2 == 1);
    rows.x[i * rows.dims + 4] = filled ? 1.0f : 0.0f;  // coarse_filled
    rows.x[i * rows.dims + 5] = 0.0f;                 // reference clear
    rows.x[i * rows.dims + 8] = whole ? 0.0f : 0.5f;  // day_coarse_observed_fraction
    const double sign = rows.day[i] % 2 ? 1.0 : -1.0;
    err.push_back(static_cast<float>((whole ? whole_miss : filled ? 0.8 : 0.3) * sign + 0.5 * z(rng)));
  }
  return rows;
}

}  // namespace

TEST(Uncertainty, DaysFilledWholeHaveTheirOwnDayVarianceWhenThereAreEnough) {
  // 30 days x 2000 rows. On the days filled whole (no coarse pixel observed: every row coarse
  // filled, day_coarse_observed_fraction 0) the day misses by +-3 K (variance 9); on the others
  // half the rows are observed (+-0.3 K, 0.09) and half filled (+-0.8 K, 0.64), with 50 %
  // observed. Pixel noise 0.5 K.
  auto make = [](int whole_days) {
    std::vector<float> err;
    const auto rows = whole_day_rows(whole_days, 3.0, true, 47, err);
    eval::UncertaintyFit fit;
    fit.nearby = false;
    return std::make_pair(rows, eval::fit_uncertainty(rows, err, 0.0, fit));
  };
  // Six days filled whole: a group of their own.
  const auto [rows, m] = make(6);
  EXPECT_NEAR(m.day_variance_whole_day_filled, 9.0, 0.1);
  EXPECT_NEAR(m.day_variance_filled, 0.64, 0.02);
  EXPECT_NEAR(m.day_variance, 0.09, 0.01);
  const float* whole_row = rows.x.data();                         // day 0, filled whole
  const float* partial_row = rows.x.data() + (10 * 2000 + 1) * rows.dims;  // day 10, a filled row
  EXPECT_NEAR(std::pow(m.sigma(whole_row, 0) / m.scale, 2) - 9.0, 0.25, 0.12);
  EXPECT_NEAR(std::pow(m.sigma(partial_row, 0) / m.scale, 2) - 0.64, 0.25, 0.03);
  const auto back = eval::UncertaintyModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  EXPECT_DOUBLE_EQ(back.sigma(whole_row, 0), m.sigma(whole_row, 0));
  // Two such days are too few to tell their variance: they stay with the filled pixels, whose
  // variance is then the mean over the 30 days, (2 x 9 + 28 x 0.64) / 30.
  const auto two = make(2).second;
  EXPECT_LT(two.day_variance_whole_day_filled, 0.0);
  EXPECT_NEAR(two.day_variance_filled, (2 * 9.0 + 28 * 0.64) / 30, 0.05);
  EXPECT_EQ(two.to_json().count("day_variance_whole_day_filled"), 0u);
}

TEST(Uncertainty, DaysFilledWholeTakeTheFillersCheckAndDoNotCalibrate) {
  // As above, with two days filled whole, and the gap filler's check of such days (4 K^2). They
  // get the observed pixels' day variance plus the check, stay apart from the filled pixels of the
  // other days, and do not set the scale: whether they miss by 3 K or by 30 K (the same deviations
  // from their day's mean), the model is the same.
  auto make = [](double whole_miss, int whole_days = 2, bool others_filled = true) {
    std::vector<float> err;
    const auto rows = whole_day_rows(whole_days, whole_miss, others_filled, 53, err);
    eval::UncertaintyFit fit;
    fit.nearby = false;
    fit.whole_day_fill_variance = 4.0;
    return std::make_pair(rows, eval::fit_uncertainty(rows, err, 0.0, fit));
  };
  const auto [rows, m] = make(3.0);
  EXPECT_NEAR(m.day_variance, 0.09, 0.01);
  EXPECT_NEAR(m.day_variance_filled, 0.64, 0.02);  // the two days filled whole are not in it
  EXPECT_DOUBLE_EQ(m.whole_day_fill_variance, 4.0);
  EXPECT_DOUBLE_EQ(m.day_variance_whole_day_filled, m.day_variance + 4.0);
  const float* whole_row = rows.x.data();
  EXPECT_NEAR(std::pow(m.sigma(whole_row, 0) / m.scale, 2) - m.day_variance - 4.0, 0.25, 0.03);
  const auto far = make(30.0).second;
  EXPECT_DOUBLE_EQ(far.scale, m.scale);
  // The errors are floats: 30 K and 3 K plus the same deviation round differently.
  EXPECT_NEAR(far.sigma(whole_row, 0), m.sigma(whole_row, 0), 1e-6);
  const auto back = eval::UncertaintyModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  EXPECT_DOUBLE_EQ(back.whole_day_fill_variance, 4.0);
  EXPECT_DOUBLE_EQ(back.sigma(whole_row, 0), m.sigma(whole_row, 0));
  // No filled pixel outside the days filled whole: one day variance for the other days, of
  // their own means only (0.09), not of all 30 days ((2 x 9 + 28 x 0.09) / 30 = 0.68).
  const auto observed_only = make(3.0, 2, false).second;
  EXPECT_NEAR(observed_only.day_variance, 0.09, 0.01);
  EXPECT_DOUBLE_EQ(observed_only.day_variance_whole_day_filled, observed_only.day_variance + 4.0);
  // Every day filled whole: nothing else to calibrate on, so all rows calibrate (a scale from no
  // rows at all would be the search's first value, 0.3). The errors are 3 K +- 0.5 K against a
  // band of sqrt(0 + 4 + 0.25) = 2.06 K: the scale stretches it to about 3 / 2.06 = 1.46 (the
  // loss, balancing 1 and 2 sigma, settles at 1.52: 60 % within 1 sigma, all within 2).
  const auto all_whole = make(3.0, 30).second;
  EXPECT_NEAR(all_whole.scale, 1.5, 0.1);
}

TEST(Uncertainty, DaysWeighEquallyWhateverTheirPixels) {
  // Two kinds of day: 9 small days with errors of sigma 2 K, one large day (40 times the rows)
  // with sigma 0.5 K. Each day counts once: the pixel variance is the mean over days,
  // (9 * 4 + 0.25) / 10 = 3.625 K^2, not the pixel-weighted 0.25-dominated one (about 0.85).
  eval::FeatureRows r;
  r.dims = static_cast<int>(eval::error_feature_names().size());
  std::mt19937_64 rng(31);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<float> err;
  for (int d = 0; d < 10; ++d) {
    r.day_dates.push_back(Date(2024, 3, 1) + 16 * d);
    const int n = d == 4 ? 40000 : 1000;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < r.dims; ++j) r.x.push_back(0.5f);
      r.cls.push_back(0);
      r.pixel.push_back(r.pixel.size());
      r.day.push_back(d);
      err.push_back(static_cast<float>((d == 4 ? 0.5 : 2.0) * z(rng)));
    }
  }
  eval::UncertaintyFit fit;
  fit.nearby = false;  // the day weights alone
  const auto m = eval::fit_uncertainty(r, err, 0.0, fit);
  const double v = std::pow(m.sigma(r.x.data(), 0) / m.scale, 2) - m.day_variance;
  EXPECT_NEAR(v, 3.625, 0.15);
}

TEST(NearbyErrors, InterpolatedInTimeSkippingTheHiddenDate) {
  // Days 10, 20 and 40 of 2024; class 3 has a value on days 10 and 40 only.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  eval::NearbyErrors ne;
  ne.dates = {Date(2024, 1, 10), Date(2024, 1, 20), Date(2024, 2, 9)};
  ne.log_mse = {std::vector<double>(256, nan), std::vector<double>(256, nan), std::vector<double>(256, nan)};
  ne.log_mse[0][0] = 0.5;
  ne.log_mse[1][0] = 2.0;
  ne.log_mse[2][0] = 1.0;
  ne.log_mse[0][3] = 1.0;
  ne.log_mse[2][3] = 3.0;
  // Day 30: between day 20 (class 3 missing: the all-pixel 2.0) and day 40 (3.0), halfway.
  EXPECT_NEAR(ne.at(Date(2024, 1, 30), 3), 2.5, 1e-12);
  // Without day 20: between day 10 (1.0) and day 40 (3.0), two thirds of the way.
  EXPECT_NEAR(ne.at(Date(2024, 1, 30), 3, 1), 1.0 + 2.0 * 20.0 / 30.0, 1e-12);
  // Class 0 on a hidden date itself, and beyond either end: the nearest value.
  EXPECT_NEAR(ne.at(Date(2024, 1, 20), 0), 2.0, 1e-12);
  EXPECT_NEAR(ne.at(Date(2024, 1, 1), 3), 1.0, 1e-12);
  EXPECT_NEAR(ne.at(Date(2024, 3, 1), 0), 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(eval::NearbyErrors{}.at(Date(2024, 1, 1), 0)));
}

TEST(Uncertainty, DayModelSurvivesItsJson) {
  auto rows = rows_in_days(8, 1500);
  for (size_t i = 0; i < rows.rows(); ++i) rows.cls[i] = static_cast<uint8_t>(1 + i % 3);
  std::mt19937_64 rng(37);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<float> err;
  for (size_t i = 0; i < rows.rows(); ++i)
    err.push_back(static_cast<float>(0.3 * rows.day[i] + (1.0 + rows.cls[i]) * (1.0 + 0.1 * rows.day[i]) * z(rng)));
  const auto m = eval::fit_uncertainty(rows, err, 0.1);
  EXPECT_GT(m.day_variance, 0.0);
  ASSERT_EQ(m.nearby.dates.size(), 8u);
  const auto back = eval::UncertaintyModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  EXPECT_DOUBLE_EQ(back.day_variance, m.day_variance);
  EXPECT_EQ(back.days, 8);
  for (uint8_t c = 0; c < 4; ++c) EXPECT_DOUBLE_EQ(back.nearby.at(Date(2024, 2, 3), c), m.nearby.at(Date(2024, 2, 3), c));
  for (size_t i = 0; i < 30; ++i)
    EXPECT_DOUBLE_EQ(back.sigma(rows.x.data() + i * rows.dims, rows.cls[i]),
                     m.sigma(rows.x.data() + i * rows.dims, rows.cls[i]));
}

TEST(Uncertainty, PredictorsThatCombineOutsideTheTrainingRowsStayWithinTheirBand) {
  // Two predictors that moved together on the hidden dates (x2 = 2 - x1, give or take 0.05) and
  // errors whose spread follows their sum: the fit takes a large coefficient on the sum. Each
  // predictor is clamped to its own range, yet x1 = x2 = 2 lies far outside the rows seen (sum
  // 4 against 1.95-2.05): without a bound exp() would give sigma of e^20 K. The band there is
  // that of the training row with the largest linear predictor, and files without the range (made
  // before it) keep the unbounded form.
  std::mt19937_64 rng(23);
  std::normal_distribution<double> z(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 2.0), v(-0.05, 0.05);
  eval::FeatureRows rows;
  rows.dims = static_cast<int>(eval::error_feature_names().size());
  std::vector<float> err;
  for (size_t i = 0; i < 20000; ++i) {
    const double x1 = u(rng), x2 = 2.0 - x1 + v(rng);
    for (int j = 0; j < rows.dims; ++j)
      rows.x.push_back(j == 1 ? static_cast<float>(x1) : j == 2 ? static_cast<float>(x2) : 0.5f);
    rows.cls.push_back(0);
    rows.pixel.push_back(i);
    err.push_back(static_cast<float>(std::exp(0.1 + 10.0 * (x1 + x2 - 2.0)) * z(rng)));
  }
  const auto m = eval::fit_uncertainty(rows, err, 0.0);
  double largest = 0;
  for (size_t i = 0; i < rows.rows(); ++i) largest = std::max(largest, m.sigma(rows.x.data() + i * rows.dims, 0));
  EXPECT_LT(largest, 5.0);  // e^(0.1 + 0.5) = 1.8 times the calibration scale
  std::vector<float> far(rows.x.begin(), rows.x.begin() + rows.dims);
  far[1] = far[2] = 2.0f;
  EXPECT_NEAR(m.sigma(far.data(), 0), largest, 1e-9 * largest);
  auto j = m.to_json();
  ASSERT_TRUE(j.contains("eta_range"));
  EXPECT_DOUBLE_EQ(eval::UncertaintyModel::from_json(nlohmann::json::parse(j.dump())).sigma(far.data(), 0),
                   m.sigma(far.data(), 0));
  j.erase("eta_range");
  EXPECT_GT(eval::UncertaintyModel::from_json(j).sigma(far.data(), 0), 1000.0 * largest);
}
