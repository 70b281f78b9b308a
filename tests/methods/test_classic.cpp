#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/methods/baseline/baselines.hpp"
#include "lstfuse/methods/classic/estarfm.hpp"
#include "lstfuse/methods/classic/starfm.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/streamed.hpp"
#include "method_fixtures.hpp"
#include "test_support.hpp"

using namespace lstfuse;
using test::utm_grid;

namespace {

std::unique_ptr<Method> small_window(const std::string& name) {
  auto m = method_registry().create(name);
  if (name == "starfm") m->options().set("window", "11");
  if (name == "estarfm") m->options().set("half-window", "6");
  return m;
}

// Uniform pairs (fine a_k, coarse b_k) and a target coarse image that changed uniformly.
FusionInput uniform_input(int w, int h) {
  const Grid g = utm_grid(w, h);
  FusionInput in;
  in.pairs.push_back({Date(2020, 1, 1), Raster(g, 1, 300.0f), Raster(g, 1, 298.0f)});
  in.pairs.push_back({Date(2020, 1, 21), Raster(g, 1, 305.0f), Raster(g, 1, 303.0f)});
  in.coarse = Raster(g, 1, 310.0f);  // +12 K since pair 1, +7 K since pair 2
  in.date = Date(2020, 1, 11);
  return in;
}

double rmse_vs(const Raster& a, const Raster& b, long* count = nullptr) {
  double s = 0;
  long n = 0;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < a.width(); ++x)
      if (a.valid(y, x) && b.valid(y, x)) {
        s += (a.at(y, x) - b.at(y, x)) * (a.at(y, x) - b.at(y, x));
        ++n;
      }
  if (count) *count = n;
  return std::sqrt(s / n);
}

}  // namespace

TEST(Classic, RegistryHasBaselinesAndClassics) {
  auto& reg = method_registry();
  for (const char* n : {"bilinear", "additive", "starfm", "estarfm"}) EXPECT_TRUE(reg.has(n)) << n;
  EXPECT_EQ(reg.create("estarfm")->options().get("half-window"), "25");
  EXPECT_EQ(reg.create("estarfm")->options().get("dn-min"), "250");
  EXPECT_EQ(reg.create("starfm")->options().get("window"), "31");
}

TEST(Classic, UniformSceneUniformChangeGivesFinePlusChange) {
  const FusionInput in2 = uniform_input(40, 30);
  FusionInput in1 = in2;
  in1.pairs.pop_back();
  for (const char* name : {"starfm", "additive"}) {
    const FusionResult r = small_window(name)->predict(in1);
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x) {
        ASSERT_TRUE(r.fine.valid(y, x)) << name;
        ASSERT_EQ(r.fine.at(y, x), 312.0f) << name << " at " << x << "," << y;
      }
  }
  for (const char* name : {"estarfm", "starfm", "additive"}) {
    const FusionResult r = small_window(name)->predict(in2);
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x) {
        ASSERT_TRUE(r.fine.valid(y, x)) << name;
        ASSERT_NEAR(r.fine.at(y, x), 312.0f, 1e-4) << name << " at " << x << "," << y;
      }
  }
  // Bilinear is the target coarse image itself.
  const FusionResult b = method_registry().create("bilinear")->predict(in2);
  EXPECT_EQ(b.fine.at(3, 4), 310.0f);
}

TEST(Classic, AdditiveWeightsPairsByInverseTimeDistance) {
  FusionInput in = uniform_input(4, 3);
  // pair 1: 300 + (310 - 298) = 312; pair 2 with coarse 300 instead: 305 + 10 = 315.
  in.pairs[1].coarse = Raster(in.coarse.grid(), 1, 300.0f);
  const FusionResult r = AdditiveMethod().predict(in);
  // |dt| = 10 and 10 days: equal weights.
  EXPECT_NEAR(r.fine.at(1, 1), 313.5f, 1e-4);
  in.date = Date(2020, 1, 16);  // |dt| 15 and 5: weights 1/15 and 1/5 -> 0.25, 0.75
  EXPECT_NEAR(AdditiveMethod().predict(in).fine.at(1, 1), 0.25 * 312 + 0.75 * 315, 1e-4);
  // A pixel cloudy in pair 2 uses pair 1 alone.
  in.pairs[1].fine.set_valid(0, 2, 2, false);
  const FusionResult r2 = AdditiveMethod().predict(in);
  EXPECT_NEAR(r2.fine.at(2, 2), 312.0f, 1e-4);
  EXPECT_EQ(r2.quality.at(2, 2), 1.0f);
  EXPECT_EQ(r2.quality.at(1, 1), 2.0f);
}

TEST(Classic, TwoClassSceneWithClassSpecificChangeIsRecovered) {
  // Stripes of two classes (295 K and 310 K), 20 pixels wide, aligned with 10-pixel coarse
  // blocks. Class A warms by 6 K, class B by 1 K.
  const Grid g = utm_grid(60, 60);
  Raster L1(g, 1), L2(g, 1), truth(g, 1);
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 60; ++x) {
      const bool a = (x / 20) % 2 == 0;
      L1.at(y, x) = a ? 295.0f : 310.0f;
      L2.at(y, x) = a ? 297.0f : 311.0f;
      truth.at(y, x) = a ? 303.0f : 312.0f;
    }
  FusionInput in;
  in.pairs.push_back({Date(2020, 5, 1), L1, test::block_mean(L1, 10)});
  in.pairs.push_back({Date(2020, 5, 17), L2, test::block_mean(L2, 10)});
  in.coarse = test::block_mean(truth, 10);
  in.date = Date(2020, 5, 9);
  for (const char* name : {"starfm", "estarfm"}) {
    const FusionResult r = small_window(name)->predict(in);
    for (int y = 0; y < 60; ++y)
      for (int x = 0; x < 60; ++x) {
        ASSERT_TRUE(r.fine.valid(y, x));
        ASSERT_NEAR(r.fine.at(y, x), truth.at(y, x), 1e-3) << name << " at " << x << "," << y;
      }
  }
  // Stripes 15 pixels wide: some coarse blocks mix the classes. Similar-pixel selection keeps
  // the classes apart better than the coarse change alone.
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 60; ++x) {
      const bool a = (x / 15) % 2 == 0;
      in.pairs[0].fine.at(y, x) = a ? 295.0f : 310.0f;
      in.pairs[1].fine.at(y, x) = a ? 297.0f : 311.0f;
      truth.at(y, x) = a ? 303.0f : 312.0f;
    }
  in.pairs[0].coarse = test::block_mean(in.pairs[0].fine, 10);
  in.pairs[1].coarse = test::block_mean(in.pairs[1].fine, 10);
  in.coarse = test::block_mean(truth, 10);
  const double e_add = rmse_vs(AdditiveMethod().predict(in).fine, truth);
  const double e_star = rmse_vs(small_window("starfm")->predict(in).fine, truth);
  const double e_est = rmse_vs(small_window("estarfm")->predict(in).fine, truth);
  EXPECT_GT(e_add, 0.5);
  EXPECT_LT(e_star, e_add);
  EXPECT_LT(e_est, e_add);
}

TEST(Classic, MaskedCandidatesHaveNoEffect) {
  const Grid g = utm_grid(50, 40);
  FusionInput in;
  const Raster L1 = test::textured(g, 1, 295.0f, 1), L2 = test::textured(g, 1, 300.0f, 2);
  const Raster T = test::textured(g, 1, 303.0f, 3);
  in.pairs.push_back({Date(2020, 5, 1), L1, test::block_mean(L1, 10, -1.0f)});
  in.pairs.push_back({Date(2020, 5, 17), L2, test::block_mean(L2, 10, -1.0f)});
  in.coarse = test::block_mean(T, 10, -0.5f);
  in.date = Date(2020, 5, 9);
  // Mask scattered pixels of every image (clouds), keeping their plausible values...
  auto mask_some = [](FusionInput& f, unsigned salt) {
    std::vector<Raster*> rs = {&f.pairs[0].fine, &f.pairs[0].coarse, &f.pairs[1].fine,
                               &f.pairs[1].coarse, &f.coarse};
    for (size_t k = 0; k < rs.size(); ++k)
      for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 50; ++x)
          if ((x * 7 + y * 13 + k * 5 + salt) % 11 == 0) rs[k]->set_valid(0, y, x, false);
  };
  mask_some(in, 0);
  FusionInput absurd = in;
  // ...then put absurd values under the masks of a copy: NaN, infinities, 1e30, -3.4e38.
  const float junk[] = {NAN, INFINITY, -INFINITY, 1e30f, -3.4e38f, 0.0f};
  std::vector<Raster*> rs = {&absurd.pairs[0].fine, &absurd.pairs[0].coarse, &absurd.pairs[1].fine,
                             &absurd.pairs[1].coarse, &absurd.coarse};
  int j = 0;
  for (Raster* r : rs)
    for (int y = 0; y < 40; ++y)
      for (int x = 0; x < 50; ++x)
        if (!r->valid(y, x)) r->at(y, x) = junk[j++ % 6];
  for (const char* name : {"starfm", "estarfm", "additive", "bilinear"}) {
    FusionInput in1 = in, ab1 = absurd;
    if (std::string(name) == "starfm" || std::string(name) == "additive") {
      // also the single-pair form
      in1.pairs.pop_back();
      ab1.pairs.pop_back();
    }
    for (const auto* pair : {&in, &in1}) {
      const FusionInput& clean = *pair;
      const FusionInput& dirty = pair == &in ? absurd : ab1;
      const FusionResult a = small_window(name)->predict(clean);
      const FusionResult b = small_window(name)->predict(dirty);
      long predicted = 0;
      for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 50; ++x) {
          ASSERT_EQ(a.fine.valid(y, x), b.fine.valid(y, x)) << name;
          if (!a.fine.valid(y, x)) continue;
          ++predicted;
          ASSERT_TRUE(std::isfinite(b.fine.at(y, x))) << name;
          ASSERT_EQ(a.fine.at(y, x), b.fine.at(y, x)) << name << " at " << x << "," << y;
          ASSERT_GT(b.fine.at(y, x), 280.0f);
          ASSERT_LT(b.fine.at(y, x), 330.0f);
        }
      EXPECT_GT(predicted, 1000) << name;
    }
  }
  // Where the target coarse image is masked, no single-pixel method can predict; ESTARFM's
  // centre only needs the fine images, so it still predicts there.
  const FusionResult s = small_window("additive")->predict(absurd);
  const FusionResult e = small_window("estarfm")->predict(absurd);
  int masked_target = 0;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 50; ++x)
      if (!absurd.coarse.valid(y, x)) {
        ++masked_target;
        EXPECT_FALSE(s.fine.valid(y, x));
        if (absurd.pairs[0].fine.valid(y, x) && absurd.pairs[1].fine.valid(y, x)) {
          EXPECT_TRUE(e.fine.valid(y, x));
        }
      }
  EXPECT_GT(masked_target, 50);
}

TEST(Classic, TileSizeAndThreadCountDoNotChangeTheResult) {
  const Grid g = utm_grid(97, 83);
  FusionInput in;
  const Raster L1 = test::textured(g, 1, 295.0f, 11), L2 = test::textured(g, 1, 299.0f, 12);
  const Raster T = test::textured(g, 1, 304.0f, 13);
  in.pairs.push_back({Date(2020, 5, 1), L1, test::block_mean(L1, 10, -0.7f)});
  in.pairs.push_back({Date(2020, 5, 17), L2, test::block_mean(L2, 10, 0.4f)});
  in.coarse = test::block_mean(T, 10, 0.2f);
  in.date = Date(2020, 5, 9);
  for (int y = 30; y < 40; ++y)
    for (int x = 50; x < 70; ++x) in.pairs[0].fine.set_valid(0, y, x, false);  // a cloud
  for (const char* name : {"starfm", "estarfm", "additive"}) {
    auto m = small_window(name);
    const FusionResult ref = predict_tiled(*m, in, {0, 1});
    for (const TilingOptions t : {TilingOptions{16, 1}, TilingOptions{32, 2}, TilingOptions{50, 2},
                                  TilingOptions{0, 2}}) {
      const FusionResult r = predict_tiled(*small_window(name), in, t);
      ASSERT_EQ(r.quality.band_names, ref.quality.band_names);
      for (int y = 0; y < g.height; ++y)
        for (int x = 0; x < g.width; ++x) {
          ASSERT_EQ(r.fine.valid(y, x), ref.fine.valid(y, x)) << name << " tile " << t.tile;
          if (!ref.fine.valid(y, x)) continue;
          ASSERT_EQ(r.fine.at(y, x), ref.fine.at(y, x)) << name << " tile " << t.tile << " threads "
                                                          << t.threads << " at " << x << "," << y;
          for (int q = 0; q < ref.quality.bands(); ++q) ASSERT_EQ(r.quality.at(q, y, x), ref.quality.at(q, y, x));
        }
    }
  }
}

TEST(Classic, StreamedPredictionEqualsInMemory) {
  test::TempDir tmp;
  const Grid g = utm_grid(90, 70);
  FusionInput in;
  const Raster L1 = test::textured(g, 1, 295.0f, 21), L2 = test::textured(g, 1, 299.0f, 22);
  in.pairs.push_back({Date(2020, 5, 1), L1, test::block_mean(L1, 10, -0.7f)});
  in.pairs.push_back({Date(2020, 5, 17), L2, test::block_mean(L2, 10, 0.4f)});
  in.coarse = test::block_mean(test::textured(g, 1, 304.0f, 23), 10);
  in.date = Date(2020, 5, 9);
  StreamInput s;
  s.date = in.date;
  s.coarse = (tmp / "m0.tif").string();
  io::write_raster(s.coarse, in.coarse);
  for (int k = 0; k < 2; ++k) {
    StreamPair p{in.pairs[k].date, (tmp / fmt::format("l{}.tif", k)).string(), (tmp / fmt::format("m{}.tif", k + 1)).string()};
    io::write_raster(p.fine, in.pairs[k].fine);
    io::write_raster(p.coarse, in.pairs[k].coarse);
    s.pairs.push_back(p);
  }
  // The streamed statistics equal the in-memory ones exactly (strips of 16 rows here).
  const SceneStats a = compute_scene_stats(in), b = streamed_scene_stats(s, 16);
  EXPECT_EQ(a.fine[1][0].stddev, b.fine[1][0].stddev);
  EXPECT_EQ(a.target[0].mean, b.target[0].mean);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(a.coarse_bias[k][0].bias, b.coarse_bias[k][0].bias) << k;
    ASSERT_TRUE(std::isfinite(a.coarse_change[k][0])) << k;
    EXPECT_EQ(a.coarse_change[k][0], b.coarse_change[k][0]) << k;
    // By definition: the mean of the target's coarse image less the pair's, both valid.
    double sum = 0.0;
    int n = 0;
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x)
        if (in.coarse.valid(y, x) && in.pairs[k].coarse.valid(y, x)) {
          sum += static_cast<double>(in.coarse.at(y, x)) - in.pairs[k].coarse.at(y, x);
          ++n;
        }
    ASSERT_GT(n, 0);
    EXPECT_NEAR(a.coarse_change[k][0], sum / n, 1e-9) << k;
  }
  for (const char* name : {"estarfm", "starfm"}) {
    const FusionResult ref = predict_tiled(*small_window(name), in, {0, 2});
    const std::string out = (tmp / (std::string(name) + ".tif")).string();
    const std::string q = (tmp / (std::string(name) + "_q.tif")).string();
    predict_streamed(*small_window(name), s, {out, q, {}}, {32, 2});
    const Raster r = io::read_raster(out), rq = io::read_raster(q);
    ASSERT_EQ(rq.bands(), ref.quality.bands());
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x) {
        ASSERT_EQ(r.valid(y, x), ref.fine.valid(y, x));
        if (ref.fine.valid(y, x)) {
          ASSERT_EQ(r.at(y, x), ref.fine.at(y, x)) << name;
        }
        ASSERT_EQ(rq.at(0, y, x), ref.quality.at(0, y, x));
      }
  }
}

TEST(Classic, MultiBandInputsWork) {
  const Grid g = utm_grid(40, 40);
  FusionInput in;
  Raster L1 = test::textured(g, 3, 295.0f, 31);
  Raster L2 = L1;
  for (float& v : L2.data()) v += 2.0f;
  Raster T = L1;
  for (float& v : T.data()) v += 5.0f;  // uniform change of +5 since pair 1, +3 since pair 2
  in.pairs.push_back({Date(2020, 5, 1), L1, test::block_mean(L1, 10)});
  in.pairs.push_back({Date(2020, 5, 17), L2, test::block_mean(L2, 10)});
  in.coarse = test::block_mean(T, 10);
  in.date = Date(2020, 5, 9);
  for (const char* name : {"starfm", "estarfm", "additive"}) {
    const FusionResult r = small_window(name)->predict(in);
    ASSERT_EQ(r.fine.bands(), 3);
    // Every band's prediction is close to the truth (the change is uniform).
    for (int b = 0; b < 3; ++b) {
      double err = 0;
      for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 40; ++x) err = std::max(err, (double)std::fabs(r.fine.at(b, y, x) - T.at(b, y, x)));
      EXPECT_LT(err, std::string(name) == "additive" ? 1e-3 : 2.5) << name << " band " << b;
    }
  }
}

TEST(Classic, BadInputsAreClearErrors) {
  FusionInput in = uniform_input(10, 10);
  in.coarse = Raster(in.coarse.grid(), 1, 0.0f, false);  // all cloud
  try {
    EstarfmMethod().predict(in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no valid pixel"), std::string::npos) << e.what();
  }
  FusionInput one = uniform_input(10, 10);
  one.pairs.pop_back();
  EXPECT_THROW(EstarfmMethod().predict(one), Error);  // needs two pairs
  StarfmMethod s;
  EXPECT_THROW(s.options().set("window", "10"), Error);  // even window: refused when given
  // --search-distance over pixels of 1e-12 m: the half window overflowed int and wrapped to a
  // 3 x 3 window (exit 0); it is refused as larger than the image.
  FusionInput tiny = uniform_input(10, 10);
  Grid g = tiny.coarse.grid();
  g.transform[1] = 1e-12;
  g.transform[5] = -1e-12;
  for (Raster* r : {&tiny.coarse, &tiny.pairs[0].fine, &tiny.pairs[0].coarse, &tiny.pairs[1].fine, &tiny.pairs[1].coarse})
    *r = Raster(g, 1, r->band(0)[0]);
  StarfmMethod far;
  far.options().set("search-distance", "1000");
  EXPECT_GE(far.half_window(g), 1 << 28);
  try {
    far.predict(tiny);
    FAIL() << "a 1000 m search over 1e-12 m pixels was run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the whole image"), std::string::npos) << e.what();
  }
}

TEST(Classic, EstarfmConversionCoefficientAndLstVariants) {
  // Fine = 300 + 1.5 (coarse - 300) on both pair dates (coarse mean changes by 10 K >= 0.02 *
  // dn_max): the regression finds V = 1.5 and the prediction is exact on the target date.
  const Grid g = utm_grid(40, 40);
  Raster u = test::textured(g, 1, 0.0f, 41);
  auto make = [&](float base_m, float base_l, float slope) {
    Raster m(g, 1), l(g, 1);
    for (int y = 0; y < 40; ++y)
      for (int x = 0; x < 40; ++x) {
        m.at(y, x) = base_m + u.at(y, x);
        l.at(y, x) = base_l + slope * u.at(y, x);
      }
    return std::make_pair(l, m);
  };
  const auto [l1, m1] = make(300, 300, 1.5f);
  const auto [l2, m2] = make(310, 315, 1.5f);
  const auto [truth, m0] = make(305, 307.5f, 1.5f);
  FusionInput in;
  in.pairs.push_back({Date(2020, 5, 1), l1, m1});
  in.pairs.push_back({Date(2020, 5, 17), l2, m2});
  in.coarse = m0;
  in.date = Date(2020, 5, 9);
  auto m = small_window("estarfm");
  const FusionResult r = m->predict(in);
  EXPECT_NEAR(r.quality.at(2, 20, 20), 1.5f, 1e-3);  // band "v"
  EXPECT_EQ(r.quality.band_names[2], "v");
  double worst = 0, worst_fixed = 0;
  auto fixed = small_window("estarfm");
  fixed->options().set("fixed-v", "true");
  const FusionResult rf = fixed->predict(in);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 40; ++x) {
      worst = std::max(worst, (double)std::fabs(r.fine.at(y, x) - truth.at(y, x)));
      worst_fixed = std::max(worst_fixed, (double)std::fabs(rf.fine.at(y, x) - truth.at(y, x)));
    }
  EXPECT_LT(worst, 1e-2);
  // With V = 1 the two pairs' errors cancel here (inverse-distance temporal weights of two
  // linear extrapolations), so only the coefficient itself tells the variants apart.
  EXPECT_LT(worst_fixed, 1e-2);
  EXPECT_EQ(rf.quality.at(2, 20, 20), 1.0f);

  // Zero bias: the fine images are shifted onto the coarse level, so a uniform scene predicts
  // the target coarse value itself (310 K) instead of fine + change (312 K).
  auto zb = small_window("estarfm");
  zb->options().set("zero-bias", "true");
  const FusionResult rz = zb->predict(uniform_input(30, 30));
  EXPECT_NEAR(rz.fine.at(15, 15), 310.0f, 1e-4);
  // Without the 2/classes factor the threshold is wider: more similar pixels on texture.
  FusionInput tex = in;
  auto wide = small_window("estarfm");
  wide->options().set("std-threshold-without-factor", "true");
  EXPECT_GT(wide->predict(tex).quality.at(0, 20, 20), r.quality.at(0, 20, 20));
}
