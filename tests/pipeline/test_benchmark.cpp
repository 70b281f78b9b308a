#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/pipeline/benchmark.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/ingest.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/report.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_benchmark {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

// RMSE over pixels valid in both, computed directly.
double rmse(const Raster& a, const Raster& b) {
  double s = 0;
  long n = 0;
  for (size_t i = 0; i < a.band_size(); ++i) {
    if (!a.mask(0)[i] || !b.mask(0)[i]) continue;
    const double d = static_cast<double>(a.band(0)[i]) - b.band(0)[i];
    s += d * d;
    ++n;
  }
  return std::sqrt(s / n);
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const Catalog& yanco_catalog() {
  static const test::TempDir dir;
  static const pipeline::IngestOptions defaults;
  static Catalog cat = pipeline::ingest({test::shared_data("yanco").string()},
                                        (dir.path() / "cat").string(), defaults);
  return cat;
}

}  // namespace

TEST(Benchmark, MethodListExpandsFamiliesAndValidatesVariants) {
  const auto all = pipeline::parse_method_list("baseline,estarfm:half-window=10:classes=3");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].method, "bilinear");
  EXPECT_EQ(all[1].method, "additive");
  EXPECT_EQ(all[2].label, "estarfm:half-window=10:classes=3");
  ASSERT_EQ(all[2].options.size(), 2u);
  EXPECT_EQ(all[2].options[1].second, "3");
  EXPECT_THROW(pipeline::parse_method_list("estarfm:half-widow=10"), Error);
  EXPECT_THROW(pipeline::parse_method_list("nosuch"), Error);
  EXPECT_THROW(pipeline::parse_method_list("additive,additive"), Error);
  // One option twice in an entry kept the last value.
  EXPECT_THROW(pipeline::parse_method_list("starfm:window=5:window=7"), Error);
  EXPECT_THROW(pipeline::parse_method_list("estarfm:half_window=5:half-window=7"), Error);
}

// Yanco has two pairs: the single-pair protocol predicts each from the other. Bilinear and
// additive have closed forms, so their scores are checked against direct computations.
TEST(Benchmark, SinglePairOnYancoMatchesDirectComputation) {
  const Catalog& cat = yanco_catalog();
  test::TempDir out;
  pipeline::BenchmarkOptions o;
  o.entries = pipeline::parse_method_list("bilinear,additive");
  o.single_pair = true;
  o.out_dir = out.path();
  o.show_progress = false;
  const auto res = pipeline::run_benchmark(cat, o);
  ASSERT_EQ(res.dates.size(), 2u);
  ASSERT_EQ(res.rows.size(), 4u);

  const Date d1(2016, 2, 5), d2(2016, 3, 8);
  const Raster L1 = io::load_observation(cat, *cat.find(d1, Role::Fine));
  const Raster M1 = io::load_observation(cat, *cat.find(d1, Role::Coarse));
  const Raster L2 = io::load_observation(cat, *cat.find(d2, Role::Fine));
  const Raster M2 = io::load_observation(cat, *cat.find(d2, Role::Coarse));
  Raster additive = L1;  // L1 + (M2 - M1), valid where all three are
  for (size_t i = 0; i < additive.band_size(); ++i) {
    additive.band(0)[i] = L1.band(0)[i] + (M2.band(0)[i] - M1.band(0)[i]);
    additive.mask(0)[i] = L1.mask(0)[i] && M1.mask(0)[i] && M2.mask(0)[i];
  }
  for (const auto& row : res.rows) {
    ASSERT_EQ(row.status, "ok") << row.note;
    if (row.date != d2) continue;
    ASSERT_EQ(row.pairs.size(), 1u);
    EXPECT_EQ(row.pairs[0], d1);
    const double expected = row.label == "bilinear" ? rmse(M2, L2) : rmse(additive, L2);
    EXPECT_NEAR(row.metrics.overall.rmse, expected, 1e-4) << row.label;
  }
  // The real sensor bias of 2016-03-08 (Landsat ~4.5 K above MODIS) dominates both.
  for (const auto& row : res.rows) {
    if (row.date == d2) {
      EXPECT_NEAR(row.metrics.overall.bias, -4.5, 0.2) << row.label;
    }
  }

  pipeline::write_benchmark_tables(res, out.path());
  const auto csv = lines_of(out / "results.csv");
  ASSERT_EQ(csv.size(), 5u);
  EXPECT_EQ(csv[0].rfind("method,date,rmse,ssim,", 0), 0u);
  EXPECT_NE(csv[0].find(",seconds,"), std::string::npos);
  EXPECT_EQ(csv[1].rfind("bilinear,2016-02-05,", 0), 0u);
  const auto report = pipeline::write_html_report(res, out.path());
  std::ifstream in(report);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(html.find("<svg"), std::string::npos);
  // Every map the report shows exists beside it.
  const std::regex img("<img src='([^']+)'");
  int n = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), img); it != std::sregex_iterator(); ++it, ++n)
    EXPECT_TRUE(fs::exists(out.path() / (*it)[1].str())) << (*it)[1];
  EXPECT_GE(n, 3);  // reference + one map per method
}

TEST(Benchmark, LooNeedsPairsOnBothSidesAndTwoPairMethodsRefuseSinglePair) {
  const Catalog& cat = yanco_catalog();
  test::TempDir out;
  pipeline::BenchmarkOptions o;
  o.entries = pipeline::parse_method_list("additive");
  o.out_dir = out.path();
  o.show_progress = false;
  EXPECT_THROW(pipeline::run_benchmark(cat, o), Error);  // two pairs: no date has both sides
  o.single_pair = true;
  o.entries = pipeline::parse_method_list("estarfm");
  EXPECT_THROW(pipeline::run_benchmark(cat, o), Error);
  o.entries = pipeline::parse_method_list("additive");
  o.shared_args = {"epochs", "3"};  // no benchmarked method has it
  EXPECT_THROW(pipeline::run_benchmark(cat, o), Error);
}

// Deep methods train on what `lstfuse train --series --exclude` would take: every pair date
// not predicted (loo) or before the test part (split), cloudy ones included, since the patch
// filter keeps their clear patches. Only the predicted dates must be usable pairs.
TEST(Benchmark, TrainingTakesEveryPairDateCloudyOnesToo) {
  test::TempDir dir;
  const auto sim = dir / "sim", cat_dir = dir / "cat";
  const auto r1 = test::run_cli("simulate -o " + sim.string() +
                                " --size 64 --days 100 --seed 4 --modis-cloud-cover 0.1");
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  const auto r2 = test::run_cli("ingest " + sim.string() + " -o " + cat_dir.string());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  const Catalog cat = Catalog::load(cat_dir);
  const auto pairs = cat.pair_dates();
  auto cloudy = [&](const Date& d) { return !pipeline::usable_pair(cat, d); };
  ASSERT_GE(std::count_if(pairs.begin(), pairs.end(), cloudy), 1) << "the fixture needs a cloudy pair";

  pipeline::BenchmarkOptions o;
  o.entries = pipeline::parse_method_list("additive");
  o.show_progress = false;
  o.training = "series";
  o.out_dir = dir / "loo";
  auto res = pipeline::run_benchmark(cat, o);
  ASSERT_FALSE(res.dates.empty());
  std::vector<Date> expected;
  for (const Date& d : pairs)
    if (std::find(res.dates.begin(), res.dates.end(), d) == res.dates.end()) expected.push_back(d);
  EXPECT_EQ(res.train_dates, expected);
  for (const Date& d : res.dates) EXPECT_TRUE(pipeline::usable_pair(cat, d)) << d.iso();

  o.protocol = "split";
  o.train_fraction = 0.75;
  o.out_dir = dir / "split";
  res = pipeline::run_benchmark(cat, o);
  ASSERT_FALSE(res.dates.empty());
  expected.clear();
  for (const Date& d : pairs)
    if (d < res.dates.front()) expected.push_back(d);
  ASSERT_TRUE(std::any_of(expected.begin(), expected.end(), cloudy))
      << "the fixture needs a cloudy pair in the training part";
  EXPECT_EQ(res.train_dates, expected);
}

TEST(Report, ChartsAreWellFormedSvg) {
  const std::string s = pipeline::svg_line_chart({"a", "b", "c"}, {{"m<1>", {1.0, NAN, 3.0}}}, "RMSE");
  EXPECT_EQ(s.rfind("<svg", 0), 0u);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
  EXPECT_NE(s.find("m&lt;1&gt;"), std::string::npos);  // escaped
  EXPECT_EQ(s.find("m<1>"), std::string::npos);
  // Two points drawn, the NaN skipped.
  size_t circles = 0;
  for (size_t p = s.find("<circle"); p != std::string::npos; p = s.find("<circle", p + 1)) ++circles;
  EXPECT_EQ(circles, 2u);
}

namespace {

// A series method that records what reaches it: the dates of the pairs it is handed, and the
// fine image values of the target date (which must never be among them).
struct SpyMethod : public Method {
  static std::vector<std::pair<Date, std::vector<Date>>>& calls() {
    static std::vector<std::pair<Date, std::vector<Date>>> c;
    return c;
  }
  const MethodInfo& info() const override {
    static const MethodInfo mi = [] {
      MethodInfo m{"spy-series", "classic", "records its inputs", 1, -1, false, false};
      m.uses_series = true;
      return m;
    }();
    return mi;
  }
  OptionSet& options() override { return set_; }
  FusionResult predict(const FusionInput& in) override {
    std::vector<Date> d;
    for (const auto& p : in.pairs) d.push_back(p.date);
    calls().emplace_back(in.date, d);
    FusionResult r;
    r.fine = in.coarse;
    r.quality = Raster(in.coarse.grid(), 1, 0.0f, true);
    r.quality.band_names = {"none"};
    return r;
  }
  OptionSet set_{"spy-series"};
};

// A small simulated catalog in `dir`, with the spy registered and its record cleared.
Catalog spy_catalog(const test::TempDir& dir) {
  const auto sim = dir / "sim", cat_dir = dir / "cat";
  if (test::run_cli("simulate -o " + sim.string() + " --size 48 --days 120 --seed 6").exit_code != 0 ||
      test::run_cli("ingest " + sim.string() + " -o " + cat_dir.string()).exit_code != 0)
    throw Error("spy_catalog: simulate or ingest failed");
  if (!method_registry().has("spy-series"))
    method_registry().add("spy-series", [] { return std::make_unique<SpyMethod>(); });
  SpyMethod::calls().clear();
  return Catalog::load(cat_dir);
}

}  // namespace

TEST(Benchmark, SeriesMethodsGetEveryPairButNeverThePredictedDate) {
  test::TempDir dir;
  const Catalog cat = spy_catalog(dir);
  pipeline::BenchmarkOptions o;
  o.entries = pipeline::parse_method_list("spy-series,series");
  o.show_progress = false;
  o.out_dir = dir / "loo";
  const auto res = pipeline::run_benchmark(cat, o);
  ASSERT_GE(res.dates.size(), 1u);
  ASSERT_EQ(SpyMethod::calls().size(), res.dates.size());
  std::vector<Date> with_clear;
  for (const Date& d : cat.pair_dates())
    if (pipeline::usable_pair(cat, d, 1e-9)) with_clear.push_back(d);
  for (const auto& [target, pairs] : SpyMethod::calls()) {
    EXPECT_EQ(std::count(pairs.begin(), pairs.end(), target), 0) << target.iso();
    std::vector<Date> expected;
    for (const Date& d : with_clear)
      if (d != target) expected.push_back(d);
    EXPECT_EQ(pairs, expected) << target.iso();  // every other pair with a clear pixel
  }
  for (const auto& row : res.rows) EXPECT_EQ(row.status, "ok") << row.label << " " << row.note;
}

namespace {

// The spy alone on `n` coarse-only dates besides the protocol's, into dir/out.
pipeline::BenchmarkOptions spy_with_coarse_only(const test::TempDir& dir, int n, const char* out) {
  pipeline::BenchmarkOptions o;
  o.entries = pipeline::parse_method_list("spy-series");
  o.show_progress = false;
  o.coarse_only = n;
  o.out_dir = dir / out;
  return o;
}

}  // namespace

TEST(Benchmark, CoarseOnlyDatesGetEveryPairAndAreScoredAgainstTheTruth) {
  test::TempDir dir;
  const Catalog cat = spy_catalog(dir);
  pipeline::BenchmarkOptions o = spy_with_coarse_only(dir, 3, "b");
  const auto res = pipeline::run_benchmark(cat, o);
  ASSERT_EQ(res.coarse_only_dates.size(), 3u);
  ASSERT_EQ(res.coarse_only_rows.size(), 3u);
  std::vector<Date> with_clear;
  for (const Date& d : cat.pair_dates())
    if (pipeline::usable_pair(cat, d, 1e-9)) with_clear.push_back(d);
  for (const Date& d : res.coarse_only_dates) {
    EXPECT_FALSE(cat.find(d, Role::Fine)) << d.iso();
    ASSERT_TRUE(cat.find(d, Role::Truth)) << d.iso();
    EXPECT_GE(cat.find(d, Role::Coarse)->valid_fraction, 0.5) << d.iso();
    // Every pair reached the method for a coarse-only date.
    bool seen = false;
    for (const auto& [target, pairs] : SpyMethod::calls())
      if (target == d) {
        seen = true;
        EXPECT_EQ(pairs, with_clear) << d.iso();
      }
    EXPECT_TRUE(seen) << d.iso();
  }
  // The spy predicts the coarse image itself: its score is the coarse image against the truth,
  // computed here by hand over the pixels valid in both.
  for (const auto& row : res.coarse_only_rows) {
    ASSERT_EQ(row.status, "ok") << row.note;
    const Raster m = io::load_observation(cat, *cat.find(row.date, Role::Coarse));
    const Raster t = io::load_observation(cat, *cat.find(row.date, Role::Truth));
    double s = 0;
    long n = 0;
    for (size_t i = 0; i < t.band_size(); ++i) {
      if (!t.mask(0)[i] || !m.mask(0)[i]) continue;
      const double e = static_cast<double>(m.band(0)[i]) - t.band(0)[i];
      s += e * e;
      ++n;
    }
    ASSERT_GT(n, 0);
    EXPECT_NEAR(row.metrics.overall.rmse, std::sqrt(s / n), 1e-4) << row.date.iso();
    EXPECT_EQ(row.metrics.overall.valid_pixels, n);
  }
  // Their own table, apart from the protocol's.
  pipeline::write_benchmark_tables(res, dir / "b");
  EXPECT_TRUE(fs::exists(dir / "b" / "results_coarse_only.csv"));
  std::ifstream md(dir / "b" / "summary.md");
  const std::string summary((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(summary.find("## Coarse-only: RMSE (K) per date"), std::string::npos);
  for (const auto& row : res.rows) EXPECT_EQ(std::count(res.coarse_only_dates.begin(), res.coarse_only_dates.end(), row.date), 0);
  // By default (observed fine reference), no coarse-only dates.
  o.coarse_only = -1;
  o.out_dir = dir / "c";
  EXPECT_TRUE(pipeline::run_benchmark(cat, o).coarse_only_dates.empty());
}

// A day only the coarse sensor saw is what users fuse: its maps (truth, prediction, error) are
// drawn like a held-out date's when --map-dates names it.
TEST(Benchmark, ACoarseOnlyDateGetsItsMaps) {
  test::TempDir dir;
  const Catalog cat = spy_catalog(dir);
  pipeline::BenchmarkOptions o = spy_with_coarse_only(dir, 2, "first");
  const auto first = pipeline::run_benchmark(cat, o);
  ASSERT_EQ(first.coarse_only_dates.size(), 2u);
  const Date day = first.coarse_only_dates[1];
  o.map_dates = {day};
  o.out_dir = dir / "maps";
  const auto res = pipeline::run_benchmark(cat, o);
  for (const std::string& key : {"reference|" + day.iso(), "spy-series|" + day.iso(), "spy-series|" + day.iso() + "|error"}) {
    ASSERT_TRUE(res.maps.count(key)) << key;
    EXPECT_TRUE(fs::exists(o.out_dir / res.maps.at(key))) << res.maps.at(key);
  }
  EXPECT_EQ(res.maps.at("reference|" + day.iso()), "maps/reference_" + day.compact() + ".png");
  EXPECT_EQ(res.maps.size(), 3u);  // that date alone
  // A date neither held out nor coarse-only is refused, naming the coarse-only ones.
  o.map_dates = {Date::parse("2030-01-01")};
  o.out_dir = dir / "bad";
  try {
    pipeline::run_benchmark(cat, o);
    ADD_FAILURE() << "a date outside the benchmark was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("coarse-only: " + first.coarse_only_dates[0].iso() + "," + day.iso()),
              std::string::npos)
        << e.what();
  }
}

}  // namespace test_benchmark
