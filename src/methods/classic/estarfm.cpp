// ESTARFM in the steps of Zhu et al. 2010, each function computing one of its equations
// (docs/methods.md lists them): similarity thresholds (Eq. 9), spectral similarity (Eq. 10),
// relative distance (Eq. 11), similar pixels and their weights (Eq. 9, 12, 13), the conversion
// coefficient (V of Eq. 8), temporal weights (Eq. 14) and the prediction (Eq. 8, 15-16).
// tests/methods/test_classic_reference.cpp checks it against a literal per-pixel version.
// The images live in padded planes so that every window row is a contiguous run, and every sum
// runs in a fixed order, so that tiled and whole-scene results agree bit for bit.
#include "lstfuse/methods/classic/estarfm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/methods/classic/distributions.hpp"
#include "window_planes.hpp"

namespace lstfuse {
namespace cd = classic_detail;

EstarfmMethod::EstarfmMethod() {
  option_set_.add("half-window", opts.half_window, "half window w: the window is (2w+1) x (2w+1)");
  option_set_.add("classes", opts.classes,
                  "number of classes: similarity threshold = std(fine) * 2 / classes");
  option_set_.add("dn-min", opts.dn_min, "lower end of the valid data range (K for LST)");
  option_set_.add("dn-max", opts.dn_max, "upper end of the valid data range (K for LST)");
  option_set_.add("std-threshold-without-factor", opts.std_threshold_without_factor,
                  "ubESTARFM variant: similarity threshold = std(fine), without 2 / classes");
  option_set_.add("fixed-v", opts.fixed_v, "ubESTARFM variant: conversion coefficient V = 1");
  option_set_.add("zero-bias", opts.zero_bias,
                  "ubESTARFM variant: shift fine values by mean(coarse) - mean(fine) of the "
                  "similar pixels, per pair");
  option_set_.limit("half-window", 1, 500);
  option_set_.limit("classes", 1, 1000);
}

const MethodInfo& EstarfmMethod::info() const {
  static const MethodInfo mi{"estarfm", "classic",
                             "ESTARFM (Zhu 2010, 2018 revision): two pairs, similar pixels, "
                             "conversion coefficients",
                             2, 2, true, false, false, true};  // bias step on: measured to help
  return mi;
}

namespace {

enum Rule : int { kNone = 0, kSimilar = 1, kRangeFallback = 2, kFewSimilar = 3 };

// Pearson correlation of two short vectors; NaN when either is constant.
double correlation(const double* a, const double* b, int n) {
  double ma = 0, mb = 0;
  for (int i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// The five images as padded planes [band] (invalid pixels 0) and the validity planes.
struct Images {
  std::vector<std::vector<float>> L1, M1, L2, M2, M0;
  std::vector<uint8_t> v5;  // valid in all five images, every band: may be a similar pixel
  std::vector<uint8_t> v3;  // valid in the three coarse images: counts in window means
  std::vector<uint8_t> vc;  // valid in both fine images: a centre that can be predicted
  std::vector<float> v5f;   // v5 as 0/1 floats, for the branch-free window loops
};

Images load_images(const cd::Planes& g, const FusionInput& in) {
  const Raster &L1r = in.pairs[0].fine, &M1r = in.pairs[0].coarse;
  const Raster &L2r = in.pairs[1].fine, &M2r = in.pairs[1].coarse, &M0r = in.coarse;
  const int nb = in.coarse.bands();
  Images im;
  im.L1.resize(nb), im.M1.resize(nb), im.L2.resize(nb), im.M2.resize(nb), im.M0.resize(nb);
  for (int b = 0; b < nb; ++b) {
    im.L1[b] = cd::to_plane(g, L1r, b);
    im.M1[b] = cd::to_plane(g, M1r, b);
    im.L2[b] = cd::to_plane(g, L2r, b);
    im.M2[b] = cd::to_plane(g, M2r, b);
    im.M0[b] = cd::to_plane(g, M0r, b);
  }
  im.v5 = cd::valid_plane(g, {&L1r, &M1r, &L2r, &M2r, &M0r});
  im.v3 = cd::valid_plane(g, {&M1r, &M2r, &M0r});
  im.vc = cd::valid_plane(g, {&L1r, &L2r});
  im.v5f = g.plane();
  for (size_t i = 0; i < im.v5.size(); ++i) im.v5f[i] = im.v5[i] ? 1.0f : 0.0f;
  return im;
}

// Eq. 9: the similarity threshold of each pair and band, sigma(L_k) * 2 / m (ubESTARFM:
// sigma(L_k)), sigma over the whole scene when the tiled driver passed its statistics.
void similarity_thresholds(const FusionInput& in, const EstarfmOptions& o, std::vector<float>& thr1,
                           std::vector<float>& thr2) {
  const int nb = in.coarse.bands();
  const double factor = o.std_threshold_without_factor ? 1.0 : 2.0 / o.classes;
  const SceneStats* scene = in.scene_stats.get();
  thr1.assign(nb, 0.0f);
  thr2.assign(nb, 0.0f);
  for (int b = 0; b < nb; ++b) {
    BandStats s1, s2;
    const int k1 = scene ? scene->index_of(in.pairs[0].date) : -1;
    const int k2 = scene ? scene->index_of(in.pairs[1].date) : -1;
    if (k1 >= 0 && k2 >= 0 && static_cast<int>(scene->fine[k1].size()) > b &&
        static_cast<int>(scene->fine[k2].size()) > b) {
      s1 = scene->fine[k1][b];
      s2 = scene->fine[k2][b];
    } else {
      s1 = band_stats(in.pairs[0].fine, b);
      s2 = band_stats(in.pairs[1].fine, b);
    }
    thr1[b] = std::isfinite(s1.stddev) ? static_cast<float>(s1.stddev * factor) : 0.0f;
    thr2[b] = std::isfinite(s2.stddev) ? static_cast<float>(s2.stddev * factor) : 0.0f;
  }
}

// Eq. 10: 1 - R_i per pixel, R_i the spectral similarity of fine and coarse values (one band:
// 1 - mean relative difference; several: their correlation; NaN -> 0.5).
std::vector<float> spectral_dissimilarity(const cd::Planes& g, const Images& im, int nb) {
  std::vector<float> one_minus_r = g.plane(1.0f);
  std::vector<double> f(2 * nb), c(2 * nb);
  for (int y = 0; y < g.height; ++y) {
    for (int x = 0; x < g.width; ++x) {
      const size_t i = g.at(x, y);
      if (!im.v5[i]) continue;
      double r;
      if (nb == 1) {
        const double l1 = im.L1[0][i], m1 = im.M1[0][i], l2 = im.L2[0][i], m2 = im.M2[0][i];
        r = 1.0 - 0.5 * (std::fabs((l1 - m1) / (l1 + m1)) + std::fabs((l2 - m2) / (l2 + m2)));
      } else {
        for (int b = 0; b < nb; ++b) {
          f[b] = im.L1[b][i];
          f[nb + b] = im.L2[b][i];
          c[b] = im.M1[b][i];
          c[nb + b] = im.M2[b][i];
        }
        r = correlation(f.data(), c.data(), 2 * nb);
      }
      if (!std::isfinite(r)) r = 0.5;
      one_minus_r[i] = static_cast<float>(1.0 - r);
    }
  }
  return one_minus_r;
}

// Eq. 11: the relative distance d_i = 1 + dist / w of every window offset, in rows of
// Planes::row_span(span) entries; the columns past the window hold 0, which marks them as outside
// it (every offset inside has d_i >= 1).
std::vector<float> relative_distance(int h) {
  const int span = 2 * h + 1, run = cd::Planes::row_span(span);
  std::vector<float> dist(static_cast<size_t>(span) * run, 0.0f);
  for (int dy = -h; dy <= h; ++dy)
    for (int dx = -h; dx <= h; ++dx)
      dist[(dy + h) * run + (dx + h)] = static_cast<float>(1.0 + std::sqrt(double(dx * dx + dy * dy)) / h);
  return dist;
}

// The window means of M0, M1, M2 over pixels valid in all three (the temporal weights' input,
// Eq. 14), from column sums of the current row's window rows: the columns are summed in a
// fixed order, so the result does not depend on where the tile starts.
class CoarseWindowMeans {
 public:
  CoarseWindowMeans(const cd::Planes& g, const Images& im, int nb, int h, int xlo, int ncols)
      : g_(g), im_(im), nb_(nb), h_(h), xlo_(xlo), ncols_(ncols),
        colsum_(static_cast<size_t>(nb) * 3 * ncols), colcnt_(ncols) {}

  void start_row(int y) {
    const int span = 2 * h_ + 1;
    for (int c = 0; c < ncols_; ++c) {
      double cnt = 0;
      for (int dy = -h_; dy <= h_; ++dy) cnt += im_.v3[g_.at(xlo_ + c, y + dy)];
      colcnt_[c] = cnt;
    }
    for (int b = 0; b < nb_; ++b) {
      const float* imgs[3] = {im_.M0[b].data(), im_.M1[b].data(), im_.M2[b].data()};
      for (int k = 0; k < 3; ++k) {
        double* cs = column_sums(b, k);
        for (int c = 0; c < ncols_; ++c) {
          double s = 0;
          for (int dy = -h_; dy <= h_; ++dy) s += imgs[k][g_.at(xlo_ + c, y + dy)];
          cs[c] = s;
        }
      }
    }
    // Invalid coarse pixels hold 0 in their own plane, but a pixel must count only when all
    // three coarse images are valid there; correct sums where the masks disagree.
    for (int b = 0; b < nb_; ++b) {
      const float* imgs[3] = {im_.M0[b].data(), im_.M1[b].data(), im_.M2[b].data()};
      for (int k = 0; k < 3; ++k) {
        double* cs = column_sums(b, k);
        for (int c = 0; c < ncols_; ++c) {
          if (colcnt_[c] == span) continue;  // all valid: nothing to correct
          double s = 0;
          for (int dy = -h_; dy <= h_; ++dy) {
            const size_t i = g_.at(xlo_ + c, y + dy);
            if (im_.v3[i]) s += imgs[k][i];
          }
          cs[c] = s;
        }
      }
    }
  }

  // Means [band * 3 + image] (images M0, M1, M2) of the window centred on column x of the
  // current row; false when no window pixel is valid in all three.
  bool means(int x, double* win_mean) const {
    const int span = 2 * h_ + 1;
    const int c0 = x - h_ - xlo_;
    double cnt = 0;
    for (int c = c0; c < c0 + span; ++c) cnt += colcnt_[c];
    if (cnt == 0) return false;
    for (int b = 0; b < nb_; ++b)
      for (int k = 0; k < 3; ++k) {
        const double* cs = column_sums(b, k);
        double s = 0;
        for (int c = c0; c < c0 + span; ++c) s += cs[c];
        win_mean[b * 3 + k] = s / cnt;
      }
    return true;
  }

 private:
  double* column_sums(int b, int k) { return colsum_.data() + (static_cast<size_t>(b) * 3 + k) * ncols_; }
  const double* column_sums(int b, int k) const {
    return colsum_.data() + (static_cast<size_t>(b) * 3 + k) * ncols_;
  }
  const cd::Planes& g_;
  const Images& im_;
  int nb_, h_, xlo_, ncols_;
  std::vector<double> colsum_, colcnt_;
};

// Eq. 14: temporal weights T_k = (1 / |mean(M0) - mean(Mk)|) / sum, from the window means.
void temporal_weights(double m0w, double m1w, double m2w, double& T1, double& T2) {
  const double it1 = 1.0 / (std::fabs(m0w - m1w) + 1e-10);
  const double it2 = 1.0 / (std::fabs(m0w - m2w) + 1e-10);
  T1 = it1 / (it1 + it2);
  T2 = it2 / (it1 + it2);
}

// Weighted and plain sums over the similar pixels of band b, each relative to the centre's fine
// value of its pair (c1, c2) so that float sums keep their precision:
//   A_k = sum W (M0 - Mk), F_k = sum W (Lk - ck), X_k = sum (Mk - ck), Y_k = sum (Lk - ck).
struct CandidateSums {
  double A1 = 0, A2 = 0, F1 = 0, F2 = 0, X1 = 0, X2 = 0, Y1 = 0, Y2 = 0;
};

// The eight sums above, lane by lane over a window: one window pixel run added by add() (w the
// weights, K the 0/1 similar flags, d1 = L1 - c1, d2 = L2 - c2), totalled by sums().
struct CandidateLanes {
  cd::Lanes a1{}, a2{}, f1{}, f2{}, x1{}, x2{}, y1{}, y2{};
  void add(cd::Lanes w, cd::Lanes K, cd::Lanes m0, cd::Lanes m1, cd::Lanes m2, cd::Lanes d1, cd::Lanes d2,
           cd::Lanes c1, cd::Lanes c2) {
    a1 += w * (m0 - m1);
    a2 += w * (m0 - m2);
    f1 += w * d1;
    f2 += w * d2;
    x1 += K * (m1 - c1);
    x2 += K * (m2 - c2);
    y1 += K * d1;
    y2 += K * d2;
  }
  CandidateSums sums() const {
    CandidateSums s;
    s.A1 = cd::sum_lanes(a1), s.A2 = cd::sum_lanes(a2), s.F1 = cd::sum_lanes(f1), s.F2 = cd::sum_lanes(f2);
    s.X1 = cd::sum_lanes(x1), s.X2 = cd::sum_lanes(x2), s.Y1 = cd::sum_lanes(y1), s.Y2 = cd::sum_lanes(y2);
    return s;
  }
};

// One centre's window: which pixels are similar (K, 0/1) and their weights 1 / D_i (WC),
// row by row in the window (rows of Planes::row_span(span), 0 past the window); n and sum_w
// their count and the weights' sum; first_band the candidate sums of band 0, taken in the
// same pass (the other bands' come from candidate_sums).
struct Window {
  std::vector<float> K, WC;
  double n = 0, sum_w = 0;
  CandidateSums first_band;
};

// Eq. 9, 12, 13: the similar pixels of centre ci (valid in all five images, within the
// thresholds of both pairs in every band) and their weights 1 / ((1 - R_i) d_i + 1e-7); the
// normalisation by sum_w is left to the sums that use them. Band 0's candidate sums are added
// up in the same pass, while its planes are in cache: a second pass over the window for them
// took a third of the method's time (LST has one band).
LSTFUSE_WINDOW_KERNEL void similar_pixels(const cd::Planes& g, const Images& im, int nb, int h, size_t ci,
                                          const std::vector<float>& thr1, const std::vector<float>& thr2,
                                          const std::vector<float>& one_minus_r, const std::vector<float>& dist,
                                          Window& win) {
  const int run = cd::Planes::row_span(2 * h + 1);
  const cd::Lanes zero = cd::splat(0.0f), half = cd::splat(0.5f), one = cd::splat(1.0f);
  const cd::Lanes tiny = cd::splat(1e-7f);
  // Band 0's values broadcast once, outside the loops (LST has one band; further bands, in the
  // inner loop, are the slower general case).
  const float* L1 = im.L1[0].data();
  const float* L2 = im.L2[0].data();
  const cd::Lanes centre1 = cd::splat(L1[ci]), centre2 = cd::splat(L2[ci]);
  const cd::Lanes t1 = cd::splat(thr1[0]), t2 = cd::splat(thr2[0]);
  cd::Lanes n_sum = zero, w_sum = zero;
  const float *M0 = im.M0[0].data(), *M1 = im.M1[0].data(), *M2 = im.M2[0].data();
  CandidateLanes first;
  for (int dy = -h; dy <= h; ++dy) {
    const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
    const size_t wrow = static_cast<size_t>(dy + h) * run;
    for (int j = 0; j < run; j += cd::Planes::kVectorRun) {
      const size_t at = r0 + j;
      const cd::Lanes D = cd::load(dist.data() + wrow + j);
      const cd::Lanes l1 = cd::load(L1 + at), l2 = cd::load(L2 + at);
      cd::LaneMask sim = (D > zero) & (cd::load(im.v5f.data() + at) > half) &  // inside, valid
                         cd::within(l1, centre1, t1) & cd::within(l2, centre2, t2);
      for (int b = 1; b < nb; ++b) {
        sim &= cd::within(cd::load(im.L1[b].data() + at), cd::splat(im.L1[b][ci]), cd::splat(thr1[b])) &
               cd::within(cd::load(im.L2[b].data() + at), cd::splat(im.L2[b][ci]), cd::splat(thr2[b]));
      }
      const cd::Lanes K = cd::keep_where(sim, one);
      // Outside the similar pixels the division still runs (on finite values) and is dropped.
      const cd::Lanes w = cd::keep_where(sim, one / (cd::load(one_minus_r.data() + at) * D + tiny));
      cd::store(win.K.data() + wrow + j, K);
      cd::store(win.WC.data() + wrow + j, w);
      n_sum += K;
      w_sum += w;
      // Band 0's candidate sums, term for term as candidate_sums adds them.
      first.add(w, K, cd::load(M0 + at), cd::load(M1 + at), cd::load(M2 + at), l1 - centre1, l2 - centre2,
                centre1, centre2);
    }
  }
  win.n = cd::sum_lanes(n_sum);
  win.sum_w = cd::sum_lanes(w_sum);
  win.first_band = first.sums();
}

LSTFUSE_WINDOW_KERNEL CandidateSums candidate_sums(const cd::Planes& g, const Images& im, int b, int h,
                                                  size_t ci, const Window& win) {
  const int run = cd::Planes::row_span(2 * h + 1);
  const cd::Lanes c1 = cd::splat(im.L1[b][ci]), c2 = cd::splat(im.L2[b][ci]);
  CandidateLanes lanes;
  const float *L1 = im.L1[b].data(), *L2 = im.L2[b].data();
  const float *M0 = im.M0[b].data(), *M1 = im.M1[b].data(), *M2 = im.M2[b].data();
  for (int dy = -h; dy <= h; ++dy) {
    const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
    const size_t wrow = static_cast<size_t>(dy + h) * run;
    for (int i = 0; i < run; i += cd::Planes::kVectorRun) {
      const size_t at = r0 + i;
      const cd::Lanes K = cd::load(win.K.data() + wrow + i), WC = cd::load(win.WC.data() + wrow + i);
      lanes.add(WC, K, cd::load(M0 + at), cd::load(M1 + at), cd::load(M2 + at), cd::load(L1 + at) - c1,
                cd::load(L2 + at) - c2, c1, c2);
    }
  }
  return lanes.sums();
}

// Eq. 8's conversion coefficient V, the least-squares slope of the 2n fine values
// [L1 + b1; L2 + b2] on the 2n coarse values [M1; M2] of the similar pixels, kept when the
// F-test is significant (p <= 0.05) and 0 < V <= 5, else 1. b1, b2: the ubESTARFM zero-bias
// shifts (0 otherwise). Sums in a frame shifted by c1: pair 2 values re-shifted by c2 - c1.
LSTFUSE_WINDOW_KERNEL double conversion_coefficient(const cd::Planes& g, const Images& im, int b, int h,
                                                   size_t ci, const Window& win, const CandidateSums& s,
                                                   double b1, double b2) {
  const int run = cd::Planes::row_span(2 * h + 1);
  const float c1 = im.L1[b][ci], c2 = im.L2[b][ci];
  const cd::Lanes c1v = cd::splat(c1), c2v = cd::splat(c2);
  const double n = win.n;
  cd::Lanes xx1{}, xx2{}, yy1{}, yy2{}, xy1{}, xy2{};
  const float *L1 = im.L1[b].data(), *L2 = im.L2[b].data(), *M1 = im.M1[b].data(), *M2 = im.M2[b].data();
  for (int dy = -h; dy <= h; ++dy) {
    const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
    const size_t wrow = static_cast<size_t>(dy + h) * run;
    for (int i = 0; i < run; i += cd::Planes::kVectorRun) {
      const size_t at = r0 + i;
      const cd::Lanes K = cd::load(win.K.data() + wrow + i);
      const cd::Lanes dx1 = K * (cd::load(M1 + at) - c1v), dx2 = K * (cd::load(M2 + at) - c2v);
      const cd::Lanes dy1 = K * (cd::load(L1 + at) - c1v), dy2 = K * (cd::load(L2 + at) - c2v);
      xx1 += dx1 * dx1; xx2 += dx2 * dx2;
      yy1 += dy1 * dy1; yy2 += dy2 * dy2;
      xy1 += dx1 * dy1; xy2 += dx2 * dy2;
    }
  }
  const double XX1 = cd::sum_lanes(xx1), XX2 = cd::sum_lanes(xx2), YY1 = cd::sum_lanes(yy1);
  const double YY2 = cd::sum_lanes(yy2), XY1 = cd::sum_lanes(xy1), XY2 = cd::sum_lanes(xy2);
  const double N = 2.0 * n;
  const double dx2s = c2 - c1;
  const double dy1s = b1, dy2s = c2 - c1 + b2;
  const double Sx = s.X1 + s.X2 + n * dx2s;
  const double Sy = s.Y1 + n * dy1s + s.Y2 + n * dy2s;
  const double Sxx = XX1 + XX2 + 2 * dx2s * s.X2 + n * dx2s * dx2s;
  const double Syy = YY1 + 2 * dy1s * s.Y1 + n * dy1s * dy1s + YY2 + 2 * dy2s * s.Y2 + n * dy2s * dy2s;
  const double Sxy = XY1 + dy1s * s.X1 + XY2 + dy2s * s.X2 + dx2s * s.Y2 + n * dx2s * dy2s;
  const double sxx = Sxx - Sx * Sx / N, syy = Syy - Sy * Sy / N, sxy = Sxy - Sx * Sy / N;
  if (!(sxx > 0)) return 1.0;
  const double slope = sxy / sxx;
  const double ssr = slope * sxy;
  const double sse = std::max(0.0, syy - ssr);
  const double p = sse > 0 ? stats::f_sf(ssr / (sse / (N - 2)), 1.0, N - 2) : 0.0;
  return p <= 0.05 && slope > 0 && slope <= 5 ? slope : 1.0;
}

}  // namespace

void EstarfmMethod::check_options() const {
  if (!(opts.dn_min < opts.dn_max)) {
    throw Error(fmt::format("estarfm: --dn-min ({}) must be below --dn-max ({})", opts.dn_min, opts.dn_max));
  }
}

FusionResult EstarfmMethod::predict(const FusionInput& in) {
  validate(in);
  const EstarfmOptions& o = opts;
  if (o.half_window < 1) throw Error("estarfm: option --half-window must be >= 1");
  if (o.classes < 1) throw Error("estarfm: option --classes must be >= 1");
  check_options();
  const int h = o.half_window;
  const int span = 2 * h + 1;
  const int W = in.coarse.width(), H = in.coarse.height();
  cd::check_window_fits("estarfm", "--half-window", h, W, H);
  const int nb = in.coarse.bands();
  const cd::Planes g(W, H, h);
  const PixelRect region = cd::target_region(in);

  const Images im = load_images(g, in);
  std::vector<float> thr1, thr2;
  similarity_thresholds(in, o, thr1, thr2);                             // Eq. 9
  const std::vector<float> one_minus_r = spectral_dissimilarity(g, im, nb);  // Eq. 10
  const std::vector<float> dist = relative_distance(h);                  // Eq. 11

  FusionResult out;
  out.fine = Raster(in.coarse.grid(), nb, 0.0f, false);
  out.fine.units = in.coarse.units;
  out.quality = Raster(in.coarse.grid(), 4, 0.0f, true);
  out.quality.units = "";
  out.quality.band_names = {"n_similar", "rule", "v", "t1"};

  // Output pointers taken once (band() checks for borrowed values on every call).
  std::vector<float*> fine_out(nb);
  std::vector<uint8_t*> fine_valid(nb);
  for (int b = 0; b < nb; ++b) fine_out[b] = out.fine.band(b), fine_valid[b] = out.fine.mask(b);
  float *q_n = out.quality.band(0), *q_rule = out.quality.band(1), *q_v = out.quality.band(2),
        *q_t1 = out.quality.band(3);

  const double mean_diff_min = 0.02 * o.dn_max;  // V is regressed above this coarse change
  const int xlo = region.x0 - h, xhi = region.x0 + region.width + h;  // columns of window sums

#pragma omp parallel
  {
    CoarseWindowMeans coarse_means(g, im, nb, h, xlo, xhi - xlo);
    Window win;
    win.K.resize(static_cast<size_t>(span) * cd::Planes::row_span(span));
    win.WC.resize(win.K.size());
    std::vector<double> win_mean(static_cast<size_t>(nb) * 3);

#pragma omp for schedule(static)
    for (int y = region.y0; y < region.y0 + region.height; ++y) {
      coarse_means.start_row(y);
      for (int x = region.x0; x < region.x0 + region.width; ++x) {
        const size_t ci = g.at(x, y);
        const size_t oi = static_cast<size_t>(y) * W + x;
        if (!im.vc[ci]) continue;
        if (!coarse_means.means(x, win_mean.data())) continue;
        similar_pixels(g, im, nb, h, ci, thr1, thr2, one_minus_r, dist, win);  // Eq. 9, 12, 13
        const double n = win.n, sw = win.sum_w;

        int rule = kNone;
        double v_first = 1.0, t1_first = 0.0;
        for (int b = 0; b < nb; ++b) {
          const double m0w = win_mean[b * 3 + 0], m1w = win_mean[b * 3 + 1], m2w = win_mean[b * 3 + 2];
          double T1, T2;
          temporal_weights(m0w, m1w, m2w, T1, T2);  // Eq. 14
          const double l1c = im.L1[b][ci], l2c = im.L2[b][ci];
          double pred;
          int brule;
          double V = 1.0;
          if (n <= 5) {
            // Too few similar pixels: each pair's centre plus the window-mean coarse change.
            pred = T1 * (l1c + (m0w - m1w)) + T2 * (l2c + (m0w - m2w));
            brule = kFewSimilar;
          } else {
            const CandidateSums s = b == 0 ? win.first_band : candidate_sums(g, im, b, h, ci, win);
            const float c1 = im.L1[b][ci], c2 = im.L2[b][ci];
            // Candidate means (unshifted) and the ubESTARFM bias of each pair.
            const double mM1 = s.X1 / n + c1, mM2 = s.X2 / n + c2;
            const double mL1 = s.Y1 / n + c1, mL2 = s.Y2 / n + c2;
            const double b1 = o.zero_bias ? mM1 - mL1 : 0.0;
            const double b2 = o.zero_bias ? mM2 - mL2 : 0.0;
            if (!o.fixed_v && std::fabs(mM1 - mM2) >= mean_diff_min)
              V = conversion_coefficient(g, im, b, h, ci, win, s, b1, b2);  // V of Eq. 8
            // Eq. 8 per pair (the centre's fine value plus the weighted, converted coarse
            // change), combined with the temporal weights (Eq. 15-16).
            pred = T1 * (l1c + b1 + V * s.A1 / sw) + T2 * (l2c + b2 + V * s.A2 / sw);
            brule = kSimilar;
            if (!(pred > o.dn_min && pred < o.dn_max)) {
              // Outside the valid range: the weighted fine values of the similar pixels.
              pred = T1 * (s.F1 / sw + c1 + b1) + T2 * (s.F2 / sw + c2 + b2);
              brule = kRangeFallback;
            }
          }
          fine_out[b][oi] = static_cast<float>(pred);
          fine_valid[b][oi] = std::isfinite(pred) ? 1 : 0;
          if (b == 0) {
            rule = brule;
            v_first = V;
            t1_first = T1;
          }
        }
        q_n[oi] = static_cast<float>(n);
        q_rule[oi] = static_cast<float>(rule);
        q_v[oi] = static_cast<float>(v_first);
        q_t1[oi] = static_cast<float>(t1_first);
      }
    }
  }
  return out;
}

}  // namespace lstfuse
