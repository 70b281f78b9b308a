#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_fuse {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

Grid small_grid() {
  Grid g;
  g.width = 8;
  g.height = 6;
  g.transform = {300000.0, 30.0, 0.0, 6100000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// A catalog with pairs on days 0 and 16 and 32, coarse every 4 days; coarse value = 290 + day.
// The fine images after day 0 are recorded with `later_fine_valid` of their pixels valid.
Catalog make_catalog(const fs::path& dir, double later_fine_valid = 1.0) {
  fs::create_directories(dir);
  Catalog c(dir);
  c.set_grid(small_grid());
  const Date start(2024, 1, 1);
  for (int day = 0; day <= 32; day += 4) {
    const Date d = start + day;
    Raster coarse(small_grid(), 1, 290.0f + day);
    const std::string cpath = "coarse_" + d.compact() + ".tif";
    io::write_raster((dir / cpath).string(), coarse);
    c.add({d, Role::Coarse, "test", cpath, "", 1.0, "K", cpath});
    if (day % 16 == 0) {
      Raster fine(small_grid(), 1, 300.0f + day);
      const std::string fpath = "fine_" + d.compact() + ".tif";
      io::write_raster((dir / fpath).string(), fine);
      c.add({d, Role::Fine, "test", fpath, "", day == 0 ? 1.0 : later_fine_valid, "K", fpath});
    }
  }
  c.save();
  return c;
}

// A trainable stand-in: "training" stores the mean fine-minus-coarse offset of its pairs;
// prediction adds it to the target coarse image. Counts fit() calls.
class OffsetMethod : public Method {
 public:
  OffsetMethod() { info_ = {"offset", "test", "coarse + learnt offset", 1, 2, false, true}; }
  const MethodInfo& info() const override { return info_; }
  OptionSet& options() override { return options_; }
  void need_pairs_both_sides() {
    info_.min_pairs = 2;
    info_.needs_pairs_both_sides = true;
  }
  void fit(const std::vector<ImagePair>& pairs, const FitContext&) override {
    ++fits;
    double s = 0;
    for (const auto& p : pairs) s += p.fine.at(0, 0) - p.coarse.at(0, 0);
    offset_ = s / pairs.size();
    fitted_ = true;
  }
  bool fitted() const override { return fitted_; }
  void save(const fs::path& path) const override { std::ofstream(path) << offset_; }
  void load(const fs::path& path) override {
    std::ifstream(path) >> offset_;
    fitted_ = true;
  }
  FusionResult predict(const FusionInput& in) override {
    validate(in);
    FusionResult r{in.coarse, Raster(in.coarse.grid(), 1, 1.0f)};
    for (auto& v : r.fine.data()) v += static_cast<float>(offset_);
    r.quality.band_names = {"ok"};
    return r;
  }
  int fits = 0;

 private:
  MethodInfo info_;
  OptionSet options_{"offset"};
  double offset_ = 0;
  bool fitted_ = false;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST(Fuse, PredictsEveryCoarseOnlyDateAndTrainsOncePerInterval) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  OffsetMethod m;
  pipeline::FuseOptions o;
  o.out_dir = tmp / "out";
  o.show_progress = false;
  const auto s = pipeline::fuse(cat, m, o);
  EXPECT_EQ(s.done, 6);  // days 4, 8, 12, 20, 24, 28
  EXPECT_EQ(m.fits, 2);  // intervals [0,16] and [16,32]
  // Day 4 uses pairs 0 and 16: offset = ((300-290) + (316-306)) / 2 = 10 -> 294 + 10.
  const Raster r = io::read_raster((tmp / "out" / "lst_offset_20240105.tif").string());
  EXPECT_FLOAT_EQ(r.at(3, 4), 304.0f);
  EXPECT_TRUE(fs::exists(tmp / "out" / "lst_offset_20240105_quality.tif"));
  EXPECT_TRUE(fs::exists(tmp / "out" / "models" / "offset_2024-01-01_2024-01-17.lstmodel"));
  std::ifstream idx(tmp / "out" / "index.json");
  const auto j = nlohmann::json::parse(idx);
  ASSERT_EQ(j["entries"].size(), 6u);
  EXPECT_EQ(j["entries"][0]["pairs"][1], "2024-01-17");
}

TEST(Fuse, ResumesAfterInterruptionWithIdenticalFiles) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o;
  o.out_dir = tmp / "out";
  o.show_progress = false;
  {
    OffsetMethod m;
    pipeline::fuse(cat, m, o);
  }
  const auto kept = slurp(tmp / "out" / "lst_offset_20240105.tif");
  const auto redo = slurp(tmp / "out" / "lst_offset_20240125.tif");
  // An interruption: the last dates never got written and their model is gone.
  fs::remove(tmp / "out" / "lst_offset_20240125.tif");
  fs::remove(tmp / "out" / "lst_offset_20240129.tif");
  fs::remove(tmp / "out" / "models" / "offset_2024-01-17_2024-02-02.lstmodel");
  OffsetMethod m2;
  const auto s = pipeline::fuse(cat, m2, o);
  EXPECT_EQ(s.skipped, 4);
  EXPECT_EQ(s.done, 2);
  EXPECT_EQ(m2.fits, 1);  // only the interval whose model was lost
  EXPECT_EQ(slurp(tmp / "out" / "lst_offset_20240105.tif"), kept);
  EXPECT_EQ(slurp(tmp / "out" / "lst_offset_20240125.tif"), redo);
}

TEST(Fuse, SeriesModeTrainsOnceAndRangeIsRespected) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  OffsetMethod m;
  pipeline::FuseOptions o;
  o.out_dir = tmp / "out";
  o.show_progress = false;
  o.series = true;
  o.from = Date(2024, 1, 8);
  o.to = Date(2024, 1, 25);
  const auto s = pipeline::fuse(cat, m, o);
  EXPECT_EQ(s.done, 4);  // days 8, 12, 20, 24
  EXPECT_EQ(m.fits, 1);
  EXPECT_FALSE(fs::exists(tmp / "out" / "lst_offset_20240105.tif"));
}

TEST(Fuse, EmptyRangeAndForeignIndexAreErrors) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  OffsetMethod m;
  pipeline::FuseOptions o;
  o.out_dir = tmp / "out";
  o.show_progress = false;
  o.from = Date(2025, 1, 1);
  EXPECT_THROW(pipeline::fuse(cat, m, o), Error);
  o.from.reset();
  fs::create_directories(o.out_dir);
  std::ofstream(o.out_dir / "index.json") << R"({"method":"estarfm","entries":[]})";
  EXPECT_THROW(pipeline::fuse(cat, m, o), Error);
}

// A catalog with one usable pair cannot serve a method that needs two: fuse says so once,
// naming the catalog, before it writes anything (not one failure per date).
TEST(Fuse, TooFewUsablePairsIsOneErrorBeforeAnythingIsWritten) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat", 0.1);  // days 16 and 32: 10 % valid, set aside
  OffsetMethod two;
  two.need_pairs_both_sides();
  pipeline::FuseOptions o;
  o.out_dir = tmp / "out";
  o.show_progress = false;
  o.uncertainty = false;
  try {
    pipeline::fuse(cat, two, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((tmp / "cat").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("needs at least 2 usable pair date(s)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the catalog has 1 (2 pair date(s) set aside"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(o.out_dir));
  // One pair is enough for a one-pair method: every coarse-only date is predicted.
  OffsetMethod one;
  const auto s = pipeline::fuse(cat, one, o);
  EXPECT_EQ(s.done, 6);
  EXPECT_EQ(s.failed, 0);
}

}  // namespace test_fuse

namespace test_fuse {

// The pairs fuse keeps from one date to the next: each input equals the one load_input reads;
// a pair is read from its file once for a run of dates that uses it; a write to one input (the
// bias step shifts the coarse pairs) does not reach the next; pairs no longer used are dropped.
TEST(PairCache, InputsAreThoseReadFromTheFilesAndEachPairIsReadOnce) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  const Date d0(2024, 1, 1), d16 = d0 + 16, d32 = d0 + 32;
  pipeline::PairCache cache(cat);
  auto same = [&](const FusionInput& got, const Date& target, const std::vector<Date>& pairs) {
    const FusionInput want = pipeline::load_input(cat, target, pairs);
    ASSERT_EQ(got.pairs.size(), want.pairs.size());
    EXPECT_EQ(got.coarse.data(), want.coarse.data());
    for (size_t k = 0; k < want.pairs.size(); ++k) {
      EXPECT_EQ(got.pairs[k].date, want.pairs[k].date);
      EXPECT_EQ(got.pairs[k].fine.data(), want.pairs[k].fine.data());
      EXPECT_EQ(got.pairs[k].fine.mask_data(), want.pairs[k].fine.mask_data());
      EXPECT_EQ(got.pairs[k].coarse.data(), want.pairs[k].coarse.data());
      EXPECT_DOUBLE_EQ(got.pairs[k].fine.grid().transform[0], want.pairs[k].fine.grid().transform[0]);
    }
  };
  FusionInput a = cache.load_input(d0 + 4, {d16, d0});
  same(a, d0 + 4, {d0, d16});
  EXPECT_EQ(cache.reads(), 2);
  for (float& v : a.pairs[0].coarse.data()) v -= 100.0f;  // as the bias step writes
  const FusionInput b = cache.load_input(d0 + 8, {d0, d16});
  same(b, d0 + 8, {d0, d16});
  EXPECT_EQ(cache.reads(), 2);  // nothing read again
  EXPECT_FLOAT_EQ(b.pairs[0].coarse.band(0)[0], 290.0f);
  EXPECT_FLOAT_EQ(a.pairs[0].coarse.band(0)[0], 190.0f);
  const FusionInput c = cache.load_input(d0 + 20, {d16, d32});
  same(c, d0 + 20, {d16, d32});
  EXPECT_EQ(cache.reads(), 3);  // day 32 only
  const FusionInput d = cache.load_input(d0 + 12, {d0, d16});
  same(d, d0 + 12, {d0, d16});
  EXPECT_EQ(cache.reads(), 4);  // day 0 was dropped with the run that no longer used it
}

}  // namespace test_fuse
