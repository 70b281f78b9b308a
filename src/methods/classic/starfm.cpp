// STARFM in the steps of Gao et al. 2006, each function computing its equations
// (docs/methods.md lists them): each pair's own prediction and its spectral and temporal
// differences (S, Eq. 6; T, Eq. 7), the relative distance D, candidate filtering and the
// weights 1 / C, and the weighted prediction (Eq. 5). tests/methods/test_classic_reference.cpp
// checks it against a literal per-pixel version. Windows run over padded planes in a fixed
// order, so that tiled and whole-scene results agree bit for bit.
#include "lstfuse/methods/classic/starfm.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "window_planes.hpp"

namespace lstfuse {
namespace cd = classic_detail;

StarfmMethod::StarfmMethod() {
  option_set_.add("window", opts.window, "moving window size in fine pixels (odd)");
  option_set_.add("search-distance", opts.search_distance,
                  "search distance in metres; > 0 overrides --window");
  option_set_.add("classes", opts.classes,
                  "number of classes: similarity threshold = std(fine) * 2 / classes");
  option_set_.add("fine-uncertainty", opts.fine_uncertainty, "uncertainty of the fine images (K)");
  option_set_.add("coarse-uncertainty", opts.coarse_uncertainty,
                  "uncertainty of the coarse images (K)");
  option_set_.limit("window", 3, 1001);
  option_set_.require_odd("window");
  option_set_.limit("search-distance", 0, 1e6);
  option_set_.limit("classes", 1, 1000);
  option_set_.limit("fine-uncertainty", 0, 100);
  option_set_.limit("coarse-uncertainty", 0, 100);
}

const MethodInfo& StarfmMethod::info() const {
  static const MethodInfo mi{"starfm", "classic",
                             "STARFM (Gao 2006): similar pixels in a moving window, one or more pairs",
                             1, -1, false, false, false, true};  // bias step on: measured to help
  return mi;
}

namespace {

// Metres per CRS unit along x at the grid's centre: geographic grids are in degrees.
double metres_per_unit(const Grid& g) {
  const std::string head = g.crs.substr(0, 8);
  const bool geographic = head.rfind("GEOGCS", 0) == 0 || head.rfind("GEOGCRS", 0) == 0 ||
                          head.rfind("GEODCRS", 0) == 0;
  if (!geographic) return 1.0;
  const double lat = 0.5 * (g.min_y() + g.max_y()) * M_PI / 180.0;
  return 111320.0 * std::cos(lat);
}

// 1 / D for every window offset, D = 1 + d / A with A the half window (Gao: the
// maximum search distance over the resolution). Rows of Planes::row_span(span) entries: the
// columns past the window hold 0, which marks them as outside it.
std::vector<float> inverse_relative_distance(int h) {
  const int span = 2 * h + 1, run = cd::Planes::row_span(span);
  std::vector<float> inv_d(static_cast<size_t>(span) * run, 0.0f);
  for (int dy = -h; dy <= h; ++dy)
    for (int dx = -h; dx <= h; ++dx)
      inv_d[(dy + h) * run + (dx + h)] = static_cast<float>(1.0 / (1.0 + std::sqrt(double(dx * dx + dy * dy)) / h));
  return inv_d;
}

// One pair's quantities for every pixel valid in L_k, M_k and M_0 (band b), as padded planes:
// S = |L_k - M_k| (Eq. 6), T = |M_k - M_0| (Eq. 7), 1 / ((S + 1)(T + 1)) (1 / C without D, 1
// added as in Gao's code so that an exact match does not weigh infinitely), and the pixel's own
// prediction V = M_0 + L_k - M_k.
struct PairPlanes {
  std::vector<float> L, S, T, inv_p, V, valid;
  float thr = 0.0f;  // similarity threshold of this pair
};

PairPlanes pair_planes(const cd::Planes& g, const FusionInput& in, int k, int b, const std::vector<float>& m0) {
  const int W = g.width, H = g.height;
  const Raster& Lr = in.pairs[k].fine;
  const Raster& Mr = in.pairs[k].coarse;
  PairPlanes p;
  p.L = cd::to_plane(g, Lr, b);
  const std::vector<float> m = cd::to_plane(g, Mr, b);
  p.S = g.plane();
  p.T = g.plane();
  p.inv_p = g.plane();
  p.V = g.plane();
  p.valid = g.plane();
  for (int y = 0; y < H; ++y) {
    const size_t row = static_cast<size_t>(y) * W;
    const uint8_t *ml = Lr.mask(b) + row, *mm = Mr.mask(b) + row, *m0m = in.coarse.mask(b) + row;
    for (int x = 0; x < W; ++x) {
      if (!(ml[x] && mm[x] && m0m[x])) continue;
      const size_t i = g.at(x, y);
      const float s = std::fabs(p.L[i] - m[i]);
      const float t = std::fabs(m0[i] - m[i]);
      p.S[i] = s;
      p.T[i] = t;
      p.inv_p[i] = 1.0f / ((s + 1.0f) * (t + 1.0f));
      p.V[i] = p.L[i] + m0[i] - m[i];
      p.valid[i] = 1.0f;
    }
  }
  return p;
}

// The spectral similarity threshold of pair k, band b: std(L_k) * 2 / classes, std over the
// whole scene when the tiled driver passed its statistics.
float similarity_threshold(const FusionInput& in, int k, int b, int classes) {
  const SceneStats* scene = in.scene_stats.get();
  BandStats st;
  const int ks = scene ? scene->index_of(in.pairs[k].date) : -1;
  if (ks >= 0 && b < static_cast<int>(scene->fine[ks].size())) {
    st = scene->fine[ks][b];
  } else {
    st = band_stats(in.pairs[k].fine, b);
  }
  return std::isfinite(st.stddev) ? static_cast<float>(st.stddev * 2.0 / classes) : 0.0f;
}

// One pair's part of Eq. 5 for centre ci: over the window's candidates (valid, spectrally
// similar to the centre, and not worse than the centre on both S and T beyond the sensors'
// uncertainties) the sum of the weights 1 / C, of the weighted
// predictions relative to the centre's fine value, and the count.
struct PairSums {
  double w = 0.0, wv = 0.0, n = 0.0;
};

LSTFUSE_WINDOW_KERNEL PairSums pair_window_sums(const cd::Planes& g, const PairPlanes& p, int h, size_t ci,
                                                const std::vector<float>& inv_d, float sig_lm, float sig_mm) {
  const int run = cd::Planes::row_span(2 * h + 1);
  const cd::Lanes lc = cd::splat(p.L[ci]), thr = cd::splat(p.thr);
  const cd::Lanes smax = cd::splat(p.S[ci] + sig_lm), tmax = cd::splat(p.T[ci] + sig_mm);
  const cd::Lanes zero = cd::splat(0.0f), half = cd::splat(0.5f), one = cd::splat(1.0f);
  cd::Lanes w_sum = zero, wv_sum = zero, n_sum = zero;
  for (int dy = -h; dy <= h; ++dy) {
    const size_t r0 = ci + static_cast<long>(dy) * g.stride - h;
    const float* ID = inv_d.data() + static_cast<size_t>(dy + h) * run;
    for (int i = 0; i < run; i += cd::Planes::kVectorRun) {
      const size_t at = r0 + i;
      const cd::Lanes id = cd::load(ID + i), L = cd::load(p.L.data() + at);
      // Inside the window (1 / D > 0), valid, similar, and not worse than the centre on both
      // differences.
      const cd::LaneMask keep = (id > zero) & (cd::load(p.valid.data() + at) > half) & cd::within(L, lc, thr) &
                                ((cd::load(p.S.data() + at) <= smax) | (cd::load(p.T.data() + at) <= tmax));
      const cd::Lanes w = cd::keep_where(keep, cd::load(p.inv_p.data() + at) * id);
      w_sum += w;
      wv_sum += w * (cd::load(p.V.data() + at) - lc);
      n_sum += cd::keep_where(keep, one);
    }
  }
  return {cd::sum_lanes(w_sum), cd::sum_lanes(wv_sum), cd::sum_lanes(n_sum)};
}

}  // namespace

int StarfmMethod::half_window(const Grid& grid) const {
  if (opts.search_distance > 0.0) {
    const double res = std::fabs(grid.res_x()) * metres_per_unit(grid);
    if (!(res > 0.0)) throw Error("starfm: the grid has no pixel size to convert --search-distance");
    // Rounded and capped in double: a pixel size near 0 overflowed int and wrapped to a small
    // window; a capped one is refused by check_window_fits as larger than the image.
    return static_cast<int>(std::clamp(std::round(opts.search_distance / res), 1.0, static_cast<double>(1 << 28)));
  }
  return opts.window / 2;
}

int StarfmMethod::halo() const {
  if (opts.search_distance > 0.0 && halo_for_grid_ >= 0) return halo_for_grid_;
  return opts.window / 2;
}

FusionResult StarfmMethod::predict(const FusionInput& in) {
  validate(in);
  if (opts.window < 3 || opts.window % 2 == 0) {
    throw Error(fmt::format("starfm: option --window must be an odd number >= 3, got {}", opts.window));
  }
  if (opts.classes < 1) throw Error("starfm: option --classes must be >= 1");
  if (opts.fine_uncertainty < 0 || opts.coarse_uncertainty < 0) {
    throw Error("starfm: uncertainties must be >= 0");
  }
  const int h = half_window(in.coarse.grid());
  halo_for_grid_ = h;
  const int W = in.coarse.width(), H = in.coarse.height();
  cd::check_window_fits("starfm", opts.search_distance > 0.0 ? "--search-distance" : "--window", h, W, H);
  const int nb = in.coarse.bands();
  const int np = static_cast<int>(in.pairs.size());
  const cd::Planes g(W, H, h);
  const PixelRect region = cd::target_region(in);

  const std::vector<float> inv_d = inverse_relative_distance(h);  // 1 / D
  // The sensors' uncertainties widen the candidate filter.
  const float sig_lm = static_cast<float>(std::hypot(opts.fine_uncertainty, opts.coarse_uncertainty));
  const float sig_mm = static_cast<float>(std::sqrt(2.0) * opts.coarse_uncertainty);

  FusionResult out;
  out.fine = Raster(in.coarse.grid(), nb, 0.0f, false);
  out.fine.units = in.coarse.units;
  out.quality = Raster(in.coarse.grid(), 3, 0.0f, true);
  out.quality.units = "";
  out.quality.band_names = {"n_candidates", "weight_sum", "pairs_used"};

  for (int b = 0; b < nb; ++b) {
    std::vector<PairPlanes> pp;
    const std::vector<float> m0 = cd::to_plane(g, in.coarse, b);
    for (int k = 0; k < np; ++k) {
      pp.push_back(pair_planes(g, in, k, b, m0));  // V, S (Eq. 6), T (Eq. 7)
      pp.back().thr = similarity_threshold(in, k, b, opts.classes);
    }

    float* o = out.fine.band(b);
    uint8_t* ov = out.fine.mask(b);
    float* q_n = out.quality.band(0);
    float* q_w = out.quality.band(1);
    float* q_p = out.quality.band(2);
#pragma omp parallel for schedule(static)
    for (int y = region.y0; y < region.y0 + region.height; ++y) {
      for (int x = region.x0; x < region.x0 + region.width; ++x) {
        const size_t ci = g.at(x, y);
        // Eq. 5: sum over pairs and candidates of W (M_0 + L_k - M_k), W = (1 / C) / sum (1 / C);
        // the pairs' sums are relative to their centre's fine value.
        double sum_w = 0.0, sum_wv = 0.0;
        long n = 0;
        int pairs_used = 0;
        for (int k = 0; k < np; ++k) {
          const PairPlanes& p = pp[k];
          if (p.valid[ci] == 0.0f) continue;
          ++pairs_used;
          const PairSums s = pair_window_sums(g, p, h, ci, inv_d, sig_lm, sig_mm);
          sum_w += s.w;
          sum_wv += s.wv + s.w * p.L[ci];
          n += static_cast<long>(s.n);
        }
        const size_t oi = static_cast<size_t>(y) * W + x;
        if (n == 0 || !(sum_w > 0.0)) continue;
        o[oi] = static_cast<float>(sum_wv / sum_w);
        ov[oi] = 1;
        if (b == 0) {
          q_n[oi] = static_cast<float>(n);
          q_w[oi] = static_cast<float>(sum_w);
          q_p[oi] = static_cast<float>(pairs_used);
        }
      }
    }
  }
  return out;
}

}  // namespace lstfuse
