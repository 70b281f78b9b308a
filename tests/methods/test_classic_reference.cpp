// STARFM and ESTARFM of the library (padded planes, vectorised window sums, one pass per row)
// against literal implementations written here straight from the equations (Gao et al. 2006;
// Zhu et al. 2010 with the 2018 revision of the author's code; docs/methods.md): for every
// pixel, plain double loops over its window, every quantity computed where the equation
// defines it. Slow, and deliberately so. Scenes: textured, with clouds in every image.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "lstfuse/methods/classic/distributions.hpp"
#include "lstfuse/methods/classic/estarfm.hpp"
#include "lstfuse/methods/classic/starfm.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "method_fixtures.hpp"

using namespace lstfuse;
using test::utm_grid;

namespace {

constexpr double kTolK = 1e-4;  // the fast code must match the literal one within this (K)

// Clouds: a few discs invalid in every band, different for each image.
void add_clouds(Raster& r, unsigned seed, int discs) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> ux(0, r.width() - 1), uy(0, r.height() - 1), ur(1, 5);
  for (int k = 0; k < discs; ++k) {
    const int cx = ux(rng), cy = uy(rng), rad = ur(rng);
    for (int y = std::max(0, cy - rad); y <= std::min(r.height() - 1, cy + rad); ++y)
      for (int x = std::max(0, cx - rad); x <= std::min(r.width() - 1, cx + rad); ++x)
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= rad * rad)
          for (int b = 0; b < r.bands(); ++b) r.set_valid(b, y, x, false);
  }
}

// Two pairs and a target, textured fine images whose change differs in space (so the coarse
// change is not the fine one), coarse images as block means with a sensor offset; clouds in all.
FusionInput cloudy_scene(int w, int h, int bands, unsigned seed) {
  const Grid g = utm_grid(w, h);
  FusionInput in;
  Raster l1 = test::textured(g, bands, 288.0f, seed);
  Raster l2 = test::textured(g, bands, 303.0f, seed + 1);
  Raster t = test::textured(g, bands, 296.0f, seed + 2);
  Raster m1 = test::block_mean(l1, 8, -0.7f), m2 = test::block_mean(l2, 8, 0.4f);
  Raster m0 = test::block_mean(t, 8, 0.2f);
  add_clouds(l1, seed + 10, 6);
  add_clouds(m1, seed + 11, 2);
  add_clouds(l2, seed + 12, 6);
  add_clouds(m2, seed + 13, 2);
  add_clouds(m0, seed + 14, 3);
  in.pairs.push_back({Date(2020, 5, 1), l1, m1});
  in.pairs.push_back({Date(2020, 5, 25), l2, m2});
  in.coarse = m0;
  in.date = Date(2020, 5, 9);
  return in;
}

// Sample standard deviation (n - 1) of the valid pixels of a band, two-pass.
double sample_std(const Raster& r, int b) {
  double s = 0;
  long n = 0;
  for (int y = 0; y < r.height(); ++y)
    for (int x = 0; x < r.width(); ++x)
      if (r.valid(b, y, x)) s += r.at(b, y, x), ++n;
  const double mean = s / n;
  double ss = 0;
  for (int y = 0; y < r.height(); ++y)
    for (int x = 0; x < r.width(); ++x)
      if (r.valid(b, y, x)) ss += (r.at(b, y, x) - mean) * (r.at(b, y, x) - mean);
  return std::sqrt(ss / (n - 1));
}

bool valid_all_bands(const Raster& r, int y, int x) {
  for (int b = 0; b < r.bands(); ++b)
    if (!r.valid(b, y, x)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// STARFM, Gao et al. 2006, for every band b and fine pixel (x, y) with window half size h:
//   threshold per pair: sigma(L_k) * 2 / classes; candidates j in the window similar to the
//   centre, |L_k(j) - L_k(c)| <= threshold, valid in L_k, M_k, M_0;
//   S = |L_k - M_k| (Eq. 6), T = |M_k - M_0| (Eq. 7), D = 1 + d / A with A = h;
//   filter: keep j unless S_j > S_c + sigma_lm and T_j > T_c + sigma_mm;
//   C = (S + 1) (T + 1) D (1 added as in Gao's code), W = (1 / C) / sum(1 / C);
//   L_0(c) = sum_k sum_j W (M_0 + L_k - M_k) (Eq. 5).
struct StarfmRef {
  Raster fine, n_candidates, weight_sum, pairs_used;
};

StarfmRef starfm_literal(const FusionInput& in, const StarfmOptions& o) {
  const int W = in.coarse.width(), H = in.coarse.height(), nb = in.coarse.bands();
  const int h = o.window / 2;
  const double sig_lm = std::sqrt(o.fine_uncertainty * o.fine_uncertainty + o.coarse_uncertainty * o.coarse_uncertainty);
  const double sig_mm = std::sqrt(2.0) * o.coarse_uncertainty;
  StarfmRef out{Raster(in.coarse.grid(), nb, 0.0f, false), Raster(in.coarse.grid(), 1, 0.0f, true),
                Raster(in.coarse.grid(), 1, 0.0f, true), Raster(in.coarse.grid(), 1, 0.0f, true)};
  for (int b = 0; b < nb; ++b) {
    std::vector<double> thr;
    for (const auto& p : in.pairs) thr.push_back(sample_std(p.fine, b) * 2.0 / o.classes);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        double sum_w = 0, sum_wv = 0;
        long n = 0;
        int pairs_used = 0;
        for (size_t k = 0; k < in.pairs.size(); ++k) {
          const Raster& L = in.pairs[k].fine;
          const Raster& M = in.pairs[k].coarse;
          const Raster& M0 = in.coarse;
          auto ok = [&](int yy, int xx) { return L.valid(b, yy, xx) && M.valid(b, yy, xx) && M0.valid(b, yy, xx); };
          if (!ok(y, x)) continue;
          ++pairs_used;
          const double Sc = std::fabs(double(L.at(b, y, x)) - M.at(b, y, x));
          const double Tc = std::fabs(double(M.at(b, y, x)) - M0.at(b, y, x));
          for (int yy = std::max(0, y - h); yy <= std::min(H - 1, y + h); ++yy)
            for (int xx = std::max(0, x - h); xx <= std::min(W - 1, x + h); ++xx) {
              if (!ok(yy, xx)) continue;
              if (!(std::fabs(double(L.at(b, yy, xx)) - L.at(b, y, x)) <= thr[k])) continue;
              const double S = std::fabs(double(L.at(b, yy, xx)) - M.at(b, yy, xx));
              const double T = std::fabs(double(M.at(b, yy, xx)) - M0.at(b, yy, xx));
              if (S > Sc + sig_lm && T > Tc + sig_mm) continue;
              const double d = std::sqrt(double((xx - x) * (xx - x) + (yy - y) * (yy - y)));
              const double D = 1.0 + d / h;
              const double C = (S + 1.0) * (T + 1.0) * D;
              const double w = 1.0 / C;
              sum_w += w;
              sum_wv += w * (double(M0.at(b, yy, xx)) + L.at(b, yy, xx) - M.at(b, yy, xx));
              ++n;
            }
        }
        if (n == 0 || !(sum_w > 0)) continue;
        out.fine.at(b, y, x) = static_cast<float>(sum_wv / sum_w);
        out.fine.set_valid(b, y, x, true);
        if (b == 0) {
          out.n_candidates.at(y, x) = static_cast<float>(n);
          out.weight_sum.at(y, x) = static_cast<float>(sum_w);
          out.pairs_used.at(y, x) = static_cast<float>(pairs_used);
        }
      }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ESTARFM, Zhu et al. 2010 (2018 code), for every fine pixel c = (x, y) valid in L_1 and L_2:
//   threshold per pair and band: sigma(L_k) * 2 / classes (Eq. 9; ubESTARFM: sigma(L_k));
//   similar pixels i: valid in all five images (every band), |L_k(i) - L_k(c)| <= threshold
//   for both pairs and every band (Eq. 9);
//   R_i: one band 1 - 0.5 (|(L1-M1)/(L1+M1)| + |(L2-M2)/(L2+M2)|), else the correlation of the
//   candidate's 2 nb fine and coarse values, NaN -> 0.5 (Eq. 10);
//   d_i = 1 + dist / w (Eq. 11), D_i = (1 - R_i) d_i + 1e-7 (Eq. 12), W_i = (1/D_i)/sum (Eq. 13);
//   V (Eq. 8): least squares slope of [L1; L2] on [M1; M2] over the candidates when
//   |mean(M1) - mean(M2)| >= 0.02 dn_max, kept when the F-test gives p <= 0.05 and 0 < V <= 5,
//   else 1;
//   T_k = (1 / |mean_w(M_0) - mean_w(M_k)|) / sum (Eq. 14), means over window pixels valid
//   in M_0, M_1, M_2;
//   prediction sum_k T_k (L_k(c) + sum_i W_i V (M_0(i) - M_k(i))) (Eq. 8, 15-16); outside
//   (dn_min, dn_max) the fallback sum_k T_k sum_i W_i L_k(i); with 5 or fewer similar pixels
//   sum_k T_k (L_k(c) + mean_w(M_0) - mean_w(M_k)).
//   ubESTARFM zero bias: fine values of pair k shifted by mean(M_k) - mean(L_k) of the
//   candidates, V = 1 with fixed_v.
struct EstarfmRef {
  Raster fine, n_similar, rule, v, t1;
};

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i] / n, mb += b[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

EstarfmRef estarfm_literal(const FusionInput& in, const EstarfmOptions& o) {
  const Raster &L1 = in.pairs[0].fine, &M1 = in.pairs[0].coarse;
  const Raster &L2 = in.pairs[1].fine, &M2 = in.pairs[1].coarse, &M0 = in.coarse;
  const int W = M0.width(), H = M0.height(), nb = M0.bands(), w = o.half_window;
  const double factor = o.std_threshold_without_factor ? 1.0 : 2.0 / o.classes;
  std::vector<double> thr1(nb), thr2(nb);
  for (int b = 0; b < nb; ++b) {
    thr1[b] = sample_std(L1, b) * factor;
    thr2[b] = sample_std(L2, b) * factor;
  }
  EstarfmRef out{Raster(M0.grid(), nb, 0.0f, false), Raster(M0.grid(), 1, 0.0f, true),
                 Raster(M0.grid(), 1, 0.0f, true), Raster(M0.grid(), 1, 0.0f, true),
                 Raster(M0.grid(), 1, 0.0f, true)};
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      if (!valid_all_bands(L1, y, x) || !valid_all_bands(L2, y, x)) continue;
      struct Cand {
        int y, x;
        double weight;
      };
      std::vector<Cand> cand;
      // Window means of the coarse images for the temporal weights.
      std::vector<double> mean0(nb, 0.0), mean1(nb, 0.0), mean2(nb, 0.0);
      long nwin = 0;
      for (int yy = std::max(0, y - w); yy <= std::min(H - 1, y + w); ++yy)
        for (int xx = std::max(0, x - w); xx <= std::min(W - 1, x + w); ++xx) {
          if (valid_all_bands(M0, yy, xx) && valid_all_bands(M1, yy, xx) && valid_all_bands(M2, yy, xx)) {
            for (int b = 0; b < nb; ++b) {
              mean0[b] += M0.at(b, yy, xx);
              mean1[b] += M1.at(b, yy, xx);
              mean2[b] += M2.at(b, yy, xx);
            }
            ++nwin;
          }
          const bool all5 = valid_all_bands(L1, yy, xx) && valid_all_bands(M1, yy, xx) &&
                            valid_all_bands(L2, yy, xx) && valid_all_bands(M2, yy, xx) &&
                            valid_all_bands(M0, yy, xx);
          if (!all5) continue;
          bool similar = true;
          for (int b = 0; b < nb; ++b) {
            similar = similar && std::fabs(double(L1.at(b, yy, xx)) - L1.at(b, y, x)) <= thr1[b] &&
                      std::fabs(double(L2.at(b, yy, xx)) - L2.at(b, y, x)) <= thr2[b];
          }
          if (!similar) continue;
          double R;
          if (nb == 1) {
            const double l1 = L1.at(yy, xx), m1 = M1.at(yy, xx), l2 = L2.at(yy, xx), m2 = M2.at(yy, xx);
            R = 1.0 - 0.5 * (std::fabs((l1 - m1) / (l1 + m1)) + std::fabs((l2 - m2) / (l2 + m2)));
          } else {
            std::vector<double> f, c;
            for (int b = 0; b < nb; ++b) f.push_back(L1.at(b, yy, xx)), c.push_back(M1.at(b, yy, xx));
            for (int b = 0; b < nb; ++b) f.push_back(L2.at(b, yy, xx)), c.push_back(M2.at(b, yy, xx));
            R = pearson(f, c);
          }
          if (!std::isfinite(R)) R = 0.5;
          const double d = 1.0 + std::sqrt(double((xx - x) * (xx - x) + (yy - y) * (yy - y))) / w;
          const double D = (1.0 - R) * d + 1e-7;
          cand.push_back({yy, xx, 1.0 / D});
        }
      if (nwin == 0) continue;
      const double n = static_cast<double>(cand.size());
      double wsum = 0;
      for (const Cand& c : cand) wsum += c.weight;
      out.n_similar.at(y, x) = static_cast<float>(n);
      for (int b = 0; b < nb; ++b) {
        const double m0w = mean0[b] / nwin, m1w = mean1[b] / nwin, m2w = mean2[b] / nwin;
        const double i1 = 1.0 / (std::fabs(m0w - m1w) + 1e-10), i2 = 1.0 / (std::fabs(m0w - m2w) + 1e-10);
        const double T1 = i1 / (i1 + i2), T2 = i2 / (i1 + i2);
        const double l1c = L1.at(b, y, x), l2c = L2.at(b, y, x);
        double pred, V = 1.0;
        int rule;
        if (n <= 5) {
          pred = T1 * (l1c + m0w - m1w) + T2 * (l2c + m0w - m2w);
          rule = 3;
        } else {
          double sm1 = 0, sm2 = 0, sl1 = 0, sl2 = 0;
          for (const Cand& c : cand) {
            sm1 += M1.at(b, c.y, c.x);
            sm2 += M2.at(b, c.y, c.x);
            sl1 += L1.at(b, c.y, c.x);
            sl2 += L2.at(b, c.y, c.x);
          }
          const double b1 = o.zero_bias ? (sm1 - sl1) / n : 0.0;
          const double b2 = o.zero_bias ? (sm2 - sl2) / n : 0.0;
          if (!o.fixed_v && std::fabs(sm1 / n - sm2 / n) >= 0.02 * o.dn_max) {
            std::vector<double> xs, ys;
            for (const Cand& c : cand) xs.push_back(M1.at(b, c.y, c.x)), ys.push_back(L1.at(b, c.y, c.x) + b1);
            for (const Cand& c : cand) xs.push_back(M2.at(b, c.y, c.x)), ys.push_back(L2.at(b, c.y, c.x) + b2);
            const double N = static_cast<double>(xs.size());
            double mx = 0, my = 0;
            for (size_t i = 0; i < xs.size(); ++i) mx += xs[i] / N, my += ys[i] / N;
            double sxx = 0, sxy = 0, syy = 0;
            for (size_t i = 0; i < xs.size(); ++i) {
              sxx += (xs[i] - mx) * (xs[i] - mx);
              sxy += (xs[i] - mx) * (ys[i] - my);
              syy += (ys[i] - my) * (ys[i] - my);
            }
            if (sxx > 0) {
              const double slope = sxy / sxx;
              const double ssr = slope * sxy, sse = std::max(0.0, syy - ssr);
              const double p = sse > 0 ? stats::f_sf(ssr / (sse / (N - 2)), 1.0, N - 2) : 0.0;
              if (p <= 0.05 && slope > 0 && slope <= 5) V = slope;
            }
          }
          double change1 = 0, change2 = 0, fine1 = 0, fine2 = 0;
          for (const Cand& c : cand) {
            const double Wi = c.weight / wsum;
            change1 += Wi * V * (double(M0.at(b, c.y, c.x)) - M1.at(b, c.y, c.x));
            change2 += Wi * V * (double(M0.at(b, c.y, c.x)) - M2.at(b, c.y, c.x));
            fine1 += Wi * (L1.at(b, c.y, c.x) + b1);
            fine2 += Wi * (L2.at(b, c.y, c.x) + b2);
          }
          pred = T1 * (l1c + b1 + change1) + T2 * (l2c + b2 + change2);
          rule = 1;
          if (!(pred > o.dn_min && pred < o.dn_max)) {
            pred = T1 * fine1 + T2 * fine2;
            rule = 2;
          }
        }
        out.fine.at(b, y, x) = static_cast<float>(pred);
        out.fine.set_valid(b, y, x, std::isfinite(pred));
        if (b == 0) {
          out.rule.at(y, x) = static_cast<float>(rule);
          out.v.at(y, x) = static_cast<float>(V);
          out.t1.at(y, x) = static_cast<float>(T1);
        }
      }
    }
  return out;
}

// Same valid pixels, values within kTolK; returns the number compared.
long expect_match(const Raster& fast, const Raster& ref, const std::string& what) {
  long n = 0, bad = 0;
  double worst = 0;
  for (int b = 0; b < ref.bands(); ++b)
    for (int y = 0; y < ref.height(); ++y)
      for (int x = 0; x < ref.width(); ++x) {
        if (fast.valid(b, y, x) != ref.valid(b, y, x)) {
          if (++bad <= 5) ADD_FAILURE() << what << ": validity differs at band " << b << " (" << x << ", " << y << ")";
          continue;
        }
        if (!ref.valid(b, y, x)) continue;
        const double d = std::fabs(double(fast.at(b, y, x)) - ref.at(b, y, x));
        worst = std::max(worst, d);
        ++n;
      }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_LE(worst, kTolK) << what << ": largest difference " << worst << " K";
  return n;
}

// Quality band q of the fast result against a literal one, within a relative tolerance.
void expect_quality(const Raster& fast, int q, const Raster& ref, const Raster& mask, double rel,
                    const std::string& what) {
  long bad = 0;
  for (int y = 0; y < ref.height(); ++y)
    for (int x = 0; x < ref.width(); ++x) {
      if (!mask.valid(0, y, x)) continue;
      const double a = fast.at(q, y, x), r = ref.at(y, x);
      if (std::fabs(a - r) > rel * std::max(1.0, std::fabs(r)) && ++bad <= 5)
        ADD_FAILURE() << what << " at (" << x << ", " << y << "): " << a << " vs " << r;
    }
  EXPECT_EQ(bad, 0) << what;
}

}  // namespace

TEST(ClassicReference, StarfmMatchesLiteralEquations) {
  for (int bands : {1, 2}) {
    const FusionInput in = cloudy_scene(44, 38, bands, 3 + bands);
    StarfmMethod m;
    m.opts.window = 11;
    const FusionResult fast = m.predict(in);
    const StarfmRef ref = starfm_literal(in, m.opts);
    const std::string what = fmt::format("starfm, {} band(s)", bands);
    const long n = expect_match(fast.fine, ref.fine, what);
    EXPECT_GT(n, 44 * 38 * bands / 2) << what;  // most pixels predicted, clouds aside
    expect_quality(fast.quality, 0, ref.n_candidates, ref.fine, 0.0, what + ": candidates");
    expect_quality(fast.quality, 1, ref.weight_sum, ref.fine, 1e-5, what + ": weight sum");
    expect_quality(fast.quality, 2, ref.pairs_used, ref.fine, 0.0, what + ": pairs used");
    // The tiled driver (whole-scene thresholds passed to every tile) gives the same.
    StarfmMethod tiled;
    tiled.opts = m.opts;
    expect_match(predict_tiled(tiled, in, {16, 2}).fine, ref.fine, what + ", tiles of 16");
  }
}

TEST(ClassicReference, EstarfmMatchesLiteralEquations) {
  struct Case {
    const char* name;
    int bands;
    EstarfmOptions o;
  };
  std::vector<Case> cases;
  EstarfmOptions base;
  base.half_window = 6;
  cases.push_back({"default", 1, base});
  cases.push_back({"two bands", 2, base});
  EstarfmOptions narrow = base;  // a range that sends some predictions to the fallback
  narrow.dn_min = 285.0;
  narrow.dn_max = 301.0;
  cases.push_back({"narrow range", 1, narrow});
  EstarfmOptions ub = base;
  ub.std_threshold_without_factor = true;
  ub.zero_bias = true;
  cases.push_back({"ubESTARFM threshold + zero bias", 1, ub});
  EstarfmOptions fixed = base;
  fixed.fixed_v = true;
  cases.push_back({"fixed V", 1, fixed});
  int rules_seen[4] = {0, 0, 0, 0};
  long v_regressed = 0;
  for (const Case& c : cases) {
    const FusionInput in = cloudy_scene(44, 38, c.bands, 11 + c.bands);
    EstarfmMethod m;
    m.opts = c.o;
    const FusionResult fast = m.predict(in);
    const EstarfmRef ref = estarfm_literal(in, c.o);
    const std::string what = std::string("estarfm, ") + c.name;
    const long n = expect_match(fast.fine, ref.fine, what);
    EXPECT_GT(n, 44 * 38 * c.bands / 2) << what;
    expect_quality(fast.quality, 0, ref.n_similar, ref.fine, 0.0, what + ": similar pixels");
    expect_quality(fast.quality, 1, ref.rule, ref.fine, 0.0, what + ": rule");
    expect_quality(fast.quality, 2, ref.v, ref.fine, 1e-4, what + ": V");
    expect_quality(fast.quality, 3, ref.t1, ref.fine, 1e-5, what + ": T1");
    for (int y = 0; y < ref.fine.height(); ++y)
      for (int x = 0; x < ref.fine.width(); ++x) {
        if (!ref.fine.valid(0, y, x)) continue;
        ++rules_seen[static_cast<int>(ref.rule.at(y, x))];
        if (ref.v.at(y, x) != 1.0f) ++v_regressed;
      }
    EstarfmMethod tiled;
    tiled.opts = c.o;
    expect_match(predict_tiled(tiled, in, {16, 2}).fine, ref.fine, what + ", tiles of 16");
  }
  // Every branch of the method was compared: similar pixels, range fallback, few similar
  // pixels, and a regressed conversion coefficient.
  EXPECT_GT(rules_seen[1], 0);
  EXPECT_GT(rules_seen[2], 0);
  EXPECT_GT(rules_seen[3], 0);
  EXPECT_GT(v_regressed, 0);
}
