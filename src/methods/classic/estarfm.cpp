#include "lstfuse/methods/classic/estarfm.hpp"

#include <cmath>

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

}  // namespace

FusionResult EstarfmMethod::predict(const FusionInput& in) {
  validate(in);
  const EstarfmOptions& o = opts;
  if (o.half_window < 1) throw Error("estarfm: option --half-window must be >= 1");
  if (o.classes < 1) throw Error("estarfm: option --classes must be >= 1");
  if (!(o.dn_min < o.dn_max)) {
    throw Error(fmt::format("estarfm: --dn-min ({}) must be below --dn-max ({})", o.dn_min, o.dn_max));
  }
  const int h = o.half_window;
  const int span = 2 * h + 1;
  const int W = in.coarse.width(), H = in.coarse.height();
  cd::check_window_fits("estarfm", "--half-window", h, W, H);
  const int nb = in.coarse.bands();
  const cd::Planes g(W, H, h);
  const PixelRect region = cd::target_region(in);
  const Raster& L1r = in.pairs[0].fine;
  const Raster& M1r = in.pairs[0].coarse;
  const Raster& L2r = in.pairs[1].fine;
  const Raster& M2r = in.pairs[1].coarse;
  const Raster& M0r = in.coarse;

  // Planes [band]: the five images, invalid pixels 0.
  std::vector<std::vector<float>> L1(nb), M1(nb), L2(nb), M2(nb), M0(nb);
  for (int b = 0; b < nb; ++b) {
    L1[b] = cd::to_plane(g, L1r, b);
    M1[b] = cd::to_plane(g, M1r, b);
    L2[b] = cd::to_plane(g, L2r, b);
    M2[b] = cd::to_plane(g, M2r, b);
    M0[b] = cd::to_plane(g, M0r, b);
  }
  // Candidates must be valid in all five images (every band); window means of the coarse
  // images use the pixels valid in the three coarse images.
  const std::vector<uint8_t> v5 = cd::valid_plane(g, {&L1r, &M1r, &L2r, &M2r, &M0r});
  const std::vector<uint8_t> v3 = cd::valid_plane(g, {&M1r, &M2r, &M0r});
  const std::vector<uint8_t> vc = cd::valid_plane(g, {&L1r, &L2r});  // centre needs both fines
  std::vector<float> v5f = g.plane();
  for (size_t i = 0; i < v5.size(); ++i) v5f[i] = v5[i] ? 1.0f : 0.0f;

  // 1 - S, the spectral dissimilarity of each valid pixel.
  std::vector<float> one_minus_s = g.plane(1.0f);
  {
    std::vector<double> f(2 * nb), c(2 * nb);
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        const size_t i = g.at(x, y);
        if (!v5[i]) continue;
        double s;
        if (nb == 1) {
          const double l1 = L1[0][i], m1 = M1[0][i], l2 = L2[0][i], m2 = M2[0][i];
          s = 1.0 - 0.5 * (std::fabs((l1 - m1) / (l1 + m1)) + std::fabs((l2 - m2) / (l2 + m2)));
        } else {
          for (int b = 0; b < nb; ++b) {
            f[b] = L1[b][i];
            f[nb + b] = L2[b][i];
            c[b] = M1[b][i];
            c[nb + b] = M2[b][i];
          }
          s = correlation(f.data(), c.data(), 2 * nb);
        }
        if (!std::isfinite(s)) s = 0.5;
        one_minus_s[i] = static_cast<float>(1.0 - s);
      }
    }
  }

  // Relative distance D = 1 + d / w per window offset.
  std::vector<float> dist(static_cast<size_t>(span) * span);
  for (int dy = -h; dy <= h; ++dy)
    for (int dx = -h; dx <= h; ++dx)
      dist[(dy + h) * span + (dx + h)] =
          static_cast<float>(1.0 + std::sqrt(double(dx * dx + dy * dy)) / h);

  // Similarity thresholds from the whole scene (set by the tiled driver) or this input.
  std::vector<float> thr1(nb), thr2(nb);
  const double factor = o.std_threshold_without_factor ? 1.0 : 2.0 / o.classes;
  for (int b = 0; b < nb; ++b) {
    BandStats s1, s2;
    const SceneStats* scene = in.scene_stats.get();
    const int k1 = scene ? scene->index_of(in.pairs[0].date) : -1;
    const int k2 = scene ? scene->index_of(in.pairs[1].date) : -1;
    if (k1 >= 0 && k2 >= 0 && static_cast<int>(scene->fine[k1].size()) > b &&
        static_cast<int>(scene->fine[k2].size()) > b) {
      s1 = scene->fine[k1][b];
      s2 = scene->fine[k2][b];
    } else {
      s1 = band_stats(L1r, b);
      s2 = band_stats(L2r, b);
    }
    thr1[b] = std::isfinite(s1.stddev) ? static_cast<float>(s1.stddev * factor) : 0.0f;
    thr2[b] = std::isfinite(s2.stddev) ? static_cast<float>(s2.stddev * factor) : 0.0f;
  }

  FusionResult out;
  out.fine = Raster(in.coarse.grid(), nb, 0.0f, false);
  out.fine.units = M0r.units;
  out.quality = Raster(in.coarse.grid(), 4, 0.0f, true);
  out.quality.units = "";
  out.quality.band_names = {"n_similar", "rule", "v", "t1"};

  const double mean_diff_min = 0.02 * o.dn_max;
  const int xlo = region.x0 - h, xhi = region.x0 + region.width + h;  // columns of window sums
  const int ncols = xhi - xlo;

#pragma omp parallel
  {
    std::vector<float> kf(static_cast<size_t>(span) * span), wc(kf.size());
    // Column sums of the coarse images over the window rows: [band][image 0..2][column], count.
    std::vector<double> colsum(static_cast<size_t>(nb) * 3 * ncols), colcnt(ncols);
    std::vector<double> win_mean(static_cast<size_t>(nb) * 3);

#pragma omp for schedule(static)
    for (int y = region.y0; y < region.y0 + region.height; ++y) {
      // Window sums for the temporal weights: column sums in a fixed order (so that the result
      // does not depend on where the tile starts), then a sum over the window's columns.
      for (int c = 0; c < ncols; ++c) {
        double cnt = 0;
        for (int dy = -h; dy <= h; ++dy) cnt += v3[g.at(xlo + c, y + dy)];
        colcnt[c] = cnt;
      }
      for (int b = 0; b < nb; ++b) {
        const float* imgs[3] = {M0[b].data(), M1[b].data(), M2[b].data()};
        for (int k = 0; k < 3; ++k) {
          double* cs = colsum.data() + (static_cast<size_t>(b) * 3 + k) * ncols;
          for (int c = 0; c < ncols; ++c) {
            double s = 0;
            for (int dy = -h; dy <= h; ++dy) s += imgs[k][g.at(xlo + c, y + dy)];
            cs[c] = s;  // invalid pixels hold 0, but M1/M2/M0 validity may differ: see below
          }
        }
      }
      // Invalid coarse pixels hold 0 in their own plane, but a pixel must count only when all
      // three coarse images are valid there; correct sums where the masks disagree.
      for (int b = 0; b < nb; ++b) {
        const float* imgs[3] = {M0[b].data(), M1[b].data(), M2[b].data()};
        for (int k = 0; k < 3; ++k) {
          double* cs = colsum.data() + (static_cast<size_t>(b) * 3 + k) * ncols;
          for (int c = 0; c < ncols; ++c) {
            if (colcnt[c] == span) continue;  // all valid: nothing to correct
            double s = 0;
            for (int dy = -h; dy <= h; ++dy) {
              const size_t i = g.at(xlo + c, y + dy);
              if (v3[i]) s += imgs[k][i];
            }
            cs[c] = s;
          }
        }
      }

      for (int x = region.x0; x < region.x0 + region.width; ++x) {
        const size_t ci = g.at(x, y);
        const size_t oi = static_cast<size_t>(y) * W + x;
        if (!vc[ci]) continue;
        // Window means of M0, M1, M2.
        const int c0 = x - h - xlo;
        double cnt = 0;
        for (int c = c0; c < c0 + span; ++c) cnt += colcnt[c];
        if (cnt == 0) continue;
        for (int b = 0; b < nb; ++b)
          for (int k = 0; k < 3; ++k) {
            const double* cs = colsum.data() + (static_cast<size_t>(b) * 3 + k) * ncols;
            double s = 0;
            for (int c = c0; c < c0 + span; ++c) s += cs[c];
            win_mean[b * 3 + k] = s / cnt;
          }

        // Pass A: similar pixels (both pairs, every band) and their weights 1 / C.
        double n = 0, sw = 0;
        for (int dy = -h; dy <= h; ++dy) {
          const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
          float* K = kf.data() + static_cast<size_t>(dy + h) * span;
          float* WC = wc.data() + static_cast<size_t>(dy + h) * span;
          const float* VA = v5f.data() + r0;
          for (int j = 0; j < span; ++j) K[j] = VA[j];
          for (int b = 0; b < nb; ++b) {
            const float* l1 = L1[b].data() + r0;
            const float* l2 = L2[b].data() + r0;
            const float l1c = L1[b][ci], l2c = L2[b][ci], t1 = thr1[b], t2 = thr2[b];
            for (int j = 0; j < span; ++j) {
              const bool sim = (std::fabs(l1[j] - l1c) <= t1) & (std::fabs(l2[j] - l2c) <= t2);
              K[j] = sim ? K[j] : 0.0f;
            }
          }
          const float* OMS = one_minus_s.data() + r0;
          const float* D = dist.data() + static_cast<size_t>(dy + h) * span;
          float rn = 0.0f, rw = 0.0f;
#pragma omp simd reduction(+ : rn, rw)
          for (int j = 0; j < span; ++j) {
            const float w = K[j] > 0.5f ? 1.0f / (OMS[j] * D[j] + 1e-7f) : 0.0f;
            WC[j] = w;
            rw += w;
            rn += K[j];
          }
          n += rn;  // row sums combined in a fixed order, in double
          sw += rw;
        }

        int rule = kNone;
        double v_first = 1.0, t1_first = 0.0;
        for (int b = 0; b < nb; ++b) {
          const double m0w = win_mean[b * 3 + 0], m1w = win_mean[b * 3 + 1], m2w = win_mean[b * 3 + 2];
          const double it1 = 1.0 / (std::fabs(m0w - m1w) + 1e-10);
          const double it2 = 1.0 / (std::fabs(m0w - m2w) + 1e-10);
          const double T1 = it1 / (it1 + it2), T2 = it2 / (it1 + it2);
          const double l1c = L1[b][ci], l2c = L2[b][ci];
          double pred;
          int brule;
          double V = 1.0;
          if (n <= 5) {
            pred = T1 * (l1c + (m0w - m1w)) + T2 * (l2c + (m0w - m2w));
            brule = kFewSimilar;
          } else {
            // Pass B: weighted coarse changes and fine values, and candidate sums (shifted by
            // the centre's fine value of each pair, so that float sums keep their precision).
            const float c1 = L1[b][ci], c2 = L2[b][ci];
            double A1 = 0, A2 = 0, F1 = 0, F2 = 0, X1 = 0, X2 = 0, Y1 = 0, Y2 = 0;
            for (int dy = -h; dy <= h; ++dy) {
              const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
              const float* K = kf.data() + static_cast<size_t>(dy + h) * span;
              const float* WC = wc.data() + static_cast<size_t>(dy + h) * span;
              const float *l1 = L1[b].data() + r0, *l2 = L2[b].data() + r0;
              const float *m1 = M1[b].data() + r0, *m2 = M2[b].data() + r0, *m0 = M0[b].data() + r0;
              float a1 = 0, a2 = 0, f1 = 0, f2 = 0, x1 = 0, x2 = 0, y1 = 0, y2 = 0;
#pragma omp simd reduction(+ : a1, a2, f1, f2, x1, x2, y1, y2)
              for (int i = 0; i < span; ++i) {
                a1 += WC[i] * (m0[i] - m1[i]);
                a2 += WC[i] * (m0[i] - m2[i]);
                f1 += WC[i] * (l1[i] - c1);
                f2 += WC[i] * (l2[i] - c2);
                x1 += K[i] * (m1[i] - c1);
                x2 += K[i] * (m2[i] - c2);
                y1 += K[i] * (l1[i] - c1);
                y2 += K[i] * (l2[i] - c2);
              }
              A1 += a1; A2 += a2; F1 += f1; F2 += f2;
              X1 += x1; X2 += x2; Y1 += y1; Y2 += y2;
            }
            // Candidate means (unshifted) and the ubESTARFM bias of each pair.
            const double mM1 = X1 / n + c1, mM2 = X2 / n + c2;
            const double mL1 = Y1 / n + c1, mL2 = Y2 / n + c2;
            const double b1 = o.zero_bias ? mM1 - mL1 : 0.0;
            const double b2 = o.zero_bias ? mM2 - mL2 : 0.0;
            if (!o.fixed_v && std::fabs(mM1 - mM2) >= mean_diff_min) {
              double XX1 = 0, XX2 = 0, YY1 = 0, YY2 = 0, XY1 = 0, XY2 = 0;
              for (int dy = -h; dy <= h; ++dy) {
                const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
                const float* K = kf.data() + static_cast<size_t>(dy + h) * span;
                const float *l1 = L1[b].data() + r0, *l2 = L2[b].data() + r0;
                const float *m1 = M1[b].data() + r0, *m2 = M2[b].data() + r0;
                float xx1 = 0, xx2 = 0, yy1 = 0, yy2 = 0, xy1 = 0, xy2 = 0;
#pragma omp simd reduction(+ : xx1, xx2, yy1, yy2, xy1, xy2)
                for (int i = 0; i < span; ++i) {
                  const float dx1 = K[i] * (m1[i] - c1), dx2 = K[i] * (m2[i] - c2);
                  const float dy1 = K[i] * (l1[i] - c1), dy2 = K[i] * (l2[i] - c2);
                  xx1 += dx1 * dx1; xx2 += dx2 * dx2;
                  yy1 += dy1 * dy1; yy2 += dy2 * dy2;
                  xy1 += dx1 * dy1; xy2 += dx2 * dy2;
                }
                XX1 += xx1; XX2 += xx2; YY1 += yy1; YY2 += yy2; XY1 += xy1; XY2 += xy2;
              }
              // Regression of [L1; L2] (+ bias) on [M1; M2], all 2n values, in a frame shifted
              // by c1: pair 2 values are re-shifted by d = c2 - c1 (y also by its bias).
              const double N = 2.0 * n;
              const double dx2s = c2 - c1;
              const double dy1s = b1, dy2s = c2 - c1 + b2;
              const double Sx = X1 + X2 + n * dx2s;
              const double Sy = Y1 + n * dy1s + Y2 + n * dy2s;
              const double Sxx = XX1 + XX2 + 2 * dx2s * X2 + n * dx2s * dx2s;
              const double Syy = YY1 + 2 * dy1s * Y1 + n * dy1s * dy1s + YY2 + 2 * dy2s * Y2 +
                                 n * dy2s * dy2s;
              const double Sxy = XY1 + dy1s * X1 + XY2 + dy2s * X2 + dx2s * Y2 + n * dx2s * dy2s;
              const double sxx = Sxx - Sx * Sx / N, syy = Syy - Sy * Sy / N, sxy = Sxy - Sx * Sy / N;
              if (sxx > 0) {
                const double slope = sxy / sxx;
                const double ssr = slope * sxy;
                const double sse = std::max(0.0, syy - ssr);
                const double p = sse > 0 ? stats::f_sf(ssr / (sse / (N - 2)), 1.0, N - 2) : 0.0;
                if (p <= 0.05 && slope > 0 && slope <= 5) V = slope;
              }
            }
            pred = T1 * (l1c + b1 + V * A1 / sw) + T2 * (l2c + b2 + V * A2 / sw);
            brule = kSimilar;
            if (!(pred > o.dn_min && pred < o.dn_max)) {
              pred = T1 * (F1 / sw + c1 + b1) + T2 * (F2 / sw + c2 + b2);
              brule = kRangeFallback;
            }
          }
          out.fine.band(b)[oi] = static_cast<float>(pred);
          out.fine.mask(b)[oi] = std::isfinite(pred) ? 1 : 0;
          if (b == 0) {
            rule = brule;
            v_first = V;
            t1_first = T1;
          }
        }
        out.quality.band(0)[oi] = static_cast<float>(n);
        out.quality.band(1)[oi] = static_cast<float>(rule);
        out.quality.band(2)[oi] = static_cast<float>(v_first);
        out.quality.band(3)[oi] = static_cast<float>(t1_first);
      }
    }
  }
  return out;
}

}  // namespace lstfuse
