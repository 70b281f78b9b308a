#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/band_names.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/fuse_report.hpp"
#include "lstfuse/pipeline/ingest.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/sim/simulate.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_quality {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

constexpr float kOffset = 1.5f;  // K, the constant error of the test method

Grid grid70() {
  Grid g;
  g.width = 70;
  g.height = 70;
  g.transform = {300000.0, 30.0, 0.0, 6100000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

float field(int x, int y, int day) { return 290.0f + 0.02f * x + 0.01f * y + 0.1f * day; }

// Pairs every 16 days from day 0 to 64 (fine = coarse = a smooth field), coarse every 4 days.
// Truth on the coarse-only days: the field plus 0.75 K on even pixels and 3.75 K on odd ones,
// so that the test method's error against it is +0.75 K or -2.25 K (0.5 and 1.5 times 1.5 K).
Catalog make_catalog(const fs::path& dir) {
  fs::create_directories(dir);
  Catalog c(dir);
  c.set_grid(grid70());
  const Date start(2024, 1, 1);
  auto write = [&](const Date& d, Role role, const Raster& r) {
    const std::string path = to_string(role) + "_" + d.compact() + ".tif";
    io::write_raster((dir / path).string(), r);
    c.add({d, role, "test", path, "", 1.0, "K", path});
  };
  for (int day = 0; day <= 64; day += 4) {
    const Date d = start + day;
    Raster r(grid70(), 1);
    for (int y = 0; y < 70; ++y)
      for (int x = 0; x < 70; ++x) r.at(y, x) = field(x, y, day);
    write(d, Role::Coarse, r);
    if (day % 16 == 0) {
      write(d, Role::Fine, r);
    } else {
      for (int y = 0; y < 70; ++y)
        for (int x = 0; x < 70; ++x) r.at(y, x) += (x + y) % 2 ? 3.75f : 0.75f;
      write(d, Role::Truth, r);
    }
  }
  c.save();
  return c;
}

// A method whose every prediction is off by exactly kOffset: the target coarse image plus it.
class ConstantErrorMethod : public Method {
 public:
  ConstantErrorMethod() { info_ = {"constant-error", "test", "coarse + 1.5 K", 1, 2, false, false}; }
  const MethodInfo& info() const override { return info_; }
  OptionSet& options() override { return options_; }
  FusionResult predict(const FusionInput& in) override {
    validate(in);
    FusionResult r{in.coarse, {}};
    for (auto& v : r.fine.data()) v += kOffset;
    return r;
  }

 private:
  MethodInfo info_;
  OptionSet options_{"constant-error"};
};

}  // namespace

TEST(Quality, ConstantErrorMethodHasThatUncertainty) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  ConstantErrorMethod m;
  EXPECT_EQ(pipeline::loo_dates(cat, m.info()).size(), 5u);  // two-pair rules, one pair at the ends
  pipeline::PredictDate predict = [&](const Date& d, const std::vector<Date>& pairs) {
    pipeline::DatePrediction dp;
    dp.input = pipeline::load_input(cat, d, pairs);
    dp.result = m.predict(dp.input);
    return dp;
  };
  pipeline::UncertaintyOptions uo;
  uo.show_progress = false;
  const auto model = pipeline::learn_uncertainty(cat, m.info(), predict, uo);
  EXPECT_NEAR(model.noise_variance, 0.0, 1e-6);  // smooth fine images: no nugget
  EXPECT_EQ(model.dates.size(), 5u);
  // The error is the same on every pixel of every hidden date: all of it is the day part.
  EXPECT_EQ(model.days, 5);
  EXPECT_NEAR(model.day_variance, kOffset * kOffset, 1e-3 * kOffset * kOffset);
  EXPECT_EQ(model.nearby.dates.size(), 5u);
  // A coarse-only day: every pixel's sigma is the constant error.
  auto dp = predict(Date(2024, 1, 21), {Date(2024, 1, 17), Date(2024, 2, 2)});
  const auto q = pipeline::add_day_quality(dp.input, dp.result, &model, nullptr);
  const Raster sigma = pipeline::quality_band(dp.result.quality, pipeline::kUncertaintyBand);
  ASSERT_FALSE(sigma.empty());
  for (size_t k = 0; k < sigma.band_size(); k += 37) {
    ASSERT_TRUE(sigma.mask(0)[k]);
    EXPECT_NEAR(sigma.band(0)[k], kOffset, 0.01 * kOffset);
  }
  EXPECT_NEAR(q.mean_uncertainty, kOffset, 0.01 * kOffset);
  // Fused = coarse + 1.5 K: every block 1.5 K above the coarse image, no spread.
  EXPECT_NEAR(q.consistency.bias, kOffset, 1e-4);
  EXPECT_NEAR(q.consistency.ubrmse, 0.0, 1e-4);
  EXPECT_EQ(q.consistency.blocks, 9);  // 70 pixels = 33 + 33 + 4 per side
}

TEST(Quality, FuseWritesTheBandTheScoreAndChecksAgainstTruth) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  ConstantErrorMethod m;
  pipeline::FuseOptions o;
  o.out_dir = tmp / "fused";
  o.show_progress = false;
  o.format = "GTiff";
  const auto s = pipeline::fuse(cat, m, o);
  EXPECT_TRUE(s.uncertainty_note.empty()) << s.uncertainty_note;
  ASSERT_EQ(s.done, 12);
  EXPECT_TRUE(fs::exists(o.out_dir / pipeline::kUncertaintyModelFile));
  for (const auto& e : s.entries) {
    EXPECT_NEAR(e.consistency_bias, kOffset, 1e-4);
    EXPECT_NEAR(e.consistency_ubrmse, 0.0, 1e-4);
    EXPECT_NEAR(e.mean_uncertainty, kOffset, 0.01 * kOffset);
    const auto names = io::read_band_names((o.out_dir / e.quality).string());
    // The fill flags fuse always writes, then the uncertainty.
    ASSERT_EQ(names.size(), 3u);
    EXPECT_EQ(names[0], "reference_filled");
    EXPECT_EQ(names[1], "coarse_filled");
    EXPECT_EQ(names[2], "uncertainty");
  }
  std::ifstream csv(o.out_dir / "index.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find("consistency_ubrmse,consistency_bias,mean_uncertainty"), std::string::npos);

  // Errors against the truth: half the pixels 0.5 sigma, half 1.5 sigma.
  const auto c = pipeline::check_calibration(cat, o.out_dir);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->dates, 12);
  EXPECT_EQ(c->overall.pixels, 12 * 70 * 70);
  EXPECT_NEAR(c->overall.within1, 0.5, 1e-3);
  EXPECT_NEAR(c->overall.within2, 1.0, 1e-9);
  ASSERT_EQ(c->by_fill.size(), 1u);
  EXPECT_EQ(c->by_fill[0].name, "observed");
  EXPECT_TRUE(c->by_class.empty());
  EXPECT_NEAR(c->overall.rmse, std::sqrt(0.5 * (0.75 * 0.75 + 2.25 * 2.25)), 1e-3);

  // The report section: coverage, calibration plot, pixel series.
  const std::string html = pipeline::fuse_quality_html(cat, s, o.out_dir);
  EXPECT_NE(html.find("Calibration of the uncertainty"), std::string::npos);
  EXPECT_NE(html.find("fused +- 1 sigma"), std::string::npos);
  // Fused every 4th day here: each day's band is a bar (runs of consecutive days are polygons).
  EXPECT_NE(html.find("stroke='#9ecae1' stroke-width='4'"), std::string::npos);
}

TEST(Quality, TooFewPairDatesMeansNoBandAndANote) {
  test::TempDir tmp;
  Catalog cat = make_catalog(tmp / "cat");
  ConstantErrorMethod m;
  pipeline::UncertaintyOptions uo;
  uo.show_progress = false;
  uo.min_dates = 6;
  std::string note;
  int calls = 0;
  const auto model = pipeline::uncertainty_for_fuse(
      cat, m.info(), [&](const Date&, const std::vector<Date>&) { ++calls; return pipeline::DatePrediction{}; },
      tmp / "out", uo, note);
  EXPECT_FALSE(model.has_value());
  EXPECT_EQ(calls, 0);  // nothing predicted when the dates are too few
  EXPECT_NE(note.find("at least 6"), std::string::npos) << note;
}

TEST(Quality, RankAgreementOfHandMadeRows) {
  pipeline::BenchmarkResult r;
  r.entries = {{"a", "a", {}}, {"b", "b", {}}, {"c", "c", {}}};
  const Date d1(2024, 1, 1), d2(2024, 1, 17), d3(2024, 2, 2);
  r.dates = {d1, d2, d3};
  // Per date (score, truth RMSE) for a, b, c.
  const double v[3][3][2] = {{{0.5, 1.0}, {0.7, 2.0}, {0.9, 3.0}},   // same order: +1
                             {{0.5, 3.0}, {0.7, 2.0}, {0.9, 1.0}},   // reversed: -1
                             {{0.5, 1.0}, {0.9, 2.0}, {0.7, 3.0}}};  // ranks (1,3,2) vs (1,2,3): 0.5
  const Date dates[3] = {d1, d2, d3};
  const char* labels[3] = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) {
      pipeline::BenchmarkRow row;
      row.label = labels[k];
      row.date = dates[i];
      row.status = "ok";
      row.consistency.ubrmse = v[i][k][0];
      row.truth_rmse = v[i][k][1];
      r.rows.push_back(row);
    }
  const auto s = pipeline::rank_agreement(r);
  EXPECT_EQ(s.dates, 3);
  EXPECT_NEAR(s.over_methods, (1.0 - 1.0 + 0.5) / 3.0, 1e-12);
  // Method a: scores (.5,.5,.5) constant -> undefined; b: (.7,.7,.9) vs (2,2,2) undefined;
  // c: (.9,.9,.7) vs (3,1,3): ranks (2.5,2.5,1) vs (2.5,1,2.5) -> -0.5.
  EXPECT_TRUE(std::isnan(s.per_method[0].second));
  EXPECT_TRUE(std::isnan(s.per_method[1].second));
  EXPECT_NEAR(s.per_method[2].second, -0.5, 1e-12);
  EXPECT_NEAR(s.over_dates, -0.5, 1e-12);
}

TEST(Quality, IngestCarriesTheSimulatedLandCover) {
  test::TempDir tmp;
  sim::SimOptions so;
  so.size = 66;
  so.days = 20;
  so.encoding = "kelvin";
  const sim::Simulation sim(so);
  sim::write_simulation(sim, (tmp / "sim").string());
  pipeline::IngestOptions io_opts;
  const Catalog cat = pipeline::ingest({(tmp / "sim").string()}, (tmp / "cat").string(), io_opts);
  ASSERT_TRUE(cat.landcover().has_value());
  EXPECT_EQ(cat.landcover()->classes.at(1), "water");
  EXPECT_EQ(cat.landcover()->classes.size(), 10u);
  const auto lc = pipeline::catalog_landcover(Catalog::load(tmp / "cat"));
  ASSERT_TRUE(lc.has_value());
  const auto& truth = sim.landcover();
  ASSERT_EQ(truth.size(), lc->band_size());
  for (size_t k = 0; k < truth.size(); k += 7) {
    ASSERT_TRUE(lc->mask(0)[k]);
    EXPECT_EQ(static_cast<int>(lc->band(0)[k]), truth[k]);
  }
}

}  // namespace test_quality
