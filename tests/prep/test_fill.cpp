#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "lstfuse/core/error.hpp"
#include "lstfuse/prep/fill.hpp"

using namespace lstfuse;

namespace {

constexpr double kOmega = 2.0 * M_PI / 365.25;

Grid grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {300000.0, 30.0, 0.0, 6100000.0, 0.0, -30.0};
  return g;
}

// A synthetic series: per-pixel cycle m(p) + A cos + B sin, a scene-wide daily anomaly, Gaussian
// noise and random clouds. Everything is kept so that tests can compare with the truth.
struct Series {
  Grid g;
  std::vector<Date> dates;
  std::vector<Raster> images;
  double noise = 0.5;
  static double mean_of(int x, int y) { return 290.0 + 0.2 * x + 0.1 * y; }
  static double cycle_of(int x, int y, const Date& d) {
    const double a = kOmega * d.days();
    return mean_of(x, y) + 10.0 * std::cos(a) + (3.0 + 0.02 * x) * std::sin(a);
  }
  static double anomaly(const Date& d) { return 2.0 * std::sin(d.days() / 9.0); }

  Series(int w, int h, double cloud, double noise_sd, double anomaly_scale, unsigned seed)
      : g(grid(w, h)), noise(noise_sd) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> n01(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const Date start(2024, 1, 1);
    for (int k = 0; k < 366; ++k) {
      const Date d = start + k;
      Raster r(g, 1, NAN, false);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          if (u(rng) < cloud) continue;
          r.at(y, x) = static_cast<float>(cycle_of(x, y, d) + anomaly_scale * anomaly(d) + noise * n01(rng));
          r.set_valid(0, y, x, true);
        }
      dates.push_back(d);
      images.push_back(std::move(r));
    }
  }
  prep::FillSource source() const {
    prep::FillSource s;
    s.grid = g;
    s.dates = dates;
    s.read_window = [this](size_t i, int x0, int y0, int w, int h) { return images[i].crop(x0, y0, w, h); };
    return s;
  }
};

prep::FillOptions options(int cell, int tile) {
  prep::FillOptions o;
  o.cell = cell;
  o.tile = tile;
  o.min_clear_days = 30;
  return o;
}

}  // namespace

TEST(GapFill, RecoversAKnownAnnualCycleFromNoisyCloudyDays) {
  // 30 % cloud, 0.5 K noise, no anomaly: each pixel has about 256 clear days, so the fitted mean
  // and harmonics have standard errors of about 0.5 / sqrt(256 / 2) = 0.044 K; 0.2 K is > 4 sigma.
  const Series s(24, 16, 0.3, 0.5, 0.0, 3);
  const prep::GapFiller f(s.source(), options(8, 64));
  double worst = 0.0;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) {
      ASSERT_EQ(f.cycle_source(x, y), 1);
      for (const Date& d : {Date(2024, 1, 15), Date(2024, 4, 20), Date(2024, 7, 1), Date(2024, 10, 30)})
        worst = std::max(worst, std::abs(f.cycle(x, y, d) - Series::cycle_of(x, y, d)));
    }
  EXPECT_LT(worst, 0.2);
}

TEST(GapFill, ObservedPixelsAreUntouchedAndGapsAreFlaggedAndClose) {
  // A scene-wide daily anomaly of up to 2 K: the filled value must follow it (cycle + residual),
  // within the noise.
  const Series s(32, 32, 0.4, 0.3, 1.0, 5);
  const prep::GapFiller f(s.source(), options(8, 256));
  double se = 0.0;
  long n = 0;
  for (size_t i = 40; i < 60; ++i) {
    const Raster& obs = s.images[i];
    const prep::FilledDay day = f.fill(s.dates[i], &obs);
    EXPECT_EQ(day.residual, prep::ResidualKind::Spatial);
    EXPECT_EQ(day.filled.band_names, std::vector<std::string>{"coarse_filled"});
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        ASSERT_TRUE(day.lst.valid(y, x));
        if (obs.valid(y, x)) {
          ASSERT_EQ(day.lst.at(y, x), obs.at(y, x));  // bit for bit
          ASSERT_EQ(day.filled.at(y, x), 0.0f);
        } else {
          ASSERT_EQ(day.filled.at(y, x), 1.0f);
          const double truth = Series::cycle_of(x, y, s.dates[i]) + Series::anomaly(s.dates[i]);
          se += (day.lst.at(y, x) - truth) * (day.lst.at(y, x) - truth);
          ++n;
        }
      }
  }
  ASSERT_GT(n, 1000);
  // Without the residual the error would be the anomaly itself (RMS about 1.4 K); with it, what
  // remains is the fitted cycle's error (noise and a little anomaly absorbed in the fit).
  EXPECT_LT(std::sqrt(se / n), 0.2);
}

TEST(GapFill, DaysWithoutAnImageTakeTheResidualInterpolatedInTime) {
  Series s(16, 16, 0.2, 0.0, 1.0, 7);
  // Remove days 100..102 (index) from the series, and days 200..229 (beyond any window).
  std::vector<Date> dates;
  std::vector<Raster> images;
  for (size_t i = 0; i < s.dates.size(); ++i) {
    if ((i >= 100 && i <= 102) || (i >= 200 && i < 230)) continue;
    dates.push_back(s.dates[i]);
    images.push_back(s.images[i]);
  }
  s.dates = dates;
  s.images = images;
  prep::FillOptions o = options(8, 256);
  o.window = 8;
  const prep::GapFiller f(s.source(), o);
  const Date gap = Date(2024, 1, 1) + 101;
  EXPECT_EQ(f.residual_kind(gap), prep::ResidualKind::Temporal);
  const prep::FilledDay day = f.fill(gap, nullptr);
  EXPECT_DOUBLE_EQ(day.filled_fraction, 1.0);
  // The anomaly that day is about -1.95 K; linear interpolation over 4 days misses it by < 0.05 K,
  // and each pixel's fitted cycle absorbs a little of the anomaly (about 0.1 K).
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      EXPECT_NEAR(day.lst.at(y, x), Series::cycle_of(x, y, gap) + Series::anomaly(gap), 0.25);
  // 15 days from the nearest image: no residual within the 8-day window, not filled.
  const Date far = Date(2024, 1, 1) + 215;
  EXPECT_FALSE(f.can_fill(far));
  EXPECT_EQ(f.fill(far, nullptr).lst.valid_count(0), 0);
}

TEST(GapFill, DaysFilledWholeAreCheckedAtTheirGapsOnTheDaysWithClearPixels) {
  // No cloud, no noise, a scene-wide anomaly: every pixel's residual on a day is the same, r(d)
  // = observed - fitted cycle, and so is every cell of the day's field. Days 100 and 101 are not
  // in the series and day 200 is clouded whole: the days filled whole have the gaps (1, 2),
  // (2, 1) and (1, 1) (days back to a field, days ahead). For each gap, every day k with a field
  // whose days k - before and k + after have one too is filled again from those two, and misses
  // by their interpolation of r less its own.
  Series s(16, 16, 0.0, 0.0, 1.0, 5);
  std::vector<Date> dates;
  std::vector<Raster> images;
  for (size_t i = 0; i < s.dates.size(); ++i) {
    if (i == 100 || i == 101) continue;
    dates.push_back(s.dates[i]);
    images.push_back(i == 200 ? Raster(s.g, 1, NAN, false) : s.images[i]);
  }
  s.dates = dates;
  s.images = images;
  const prep::GapFiller f(s.source(), options(8, 256));
  const Date start(2024, 1, 1);
  const auto r = [&](int k) {
    const Date d = start + k;
    return Series::cycle_of(3, 5, d) + Series::anomaly(d) - f.cycle(3, 5, d);
  };
  const auto has_field = [](int k) { return k >= 0 && k <= 365 && k != 100 && k != 101 && k != 200; };
  double mse = 0.0;
  size_t expected_checks = 0;
  for (const auto& gap : {std::pair{1, 2}, std::pair{2, 1}, std::pair{1, 1}}) {
    const int before = gap.first, after = gap.second;
    const double w = static_cast<double>(before) / (before + after);
    double sq = 0.0;
    int n = 0;
    for (int k = 0; k <= 365; ++k) {
      if (!has_field(k) || !has_field(k - before) || !has_field(k + after)) continue;
      const double e = (1 - w) * r(k - before) + w * r(k + after) - r(k);
      sq += e * e;
      ++n;
      const auto& checks = f.whole_day_checks();
      const auto it = std::find_if(checks.begin(), checks.end(), [&](const auto& c) {
        return c.date == start + k && c.before == before && c.after == after;
      });
      ASSERT_NE(it, checks.end()) << k << " " << before << " " << after;
      EXPECT_NEAR(it->error, e, 2e-4) << k << " " << before << " " << after;
      EXPECT_EQ(it->clear, 256);
    }
    mse += sq / n / 3.0;  // each gap is one day's
    expected_checks += static_cast<size_t>(n);
  }
  EXPECT_EQ(f.whole_days_checked(), 3);
  EXPECT_EQ(f.whole_day_checks().size(), expected_checks);
  // The anomaly's curvature over a day: about 2 / 81 K, so the check is far from trivial zeros.
  EXPECT_GT(mse, 1e-5);
  EXPECT_NEAR(f.whole_day_mean_square_error(), mse, 1e-6);

  // A series without such a day: each day against its nearest fields (one side at the ends).
  const Series full(16, 16, 0.0, 0.0, 1.0, 5);
  const prep::GapFiller g(full.source(), options(8, 256));
  const auto rg = [&](int k) {
    const Date d = start + k;
    return Series::cycle_of(3, 5, d) + Series::anomaly(d) - g.cycle(3, 5, d);
  };
  EXPECT_EQ(g.whole_days_checked(), 0);
  ASSERT_EQ(g.whole_day_checks().size(), 366u);
  double sq = 0.0;
  for (const auto& c : g.whole_day_checks()) {
    const int k = static_cast<int>(c.date.days() - start.days());
    const double e = k == 0 ? rg(1) - rg(0) : k == 365 ? rg(364) - rg(365) : 0.5 * (rg(k - 1) + rg(k + 1)) - rg(k);
    EXPECT_NEAR(c.error, e, 2e-4) << k;
    sq += e * e;
  }
  EXPECT_NEAR(g.whole_day_mean_square_error(), sq / 366.0, 1e-6);
}

TEST(GapFill, TiledAndWholeSceneFillingAgreeBitForBit) {
  Series s(40, 28, 0.35, 0.4, 1.0, 11);
  // A few pixels with too few clear days exercise the pooled cycles.
  for (size_t i = 0; i < s.images.size(); ++i)
    if (i % 20 != 0) {
      s.images[i].set_valid(0, 3, 5, false);
      s.images[i].set_valid(0, 20, 33, false);
    }
  const prep::GapFiller whole(s.source(), options(8, 4096));
  const prep::GapFiller tiled(s.source(), options(8, 10));  // rounded up to 16
  EXPECT_EQ(whole.cycle_source(5, 3), 2);
  for (size_t i : {0u, 33u, 180u, 365u}) {
    const auto a = whole.fill(s.dates[i], &s.images[i]);
    const auto b = tiled.fill(s.dates[i], &s.images[i]);
    ASSERT_EQ(a.lst.data().size(), b.lst.data().size());
    for (size_t p = 0; p < a.lst.data().size(); ++p) {
      ASSERT_EQ(a.lst.mask_data()[p], b.lst.mask_data()[p]);
      if (a.lst.mask_data()[p]) {
        ASSERT_EQ(a.lst.data()[p], b.lst.data()[p]) << "pixel " << p;
      }
    }
  }
}

TEST(GapFill, PixelsWithFewClearDaysTakeThePooledCycleShiftedToTheirLevel) {
  Series s(16, 16, 0.2, 0.3, 0.0, 13);
  // Pixel (6, 4) is clear on 12 days only, all in the first quarter.
  for (size_t i = 0; i < s.images.size(); ++i)
    if (i >= 90 || i % 7 != 0) s.images[i].set_valid(0, 4, 6, false);
  const prep::GapFiller f(s.source(), options(8, 256));
  EXPECT_EQ(f.cycle_source(6, 4), 2);
  // The pooled cycle has the cell's harmonics (which differ from this pixel's by 0.02 K per
  // column in the sine term) and the pixel's own level.
  for (const Date& d : {Date(2024, 2, 1), Date(2024, 8, 1)})
    EXPECT_NEAR(f.cycle(6, 4, d), Series::cycle_of(6, 4, d), 0.4);
}

TEST(GapFill, NoPixelWithEnoughClearDaysIsAnErrorNamingTheOption) {
  // Every pixel clear on 20 days: none has a cycle of its own, so no day gets a residual field
  // and nothing could be filled (the copy looked filled, with 0 % of its pixels filled).
  Series s(16, 16, 0.0, 0.3, 0.0, 3);
  for (size_t i = 20; i < s.images.size(); ++i) s.images[i] = Raster(s.g, 1, NAN, false);
  try {
    const prep::GapFiller f(s.source(), options(8, 256));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gap filling: no pixel is clear on --fill-min-clear-days (30) days (the most any pixel "
                           "has is 20), so no day can be filled; lower --fill-min-clear-days or fill a longer series");
  }
  // Enough clear days, all in three weeks of January: they do not determine an annual cycle.
  prep::FillOptions o = options(8, 256);
  o.min_clear_days = 20;
  try {
    const prep::GapFiller f(s.source(), o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gap filling: no pixel's annual temperature cycle can be fitted from its clear days (the "
                           "series spans 2024-01-01 .. 2024-12-31), so no day can be filled; fill a longer series");
  }
  // The same number of clear days spread over the year: each pixel has its cycle.
  Series spread(16, 16, 0.0, 0.3, 0.0, 3);
  for (size_t i = 0; i < spread.images.size(); ++i)
    if (i % 18 != 0) spread.images[i] = Raster(spread.g, 1, NAN, false);
  const prep::GapFiller f(spread.source(), o);
  EXPECT_EQ(f.cycle_source(5, 5), 1);
}

TEST(GapFill, RejectsBadOptions) {
  const Series s(8, 8, 0.0, 0.0, 0.0, 1);
  prep::FillOptions o = options(8, 64);
  o.harmonics = 3;
  EXPECT_THROW(prep::GapFiller(s.source(), o), Error);
  o = options(0, 64);
  EXPECT_THROW(prep::GapFiller(s.source(), o), Error);
}

TEST(GapFill, AKernelWiderThanTheSceneIsTheSceneMean) {
  // Kernels of 1e3 and 1e6 cells both cover the 4 x 4 cells of the scene with weights 1 to within
  // 1e-5: the filled values agree, and the wider one neither overflows nor runs out of memory.
  const Series s(32, 32, 0.4, 0.3, 1.0, 5);
  prep::FillOptions a = options(8, 256), b = a;
  a.sigma_cells = 1e3;
  b.sigma_cells = 1e6;
  const prep::GapFiller fa(s.source(), a), fb(s.source(), b);
  const prep::FilledDay da = fa.fill(s.dates[50], &s.images[50]), db = fb.fill(s.dates[50], &s.images[50]);
  for (size_t k = 0; k < da.lst.band_size(); ++k) {
    ASSERT_EQ(da.lst.mask(0)[k], db.lst.mask(0)[k]) << k;
    if (da.lst.mask(0)[k]) {
      EXPECT_NEAR(da.lst.band(0)[k], db.lst.band(0)[k], 1e-3) << k;
    }
  }
  for (double bad : {0.0, -1.0, 2e6, std::numeric_limits<double>::infinity(), std::nan("")}) {
    prep::FillOptions o = a;
    o.sigma_cells = bad;
    EXPECT_THROW(o.validate(), Error) << bad;
  }
}

TEST(GapFill, ACellLargerThanTheSceneIsRefused) {
  // 33 x 33 pixels of cell on a 32 x 32 scene: no cell can hold the clear pixels a residual field
  // needs (at least a cell's worth), so nothing would ever be filled.
  const Series s(32, 32, 0.4, 0.3, 1.0, 5);
  try {
    const prep::GapFiller f(s.source(), options(33, 256));
    ADD_FAILURE() << "a cell larger than the scene accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--fill-cell 33"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(prep::GapFiller(s.source(), options(32, 256)));
}

TEST(GapFill, AValueBeyondPlausibleLstStaysAGap) {
  // The series shifted by +85 K: in late March its cycle crosses the 380 K that every later read
  // of a catalog image refuses (378-383 K over the scene). A gap beyond it stays a gap (not
  // flagged filled); the gaps below it are filled; observed pixels are copied whatever they hold.
  Series s(16, 16, 0.4, 0.3, 0.0, 11);
  for (auto& img : s.images)
    for (size_t i = 0; i < img.band_size(); ++i)
      if (img.mask(0)[i]) img.band(0)[i] += 85.0f;
  const prep::GapFiller f(s.source(), options(8, 256));
  long kept_gap = 0, filled = 0;
  for (size_t i = 85; i < 96; ++i) {
    const Raster& obs = s.images[i];
    const prep::FilledDay day = f.fill(s.dates[i], &obs);
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) {
        if (obs.valid(y, x)) {
          ASSERT_EQ(day.lst.at(y, x), obs.at(y, x));
          continue;
        }
        const double truth = Series::cycle_of(x, y, s.dates[i]) + 85.0;
        if (day.lst.valid(y, x)) {
          ++filled;
          EXPECT_LE(day.lst.at(y, x), 380.0f);
          EXPECT_EQ(day.filled.at(y, x), 1.0f);
          EXPECT_LT(truth, 381.0) << x << " " << y;
        } else {
          ++kept_gap;
          EXPECT_EQ(day.filled.at(y, x), 0.0f);
          EXPECT_GT(truth, 379.0) << x << " " << y;
        }
      }
  }
  EXPECT_GT(kept_gap, 50);
  EXPECT_GT(filled, 50);
}
