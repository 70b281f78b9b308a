// The `series` method and the coarse-bias model it rests on, against cases whose answer is
// known in closed form.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "lstfuse/core/error.hpp"
#include "lstfuse/methods/classic/series.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/prep/coarse_bias.hpp"
#include "method_fixtures.hpp"

using namespace lstfuse;
using test::utm_grid;

namespace {

// A series of `n` pairs every 16 days from 2024-01-06 on a w x h grid: fine = off(x, y) +
// gain(x, y) * s_k, coarse = s_k + bias_k (uniform), s_k a seasonal signal.
struct SyntheticSeries {
  std::vector<Date> dates;
  std::vector<double> signal, bias;
  Raster off, gain;
};

double season(const Date& d) { return 300.0 + 10.0 * std::cos(6.283185307 * (d.day_of_year() - 20) / 365.25); }

FusionInput series_input(const SyntheticSeries& s, const Date& target, double target_bias) {
  FusionInput in;
  in.date = target;
  const Grid& g = s.off.grid();
  for (size_t k = 0; k < s.dates.size(); ++k) {
    Raster L(g, 1, 0.0f, true), M(g, 1, 0.0f, true);
    for (size_t i = 0; i < L.band_size(); ++i) {
      L.band(0)[i] = static_cast<float>(s.off.band(0)[i] + s.gain.band(0)[i] * s.signal[k]);
      M.band(0)[i] = static_cast<float>(s.signal[k] + s.bias[k]);
    }
    in.pairs.push_back({s.dates[k], L, M});
  }
  in.coarse = Raster(g, 1, static_cast<float>(season(target) + target_bias), true);
  return in;
}

SyntheticSeries make_series(int w, int h, int n, unsigned seed, bool unit_gain) {
  SyntheticSeries s;
  std::mt19937 rng(seed);
  std::normal_distribution<double> nz(0.0, 1.0);
  for (int k = 0; k < n; ++k) {
    s.dates.push_back(Date(2024, 1, 6) + 16L * k);
    s.signal.push_back(season(s.dates.back()));
    s.bias.push_back(k % 2 ? 1.5 : -0.5);  // alternating around a mean of 0.5 K
  }
  const Grid g = utm_grid(w, h);
  s.off = Raster(g, 1, 0.0f, true);
  s.gain = Raster(g, 1, 1.0f, true);
  for (size_t i = 0; i < s.off.band_size(); ++i) {
    s.off.band(0)[i] = static_cast<float>(3.0 * nz(rng));
    if (!unit_gain) s.gain.band(0)[i] = static_cast<float>(0.6 + 0.8 * (i % 7) / 6.0);  // 0.6..1.4
  }
  // Zero-mean offsets: the coarse image is then the fine scene's mean plus the bias, as a
  // sensor bias is defined.
  double mean = 0.0;
  for (size_t i = 0; i < s.off.band_size(); ++i) mean += s.off.band(0)[i];
  mean /= static_cast<double>(s.off.band_size());
  for (size_t i = 0; i < s.off.band_size(); ++i) s.off.band(0)[i] -= static_cast<float>(mean);
  return s;
}

}  // namespace

TEST(CoarseBias, MeasuredAsMeanCoarseMinusFineOverPixelsValidInBoth) {
  const Grid g = utm_grid(4, 2);
  Raster L(g, 1, 300.0f, true), M(g, 1, 301.0f, true);
  M.band(0)[0] = 310.0f;     // excluded: fine invalid there
  L.set_valid(0, 0, 0, false);
  M.band(0)[1] = 299.0f;     // -1 K
  M.set_valid(0, 1, 3, false);
  // Valid in both: pixels 1..6 -> differences -1, 1, 1, 1, 1, 1 -> mean 4/6.
  const auto pb = prep::measure_coarse_bias(L, M);
  EXPECT_EQ(pb.pixels, 6);
  EXPECT_NEAR(pb.bias, 4.0 / 6.0, 1e-12);
}

TEST(CoarseBias, ShortMemoryBiasIsEstimatedByItsMeanWithItsSpread) {
  // A daily AR(1) bias (phi 0.7, the simulator's) sampled every 16 days has no memory at that
  // lag: the model must return the mean, and an sd close to the spread.
  std::mt19937 rng(3);
  std::normal_distribution<double> nz(0.0, 1.0);
  const double phi = 0.7, sd = 0.8, mean = -0.5;
  double e = nz(rng) * sd;
  std::vector<Date> dates;
  std::vector<double> values;
  for (int day = 0; day < 365 * 3; ++day) {
    e = phi * e + std::sqrt(1 - phi * phi) * sd * nz(rng);
    if (day % 16 == 5) {
      dates.push_back(Date(2022, 1, 1) + static_cast<long>(day));
      values.push_back(mean + e);
    }
  }
  const auto m = prep::BiasModel::fit(dates, values);
  double sample_mean = 0;
  for (double v : values) sample_mean += v;
  sample_mean /= static_cast<double>(values.size());
  EXPECT_LE(m.range_days(), 4.0);                    // decorrelates within days
  const auto est = m.at(Date(2023, 6, 1));           // between two samples
  EXPECT_NEAR(est.value, sample_mean, 0.1);
  EXPECT_NEAR(est.value, mean, 0.3);                 // the true mean, within sampling error
  EXPECT_NEAR(est.sd, sd, 0.2);
  // On a measured date the measurement itself, with no spread.
  EXPECT_DOUBLE_EQ(m.at(dates[10]).value, values[10]);
  EXPECT_DOUBLE_EQ(m.at(dates[10]).sd, 0.0);
}

TEST(CoarseBias, SlowDriftIsFollowedBetweenDates) {
  // A bias drifting from -1 K to +3 K over a year, sampled every 16 days: halfway between two
  // samples the estimate must be close to the drift line, not to the overall mean.
  std::vector<Date> dates;
  std::vector<double> values;
  for (int k = 0; k < 23; ++k) {
    dates.push_back(Date(2024, 1, 6) + 16L * k);
    values.push_back(-1.0 + 4.0 * (16.0 * k) / 352.0);
  }
  const auto m = prep::BiasModel::fit(dates, values);
  EXPECT_GE(m.range_days(), 64.0);
  const Date mid = Date(2024, 1, 6) + 16L * 3 + 8;  // 56 days in: drift -1 + 4*56/352
  EXPECT_NEAR(m.at(mid).value, -1.0 + 4.0 * 56.0 / 352.0, 0.05);
  EXPECT_LT(m.at(mid).sd, 0.5);
}

TEST(CoarseBias, FewValuesDegradeGracefully) {
  const auto none = prep::BiasModel::fit({}, {});
  EXPECT_EQ(none.at(Date(2024, 1, 1)).value, 0.0);
  EXPECT_TRUE(std::isnan(none.at(Date(2024, 1, 1)).sd));
  const auto one = prep::BiasModel::fit({Date(2024, 1, 1)}, {1.25});
  EXPECT_EQ(one.at(Date(2024, 3, 1)).value, 1.25);
  EXPECT_THROW(prep::BiasModel::fit({Date(2024, 1, 1), Date(2024, 1, 1)}, {1.0, 2.0}), Error);
}

TEST(Series, KnownPerDateBiasIsRemovedExactly) {
  // fine = off + s_k, coarse = s_k + b_k with b_k alternating -0.5 / +1.5 (mean 0.5, no memory),
  // and the target's coarse bias equal to that mean: the series method is exact, additive
  // carries b_0 - b_k.
  const SyntheticSeries s = make_series(24, 20, 12, 5, true);
  const Date target = s.dates[5] + 7L;
  const FusionInput in = series_input(s, target, 0.5);
  SeriesMethod m;
  m.opts.denoise_radius = 0;
  m.opts.response = false;  // the bias alone (the response would learn the bias differences)
  const FusionResult r = m.predict(in);
  EXPECT_NEAR(m.last_bias().target, 0.5, 1e-4);  // float32 images
  for (size_t k = 0; k < s.dates.size(); ++k) EXPECT_NEAR(m.last_bias().pair[k], s.bias[k], 1e-4);
  const double truth0 = season(target);
  for (size_t i = 0; i < r.fine.band_size(); ++i) {
    ASSERT_TRUE(r.fine.mask(0)[i]);
    ASSERT_NEAR(r.fine.band(0)[i], s.off.band(0)[i] + truth0, 2e-3) << i;
  }
  // Without the bias step the error is the bias difference of the pairs used.
  m.opts.coarse_bias = false;
  const FusionResult nb = m.predict(in);
  const double w1 = 1.0 / 7.0, w2 = 1.0 / 9.0;  // dates 5 (7 days before) and 6 (9 after)
  const double expected_err = 0.5 - (w1 * s.bias[5] + w2 * s.bias[6]) / (w1 + w2);
  EXPECT_NEAR(nb.fine.band(0)[0] - (s.off.band(0)[0] + truth0), expected_err, 2e-3);
}

TEST(Series, KnownPerPixelGainIsRecovered) {
  // fine = off + g(x, y) s_k with g in 0.6..1.4: the gain step recovers g (quality band) and
  // the prediction at a date between pairs.
  SyntheticSeries s = make_series(21, 14, 12, 9, false);
  for (double& b : s.bias) b = 0.0;
  const Date target = s.dates[4] + 5L;
  const FusionInput in = series_input(s, target, 0.0);
  SeriesMethod m;
  m.opts.denoise_radius = 0;
  m.opts.gain = true;
  m.opts.gain_radius = 0;
  m.opts.gain_prior = 1e-6;
  const FusionResult r = m.predict(in);
  ASSERT_EQ(r.quality.band_names[3], "gain");
  for (size_t i = 0; i < r.fine.band_size(); ++i) {
    ASSERT_NEAR(r.quality.band(3)[i], s.gain.band(0)[i], 1e-3) << i;
    const double truth = s.off.band(0)[i] + s.gain.band(0)[i] * season(target);
    ASSERT_NEAR(r.fine.band(0)[i], truth, 5e-3) << i;
  }
  // A strong prior keeps the gain at 1: a pixel with gain 1.4 is then off by 0.4 (s_0 - s_ref).
  m.opts.gain_prior = 1e12;
  const FusionResult r1 = m.predict(in);
  EXPECT_NEAR(r1.quality.band(3)[0], 1.0, 1e-6);
}

TEST(Series, KnownResponseToCoarseSurprisesIsLearned) {
  // fine = off + g(x, y) s_k with g in 0.6..1.4 and the seasonal s_k curved, so interpolation
  // in time misses (g - 1) times the coarse image's own miss on every date: the response step
  // learns beta = g - 1 from the pairs' leave-one-out misses and the prediction is exact.
  SyntheticSeries s = make_series(21, 14, 12, 9, false);
  for (double& b : s.bias) b = 0.0;
  const Date target = s.dates[4];
  FusionInput in = series_input(s, target, 0.0);
  in.pairs.erase(in.pairs.begin() + 3, in.pairs.begin() + 6);  // a 64-day gap around the target
  SeriesMethod m;
  m.opts.denoise_radius = 0;
  m.opts.response_radius = 0;
  m.opts.response_sd = 10.0;  // nothing to shrink: the fit is exact (no residual variance)
  const FusionResult r = m.predict(in);
  ASSERT_EQ(r.quality.band_names[4], "response");
  double worst_without = 0.0;
  m.opts.response = false;
  const FusionResult r0 = m.predict(in);
  for (size_t i = 0; i < r.fine.band_size(); ++i) {
    ASSERT_NEAR(r.quality.band(4)[i], s.gain.band(0)[i] - 1.0, 1e-3) << i;
    const double truth = s.off.band(0)[i] + s.gain.band(0)[i] * season(target);
    ASSERT_NEAR(r.fine.band(0)[i], truth, 5e-3) << i;
    worst_without = std::max(worst_without, std::abs(r0.fine.band(0)[i] - truth));
    EXPECT_EQ(r0.quality.band(4)[i], 0.0f);
  }
  EXPECT_GT(worst_without, 0.3);  // the curvature of the season across the gap
}

TEST(Series, PixelClearOnOneDateFallsBackToThatDate) {
  const SyntheticSeries s = make_series(8, 6, 6, 2, true);
  const Date target = s.dates[2] + 4L;
  FusionInput in = series_input(s, target, 0.5);
  // Pixel (3, 2) is clear on date 4 only; pixel (5, 5) on no date.
  for (size_t k = 0; k < in.pairs.size(); ++k) {
    if (k != 4) in.pairs[k].fine.set_valid(0, 2, 3, false);
    in.pairs[k].fine.set_valid(0, 5, 5, false);
  }
  SeriesMethod m;
  m.opts.denoise_radius = 0;
  m.opts.response = false;  // its pooling would lend the pixel its neighbours' response
  const FusionResult r = m.predict(in);
  const size_t i = 2 * 8 + 3;
  ASSERT_TRUE(r.fine.valid(2, 3));
  // C_0 + D_4 = (M_0 - b_0) + L_4 - (M_4 - b_4).
  const double c0 = in.coarse.at(2, 3) - m.last_bias().target;
  const double d4 = in.pairs[4].fine.at(2, 3) - (in.pairs[4].coarse.at(2, 3) - m.last_bias().pair[4]);
  EXPECT_NEAR(r.fine.band(0)[i], c0 + d4, 1e-3);
  EXPECT_EQ(r.quality.at(0, 2, 3), 1.0f);                               // clear_dates
  EXPECT_EQ(r.quality.at(1, 2, 3), 0.0f);                               // nothing before
  EXPECT_EQ(r.quality.at(2, 2, 3), static_cast<float>(s.dates[4] - target));
  EXPECT_FALSE(r.fine.valid(5, 5));
  EXPECT_EQ(r.quality.at(0, 5, 5), 0.0f);
}

// Step 5's event weights by hand. A 2 x 2 scene, two pairs 8 days before and after the target,
// no bias, denoising or response, so that the prediction is C_0 + sum w_k D_k / sum w_k. The
// coarse image of the later date is 4 K warmer than the target's at pixel 0 only (a local event
// the target day no longer shows): the scene's mean change since it is -1 K, so a = -3 K there
// and +1 K at the other pixels; the earlier date's change is 0 everywhere (a = 0).
TEST(Series, EventWeightsByHand) {
  const Grid g = utm_grid(2, 2);
  const Date target(2020, 6, 20);
  Raster L1(g, 1, 301.0f), M1(g, 1, 300.0f), L2(g, 1, 302.0f), M2(g, 1, 300.0f);
  M2.band(0)[0] = 304.0f;
  L2.band(0)[0] = 306.0f;  // D_2 = 2 everywhere, D_1 = 1
  FusionInput in;
  in.date = target;
  in.pairs.push_back({target + (-8L), L1, M1});
  in.pairs.push_back({target + 8L, L2, M2});
  in.coarse = Raster(g, 1, 300.0f);
  SeriesMethod m;
  m.opts.coarse_bias = false;
  m.opts.denoise_radius = 0;
  m.opts.response = false;
  m.opts.event_scale = 1.0;
  const FusionResult r = m.predict(in);
  // Pixel 0: w_1 = 1/8, w_2 = 1/8 * 1/(1 + 3) -> 300 + (1 + 2/4) / (1 + 1/4) = 301.2.
  EXPECT_NEAR(r.fine.band(0)[0], 301.2, 1e-4);
  // The others: w_2 = 1/8 * 1/(1 + 1) -> 300 + (1 + 2/2) / (1 + 1/2) = 301.333.
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(r.fine.band(0)[i], 300.0 + 2.0 / 1.5, 1e-4) << i;
  // By days only both dates weigh the same: 301.5 everywhere.
  m.opts.event_scale = 0.0;
  const FusionResult d = m.predict(in);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(d.fine.band(0)[i], 301.5, 1e-4) << i;
}

TEST(Series, TileSizeAndThreadCountDoNotChangeTheResult) {
  // Textured, cloudy, with per-date coarse offsets: denoising and gain windows cross tiles.
  const Grid g = utm_grid(61, 47);
  FusionInput in;
  in.date = Date(2020, 6, 20);
  for (int k = 0; k < 6; ++k) {
    const Raster L = test::textured(g, 1, 290.0f + 2.0f * k, 20 + k);
    Raster M = test::block_mean(L, 10, 0.3f * (k % 3) - 0.4f);
    in.pairs.push_back({Date(2020, 5, 1) + 16L * k, L, M});
  }
  in.coarse = test::block_mean(test::textured(g, 1, 296.0f, 40), 10, 0.1f);
  for (int y = 10; y < 30; ++y)
    for (int x = 5 + y % 3; x < 40; ++x) in.pairs[(y / 5) % 6].fine.set_valid(0, y, x, false);
  for (const bool gain : {false, true}) {  // the response step (default) or the gain
  SeriesMethod ref_m;
  ref_m.opts.gain = gain;
  const FusionResult ref = predict_tiled(ref_m, in, {0, 1});
  for (const TilingOptions t : {TilingOptions{8, 1}, TilingOptions{16, 2}, TilingOptions{25, 2}}) {
    SeriesMethod m;
    m.opts.gain = gain;
    const FusionResult r = predict_tiled(m, in, t);
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x) {
        ASSERT_EQ(r.fine.valid(y, x), ref.fine.valid(y, x)) << t.tile;
        if (!ref.fine.valid(y, x)) continue;
        ASSERT_NEAR(r.fine.at(y, x), ref.fine.at(y, x), 1e-4) << "tile " << t.tile << " at " << x << "," << y;
        for (int q = 0; q < ref.quality.bands(); ++q) ASSERT_NEAR(r.quality.at(q, y, x), ref.quality.at(q, y, x), 1e-4);
      }
  }
  }
}

TEST(Series, BadOptionsAreNamed) {
  const SyntheticSeries s = make_series(8, 6, 4, 2, true);
  const FusionInput in = series_input(s, s.dates[1] + 3L, 0.0);
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{{"denoise-sigma", "0"},
                                                                                    {"event-scale", "-1"}}) {
    SeriesMethod m;
    m.options().set(name, value);
    try {
      m.predict(in);
      ADD_FAILURE() << name << " " << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--" + name), std::string::npos) << e.what();
    }
  }
}
