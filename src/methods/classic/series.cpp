#include "lstfuse/methods/classic/series.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/prep/coarse_bias.hpp"
#include "window_planes.hpp"

namespace lstfuse {
namespace cd = classic_detail;

SeriesMethod::SeriesMethod() {
  option_set_.add("coarse-bias", opts.coarse_bias,
                  "correct the coarse images with the coarse sensor's bias, measured on the pair "
                  "dates and modelled in time for the target date");
  option_set_.add("max-gap", opts.max_gap,
                  "ignore pairs more than this many days from the target (0: use every pair)");
  option_set_.add("denoise-radius", opts.denoise_radius,
                  "half window (pixels) over which each date's fine-coarse anomaly is averaged "
                  "among pixels with a similar persistent difference (0: no averaging)");
  option_set_.add("denoise-sigma", opts.denoise_sigma,
                  "K: scale of the persistent-difference similarity in the averaging weights");
  option_set_.add("min-bias-share", opts.min_bias_share,
                  "a pair's bias is measured when its pixels clear in both images are at least "
                  "this share of the clearest pair's; otherwise it comes from the time model");
  option_set_.add("response", opts.response,
                   "step 4b: add the pixel's learned response to what the target's coarse image shows "
                   "that the neighbouring dates did not (off when --gain is on)");
  option_set_.add("response-radius", opts.response_radius, "half window (pixels) pooling the response over similar pixels");
  option_set_.add("response-sd", opts.response_sd,
                  "prior spread of the response; it shrinks towards 0 where the history is noisy or the coarse surprises small");
  option_set_.add("event-scale", opts.event_scale,
                  "K: each of the two dates weighs 1/days times s / (s + |a|), a the pixel's coarse change "
                  "since that date less the scene's mean change (0: by days only)");
  option_set_.add("gain", opts.gain,
                  "per-pixel gain of the fine LST on the coarse change, from the series");
  option_set_.add("gain-max-lag", opts.gain_max_lag,
                  "days: the longest interval whose fine and coarse changes estimate the gain");
  option_set_.add("gain-radius", opts.gain_radius, "half window (pixels) pooling the gain estimate");
  option_set_.add("gain-prior", opts.gain_prior,
                  "K^2: weight of the prior gain 1 (a pixel needs this much squared coarse change "
                  "to move half-way to its own slope)");
}

const MethodInfo& SeriesMethod::info() const {
  static const MethodInfo mi = [] {
    MethodInfo m{"series", "classic",
                 "every pair of the series: coarse bias modelled in time, denoised fine-coarse "
                 "differences from the nearest clear date on each side of every pixel",
                 1, -1, false, false};
    m.uses_series = true;
    return m;
  }();
  return mi;
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct PairPick {
  int before = -1, after = -1;  // pair index, -1: none
};

}  // namespace

// Ranges that depend on no input: checked by the drivers before any work (a sharded fuse wrote
// a failed record per date first), and again by predict for callers that set options directly.
void SeriesMethod::check_options() const {
  const SeriesOptions& o = opts;
  if (o.denoise_radius < 0 || o.denoise_radius > 50)
    throw Error(fmt::format("series: option --denoise-radius must be within 0..50, got {}", o.denoise_radius));
  if (!(o.denoise_sigma > 0.0) || !std::isfinite(o.denoise_sigma))
    throw Error(fmt::format("series: option --denoise-sigma must be a positive number of kelvin, got {}", o.denoise_sigma));
  if (o.max_gap < 0) throw Error(fmt::format("series: option --max-gap must be >= 0, got {}", o.max_gap));
  if (!(o.min_bias_share >= 0.0 && o.min_bias_share <= 1.0))
    throw Error(fmt::format("series: option --min-bias-share must be within 0..1, got {}", o.min_bias_share));
  if (o.gain_max_lag < 1) throw Error(fmt::format("series: option --gain-max-lag must be >= 1 day, got {}", o.gain_max_lag));
  if (o.gain_radius < 0 || o.gain_radius > 50)
    throw Error(fmt::format("series: option --gain-radius must be within 0..50, got {}", o.gain_radius));
  if (o.response_radius < 0 || o.response_radius > 50)
    throw Error(fmt::format("series: option --response-radius must be within 0..50, got {}", o.response_radius));
  if (!(o.response_sd > 0.0 && o.response_sd <= 10.0))
    throw Error(fmt::format("series: option --response-sd must be within (0, 10], got {}", o.response_sd));
  if (!(o.event_scale >= 0.0 && o.event_scale <= 1000.0))
    throw Error(fmt::format("series: option --event-scale must be within 0..1000 K, got {}", o.event_scale));
  if (!(o.gain_prior > 0.0) || !std::isfinite(o.gain_prior))
    throw Error(fmt::format("series: option --gain-prior must be a positive number of K^2, got {}", o.gain_prior));
}

FusionResult SeriesMethod::predict(const FusionInput& in) {
  validate(in);
  check_options();
  const SeriesOptions& o = opts;
  const int W = in.coarse.width(), H = in.coarse.height();
  const size_t N = in.coarse.band_size();
  const int nb = in.coarse.bands();
  const PixelRect region = cd::target_region(in);
  auto in_gap = [&](const Date& d) { return d != in.date && (o.max_gap == 0 || std::labs(d - in.date) <= o.max_gap); };

  // The pairs this prediction may use, in date order.
  std::vector<int> use;
  for (size_t k = 0; k < in.pairs.size(); ++k)
    if (in_gap(in.pairs[k].date)) use.push_back(static_cast<int>(k));
  const int K = static_cast<int>(use.size());

  FusionResult out;
  out.fine = Raster(in.coarse.grid(), nb, 0.0f, false);
  out.fine.units = in.coarse.units;
  out.quality = Raster(in.coarse.grid(), 5, 0.0f, true);
  out.quality.units = "";
  out.quality.band_names = {"clear_dates", "days_before", "days_after", "gain", "response"};
  last_bias_ = {};

  for (int b = 0; b < nb; ++b) {
    // Step 1: the biases. The time model is fitted on the whole scene's pairs when the tiled
    // driver gave them (a tile may lack some pairs), so every tile uses the same biases.
    std::vector<Date> all_dates;
    std::vector<prep::PairBias> all_bias;
    const SceneStats* scene = in.scene_stats.get();
    if (scene && scene->coarse_bias.size() == scene->dates.size()) {
      for (size_t k = 0; k < scene->dates.size(); ++k) {
        if (!in_gap(scene->dates[k]) || static_cast<int>(scene->coarse_bias[k].size()) <= b) continue;
        all_dates.push_back(scene->dates[k]);
        all_bias.push_back(scene->coarse_bias[k][b]);
      }
    } else {
      for (int k : use) {
        all_dates.push_back(in.pairs[k].date);
        all_bias.push_back(prep::measure_coarse_bias(in.pairs[k].fine, in.pairs[k].coarse, b));
      }
    }
    std::vector<bool> measured;
    const prep::BiasModel model = prep::BiasModel::fit_measured(all_dates, all_bias, o.min_bias_share, &measured);
    std::vector<double> bias(in.pairs.size(), 0.0);
    double b0 = 0.0;
    if (o.coarse_bias) {
      for (int k : use) bias[k] = model.at(in.pairs[k].date).value;
      b0 = model.at(in.date).value;
    }
    if (b == 0) {
      const auto est = model.at(in.date);
      last_bias_.target = o.coarse_bias ? est.value : 0.0;
      last_bias_.target_sd = est.sd;
      for (int k : use) {
        last_bias_.dates.push_back(in.pairs[k].date);
        last_bias_.pair.push_back(bias[k]);
        const auto it = std::find(all_dates.begin(), all_dates.end(), in.pairs[k].date);
        last_bias_.measured.push_back(it != all_dates.end() && measured[static_cast<size_t>(it - all_dates.begin())]);
      }
    }

    // Step 2: D_k = L_k - (M_k - b_k) where both are clear (NaN elsewhere), and P.
    std::vector<float> D(static_cast<size_t>(K) * N, kNaN);
    std::vector<float> C(static_cast<size_t>(K) * N, kNaN);  // corrected coarse where D is valid
    std::vector<float> P(N, kNaN);
    std::vector<unsigned short> clear(N, 0);
#pragma omp parallel for schedule(static)
    for (long long ii = 0; ii < static_cast<long long>(N); ++ii) {
      const size_t i = static_cast<size_t>(ii);
      double s = 0.0;
      int n = 0;
      for (int u = 0; u < K; ++u) {
        const ImagePair& p = in.pairs[use[u]];
        if (!p.fine.mask(b)[i] || !p.coarse.mask(b)[i]) continue;
        const double d = static_cast<double>(p.fine.band(b)[i]) - (static_cast<double>(p.coarse.band(b)[i]) - bias[use[u]]);
        D[static_cast<size_t>(u) * N + i] = static_cast<float>(d);
        C[static_cast<size_t>(u) * N + i] = static_cast<float>(static_cast<double>(p.coarse.band(b)[i]) - bias[use[u]]);
        s += d;
        ++n;
      }
      if (n) P[i] = static_cast<float>(s / n);
      clear[i] = static_cast<unsigned short>(std::min(n, 65535));
    }

    // Pair dates relative to the target, in date order (FusionInput keeps pairs sorted).
    std::vector<long> dt(K);
    for (int u = 0; u < K; ++u) dt[u] = in.pairs[use[u]].date - in.date;

    // Step 4: per-pixel sums of fine and coarse changes between close clear dates, pooled over
    // a window (separable box sums), then the shrunk slope.
    std::vector<float> gain(N, 1.0f);
    if (o.gain) {
      std::vector<double> sxy(N, 0.0), sxx(N, 0.0);
#pragma omp parallel for schedule(static)
      for (long long ii = 0; ii < static_cast<long long>(N); ++ii) {
        const size_t i = static_cast<size_t>(ii);
        double a = 0.0, c = 0.0;
        for (int u = 0; u < K; ++u) {
          const float du = D[static_cast<size_t>(u) * N + i];
          if (std::isnan(du)) continue;
          const double cu = C[static_cast<size_t>(u) * N + i];
          for (int v = u + 1; v < K && dt[v] - dt[u] <= o.gain_max_lag; ++v) {
            const float dv = D[static_cast<size_t>(v) * N + i];
            if (std::isnan(dv)) continue;
            const double dc = C[static_cast<size_t>(v) * N + i] - cu;
            const double dl = (static_cast<double>(dv) - du) + dc;  // L = D + C
            a += dl * dc;
            c += dc * dc;
          }
        }
        sxy[i] = a;
        sxx[i] = c;
      }
      const int g = o.gain_radius;
      auto box = [&](std::vector<double>& f) {
        // Rows then columns; windows clipped at the input's edge like the other window steps.
        std::vector<double> tmp(N, 0.0);
#pragma omp parallel for schedule(static)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            double s = 0.0;
            for (int xx = std::max(0, x - g); xx <= std::min(W - 1, x + g); ++xx) s += f[static_cast<size_t>(y) * W + xx];
            tmp[static_cast<size_t>(y) * W + x] = s;
          }
#pragma omp parallel for schedule(static)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            double s = 0.0;
            for (int yy = std::max(0, y - g); yy <= std::min(H - 1, y + g); ++yy) s += tmp[static_cast<size_t>(yy) * W + x];
            f[static_cast<size_t>(y) * W + x] = s;
          }
      };
      if (g > 0) {
        box(sxy);
        box(sxx);
      }
      for (size_t i = 0; i < N; ++i)
        gain[i] = static_cast<float>((sxy[i] + o.gain_prior) / (sxx[i] + o.gain_prior));
    }

    // Step 3: the denoised anomaly of every clear date at every pixel of the input (the
    // response step needs them beyond the target region), averaged over similar neighbours.
    const int r = o.denoise_radius;
    const float inv2s2 = static_cast<float>(0.5 / (o.denoise_sigma * o.denoise_sigma));
    auto similarity = [&](int x, int y, int radius, std::vector<float>& wts) {
      int t = 0;
      for (int yy = y - radius; yy <= y + radius; ++yy)
        for (int xx = x - radius; xx <= x + radius; ++xx, ++t) {
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) {
            wts[t] = 0.0f;
            continue;
          }
          const float pj = P[static_cast<size_t>(yy) * W + xx];
          const float d = pj - P[static_cast<size_t>(y) * W + x];
          wts[t] = std::isnan(pj) ? 0.0f : std::exp(-d * d * inv2s2);
        }
    };
    std::vector<float> A(static_cast<size_t>(K) * N, kNaN);
#pragma omp parallel for schedule(static)
    for (int y = 0; y < H; ++y) {
      std::vector<float> wts(static_cast<size_t>((2 * r + 1) * (2 * r + 1)), 0.0f);
      for (int x = 0; x < W; ++x) {
        const size_t i = static_cast<size_t>(y) * W + x;
        if (std::isnan(P[i])) continue;
        similarity(x, y, r, wts);
        for (int u = 0; u < K; ++u) {
          const float* Du = D.data() + static_cast<size_t>(u) * N;
          if (std::isnan(Du[i])) continue;
          double num = 0.0, den = 0.0;
          int t = 0;
          for (int yy = y - r; yy <= y + r; ++yy)
            for (int xx = x - r; xx <= x + r; ++xx, ++t) {
              if (wts[t] == 0.0f) continue;
              const size_t j = static_cast<size_t>(yy) * W + xx;
              if (std::isnan(Du[j])) continue;
              num += wts[t] * (static_cast<double>(Du[j]) - P[j]);
              den += wts[t];
            }
          A[static_cast<size_t>(u) * N + i] = static_cast<float>(num / den);  // den >= 1: centre clear
        }
      }
    }

    // Step 4b: the response to coarse surprises. On each clear date, what the time
    // interpolation from the pixel's neighbouring clear dates misses in the fine-coarse
    // difference (R) and in the coarse image (E); the pooled, shrunk slope beta of R on E says
    // how much more or less than its coarse pixel the fine pixel reacts to what the coarse
    // image shows that the neighbouring dates did not (a class's response to weather and rain).
    std::vector<float> beta(N, 0.0f);
    if (o.response && !o.gain) {  // the gain models the same thing; never both
      std::vector<double> sxy(N, 0.0), sxx(N, 0.0), syy(N, 0.0), cnt(N, 0.0);
#pragma omp parallel
      {
      std::vector<int> cl;  // the pixel's clear dates, reused
#pragma omp for schedule(static)
      for (long long ii = 0; ii < static_cast<long long>(N); ++ii) {
        const size_t i = static_cast<size_t>(ii);
        if (std::isnan(P[i])) continue;
        cl.clear();
        for (int u = 0; u < K; ++u)
          if (!std::isnan(D[static_cast<size_t>(u) * N + i])) cl.push_back(u);
        double a = 0.0, c = 0.0, q = 0.0, m = 0.0;
        for (size_t j = 0; j < cl.size(); ++j) {
          double sw = 0.0, sd = 0.0, sc = 0.0;
          for (size_t n : {j - 1, j + 1}) {
            if (n >= cl.size()) continue;  // j - 1 wraps for j == 0
            const double w = 1.0 / static_cast<double>(std::labs(dt[cl[n]] - dt[cl[j]]));
            const size_t k = static_cast<size_t>(cl[n]) * N + i;
            sw += w;
            sd += w * (static_cast<double>(P[i]) + A[k]);
            sc += w * C[k];
          }
          if (sw == 0.0) continue;
          const size_t k = static_cast<size_t>(cl[j]) * N + i;
          const double rr = static_cast<double>(P[i]) + A[k] - sd / sw;
          const double e = C[k] - sc / sw;
          a += rr * e;
          c += e * e;
          q += rr * rr;
          m += 1.0;
        }
        sxy[i] = a;
        sxx[i] = c;
        syy[i] = q;
        cnt[i] = m;
      }
      }
      const int pr = o.response_radius;
#pragma omp parallel for schedule(static)
      for (int y = 0; y < H; ++y) {
        std::vector<float> wts(static_cast<size_t>((2 * pr + 1) * (2 * pr + 1)), 0.0f);
        for (int x = 0; x < W; ++x) {
          const size_t i = static_cast<size_t>(y) * W + x;
          if (std::isnan(P[i])) continue;
          similarity(x, y, pr, wts);
          double a = 0.0, c = 0.0, q = 0.0, m = 0.0;
          int t = 0;
          for (int yy = y - pr; yy <= y + pr; ++yy)
            for (int xx = x - pr; xx <= x + pr; ++xx, ++t) {
              if (wts[t] == 0.0f) continue;
              const size_t j = static_cast<size_t>(yy) * W + xx;
              a += wts[t] * sxy[j];
              c += wts[t] * sxx[j];
              q += wts[t] * syy[j];
              m += wts[t] * cnt[j];
            }
          // Posterior mean under a prior beta ~ N(0, sd^2) with the residual variance of R
          // around beta E estimated from the same sums: noisy histories shrink more.
          if (c <= 0.0 || m < 3.0) continue;
          const double s2 = std::max(q - a * a / c, 0.0) / (m - 1.0);
          beta[i] = static_cast<float>(a / (c + s2 / (o.response_sd * o.response_sd)));
        }
      }
    }

    const float* m0 = in.coarse.band(b);
    const uint8_t* v0 = in.coarse.mask(b);

    // Step 5's event weights: the scene's mean corrected coarse change of each date against the
    // target (from the whole scene when the tiled driver gave it, so that tiles agree).
    std::vector<double> mean_change(static_cast<size_t>(K), 0.0);
    if (o.event_scale > 0.0) {
      for (int u = 0; u < K; ++u) {
        // With scene statistics, only theirs (a date they lack counts as no mean change), never
        // this tile's, so that every tile of a scene uses the same value.
        double raw = std::numeric_limits<double>::quiet_NaN();
        if (scene) {
          const int si = scene->index_of(in.pairs[use[u]].date);
          if (si >= 0 && static_cast<size_t>(si) < scene->coarse_change.size() &&
              static_cast<int>(scene->coarse_change[static_cast<size_t>(si)].size()) > b)
            raw = scene->coarse_change[static_cast<size_t>(si)][static_cast<size_t>(b)];
        } else {
          raw = mean_difference(in.coarse, in.pairs[use[u]].coarse, b);
        }
        mean_change[static_cast<size_t>(u)] = std::isfinite(raw) ? raw - b0 + bias[use[u]] : 0.0;
      }
    }

    // Step 5 per pixel of the region.
    float* dst = out.fine.band(b);
    uint8_t* dvalid = out.fine.mask(b);
#pragma omp parallel for schedule(static)
    for (int y = region.y0; y < region.y0 + region.height; ++y) {
      for (int x = region.x0; x < region.x0 + region.width; ++x) {
        const size_t i = static_cast<size_t>(y) * W + x;
        if (b == 0) out.quality.band(0)[i] = clear[i];
        if (!v0[i] || std::isnan(P[i])) continue;
        PairPick pick;
        for (int u = 0; u < K; ++u) {
          if (std::isnan(D[static_cast<size_t>(u) * N + i])) continue;
          if (dt[u] < 0) pick.before = u;
          else if (pick.after < 0) pick.after = u;
        }
        if (pick.before < 0 && pick.after < 0) continue;
        const double c0 = static_cast<double>(m0[i]) - b0;
        double sw = 0.0, sv = 0.0, sc = 0.0;
        for (int u : {pick.before, pick.after}) {
          if (u < 0) continue;
          const size_t k = static_cast<size_t>(u) * N + i;
          double w = 1.0 / static_cast<double>(std::labs(dt[u]));
          if (o.event_scale > 0.0)
            w *= o.event_scale / (o.event_scale + std::abs(c0 - C[k] - mean_change[static_cast<size_t>(u)]));
          sw += w;
          sv += w * (static_cast<double>(P[i]) + A[k] + (gain[i] - 1.0) * (c0 - C[k]));
          sc += w * C[k];
        }
        dst[i] = static_cast<float>(c0 + sv / sw + beta[i] * (c0 - sc / sw));
        dvalid[i] = 1;
        if (b == 0) {
          out.quality.band(1)[i] = pick.before < 0 ? 0.0f : static_cast<float>(-dt[pick.before]);
          out.quality.band(2)[i] = pick.after < 0 ? 0.0f : static_cast<float>(dt[pick.after]);
          out.quality.band(3)[i] = gain[i];
          out.quality.band(4)[i] = beta[i];
        }
      }
    }
  }
  return out;
}

}  // namespace lstfuse
