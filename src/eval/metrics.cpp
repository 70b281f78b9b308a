// The metrics of docs/metrics.md. Two passes per band in double precision (means first, then
// centred sums) so that CC, R2 and ubRMSE stay exact around 300 K; partial sums are kept per
// fixed row chunk and added in order, so results do not depend on the thread count.
#include "lstfuse/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kRadToDeg = 180.0 / M_PI;
constexpr int kChunkRows = 16;

// Angle between two vectors from the distance of their unit vectors: exact 0 for identical
// vectors and well conditioned for small angles, unlike acos of a cosine near 1.
double angle_deg_from_unit_distance(double dist) {
  return 2.0 * std::asin(std::min(1.0, dist / 2.0)) * kRadToDeg;
}

struct Pass1 {
  long long n = 0;
  double sx = 0, sy = 0, sxx = 0, syy = 0;
  double minx = std::numeric_limits<double>::infinity();
  double maxx = -std::numeric_limits<double>::infinity();
  void add(const Pass1& o) {
    n += o.n;
    sx += o.sx;
    sy += o.sy;
    sxx += o.sxx;
    syy += o.syy;
    minx = std::min(minx, o.minx);
    maxx = std::max(maxx, o.maxx);
  }
};

struct Pass2 {
  double dxx = 0, dyy = 0, dxy = 0;  // centred (co)moments
  double se = 0, sae = 0, see = 0;   // error sums
  double ecc = 0;                    // sum of (e - mean e)^2
  double sam_d2 = 0;                 // sum of (x/|x| - y/|y|)^2
  std::vector<long long> below, hist;
  long long overflow = 0;
  void add(const Pass2& o) {
    dxx += o.dxx;
    dyy += o.dyy;
    dxy += o.dxy;
    se += o.se;
    sae += o.sae;
    see += o.see;
    ecc += o.ecc;
    sam_d2 += o.sam_d2;
    for (size_t i = 0; i < below.size(); ++i) below[i] += o.below[i];
    for (size_t i = 0; i < hist.size(); ++i) hist[i] += o.hist[i];
    overflow += o.overflow;
  }
};

// Per band: the sums from which every scalar metric follows.
struct BandSums {
  Pass1 p1;
  Pass2 p2;
  double mx = 0, my = 0;
};

void check_inputs(const Raster& pred, const Raster& ref, const MetricsOptions& opts) {
  if (pred.empty() || ref.empty()) throw Error("metrics: empty prediction or reference raster");
  if (!io::same_grid(pred.grid(), ref.grid())) {
    throw Error("metrics: prediction and reference are on different grids (prediction vs reference: " +
                pred.grid().describe_vs(ref.grid()) +
                "); resample one of them first, metrics never resample");
  }
  if (pred.bands() != ref.bands()) {
    throw Error(fmt::format("metrics: prediction has {} bands, reference {}", pred.bands(),
                            ref.bands()));
  }
  if (opts.mask) {
    if (!io::same_grid(opts.mask->grid(), ref.grid())) {
      throw Error("metrics: mask is on a different grid (" + opts.mask->grid().describe() +
                  ") than the reference (" + ref.grid().describe() + ")");
    }
    if (opts.mask->bands() != 1 && opts.mask->bands() != ref.bands()) {
      throw Error(fmt::format("metrics: mask has {} bands; expected {}", opts.mask->bands(),
                              ref.bands() == 1 ? std::string("1") : fmt::format("1 or {}", ref.bands())));
    }
  }
  if (opts.data_range && !(*opts.data_range > 0.0 && std::isfinite(*opts.data_range))) {
    throw Error(fmt::format("metrics: data range must be positive, got {}", *opts.data_range));
  }
  if (opts.ergas_ratio && !(*opts.ergas_ratio > 0.0)) {
    throw Error(fmt::format("metrics: ERGAS ratio h/l must be positive, got {}",
                            *opts.ergas_ratio));
  }
  if (!opts.ergas_ratio && !(opts.coarse_res_m > 0.0)) {
    throw Error(fmt::format("metrics: coarse resolution must be positive, got {} m",
                            opts.coarse_res_m));
  }
  if (!(opts.hist_bin_width > 0.0) || opts.hist_bins < 1) {
    throw Error("metrics: histogram needs a positive bin width and at least one bin");
  }
}

// 1 where band b counts: valid in both images and in the mask (valid and non-zero).
std::vector<uint8_t> combined_valid(const Raster& pred, const Raster& ref, const Raster* mask,
                                    int b) {
  const size_t n = ref.band_size();
  std::vector<uint8_t> v(n);
  const uint8_t* pv = pred.mask(b);
  const uint8_t* rv = ref.mask(b);
  const int mb = mask && mask->bands() > 1 ? b : 0;
  const float* mval = mask ? mask->band(mb) : nullptr;
  const uint8_t* mvalid = mask ? mask->mask(mb) : nullptr;
  const long long nl = static_cast<long long>(n);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < nl; ++i) {
    bool ok = pv[i] && rv[i];
    if (mask) ok = ok && mvalid[i] && mval[i] != 0.0f;
    v[i] = ok ? 1 : 0;
  }
  return v;
}

Pass1 pass1(const float* y, const float* x, const uint8_t* v, int width, int height) {
  const int nchunks = (height + kChunkRows - 1) / kChunkRows;
  std::vector<Pass1> parts(nchunks);
#pragma omp parallel for schedule(static)
  for (int c = 0; c < nchunks; ++c) {
    Pass1 p;
    const size_t i0 = static_cast<size_t>(c) * kChunkRows * width;
    const size_t i1 = std::min(static_cast<size_t>(height), static_cast<size_t>(c + 1) * kChunkRows) * width;
    for (size_t i = i0; i < i1; ++i) {
      if (!v[i]) continue;
      const double xi = x[i], yi = y[i];
      ++p.n;
      p.sx += xi;
      p.sy += yi;
      p.sxx += xi * xi;
      p.syy += yi * yi;
      p.minx = std::min(p.minx, xi);
      p.maxx = std::max(p.maxx, xi);
    }
    parts[c] = p;
  }
  Pass1 total;
  for (const auto& p : parts) total.add(p);
  return total;
}

Pass2 pass2(const float* y, const float* x, const uint8_t* v, int width, int height,
            const BandSums& s, const MetricsOptions& opts) {
  const int nchunks = (height + kChunkRows - 1) / kChunkRows;
  const size_t nthr = opts.ae_thresholds.size();
  const size_t nbins = static_cast<size_t>(opts.hist_bins);
  Pass2 proto;
  proto.below.assign(nthr, 0);
  proto.hist.assign(nbins, 0);
  std::vector<Pass2> parts(nchunks, proto);
  const double mx = s.mx, my = s.my, me = s.my - s.mx;
  const double inv_nx = 1.0 / std::sqrt(s.p1.sxx), inv_ny = 1.0 / std::sqrt(s.p1.syy);
  const double inv_bw = 1.0 / opts.hist_bin_width;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < nchunks; ++c) {
    Pass2& p = parts[c];
    const size_t i0 = static_cast<size_t>(c) * kChunkRows * width;
    const size_t i1 = std::min(static_cast<size_t>(height), static_cast<size_t>(c + 1) * kChunkRows) * width;
    for (size_t i = i0; i < i1; ++i) {
      if (!v[i]) continue;
      const double xi = x[i], yi = y[i];
      const double dx = xi - mx, dy = yi - my;
      const double e = yi - xi, ae = std::abs(e);
      p.dxx += dx * dx;
      p.dyy += dy * dy;
      p.dxy += dx * dy;
      p.se += e;
      p.sae += ae;
      p.see += e * e;
      p.ecc += (e - me) * (e - me);
      const double du = xi * inv_nx - yi * inv_ny;
      p.sam_d2 += du * du;
      for (size_t t = 0; t < nthr; ++t) p.below[t] += ae < opts.ae_thresholds[t] ? 1 : 0;
      const double bin = ae * inv_bw;
      if (bin < static_cast<double>(nbins)) {
        ++p.hist[static_cast<size_t>(bin)];
      } else {
        ++p.overflow;
      }
    }
  }
  Pass2 total = proto;
  for (const auto& p : parts) total.add(p);
  return total;
}

ErrorDistribution distribution(const Pass2& p, long long n, const MetricsOptions& opts) {
  ErrorDistribution d;
  d.thresholds = opts.ae_thresholds;
  d.share_below.resize(p.below.size());
  for (size_t t = 0; t < p.below.size(); ++t) {
    d.share_below[t] = n > 0 ? static_cast<double>(p.below[t]) / static_cast<double>(n) : kNaN;
  }
  d.bin_width = opts.hist_bin_width;
  d.counts = p.hist;
  d.overflow = p.overflow;
  return d;
}

// Scalar metrics from the sums (everything but SSIM, SAM and ERGAS).
void fill_scalar(BandMetrics& m, long long n, double mx, double my, double dxx, double dyy,
                 double dxy, double se, double sae, double see, double ecc, double L) {
  m.valid_pixels = n;
  if (n == 0) {
    m.bias = m.mae = m.rmse = m.ubrmse = m.cc = m.r2 = m.psnr = kNaN;
    m.ref_mean = m.pred_mean = kNaN;
    return;
  }
  const double dn = static_cast<double>(n);
  m.ref_mean = mx;
  m.pred_mean = my;
  m.bias = se / dn;
  m.mae = sae / dn;
  m.rmse = std::sqrt(see / dn);
  // sqrt(RMSE^2 - bias^2) is the RMS of the error about its mean; summed directly to avoid
  // cancellation when the bias dominates.
  m.ubrmse = std::sqrt(ecc / dn);
  m.cc = (dxx > 0 && dyy > 0) ? dxy / std::sqrt(dxx * dyy) : kNaN;
  m.r2 = dxx > 0 ? 1.0 - see / dxx : kNaN;
  m.psnr = L > 0 ? 20.0 * std::log10(L / m.rmse) : kNaN;
}

}  // namespace

double metric_value(const BandMetrics& m, const std::string& name) {
  if (name == "bias") return m.bias;
  if (name == "mae") return m.mae;
  if (name == "rmse") return m.rmse;
  if (name == "ubrmse") return m.ubrmse;
  if (name == "cc") return m.cc;
  if (name == "r2") return m.r2;
  if (name == "ssim") return m.ssim;
  if (name == "psnr") return m.psnr;
  if (name == "sam") return m.sam;
  if (name == "ergas") return m.ergas;
  return std::numeric_limits<double>::quiet_NaN();
}

void check_metrics_options(const MetricsOptions& opts, const std::string& where, const MetricsOptionNames& names) {
  if (opts.data_range && !(*opts.data_range >= 1e-3 && *opts.data_range <= 1000))
    throw Error(fmt::format("{}: {} must be 0.001 to 1000 K, got {}", where, names.data_range, *opts.data_range));
  // A ratio of 1e-300 (or a coarse pixel of 1e-300 m) gave ERGAS 2e-301 ("perfect") or 7e300.
  if (opts.ergas_ratio && !(*opts.ergas_ratio >= 1e-6 && *opts.ergas_ratio <= 1000))
    throw Error(fmt::format("{}: {} must be 1e-06 to 1000, got {}", where, names.ergas_ratio, *opts.ergas_ratio));
  if (!(opts.coarse_res_m >= 1e-3 && opts.coarse_res_m <= 1e6))
    throw Error(fmt::format("{}: {} must be 0.001 to 1000000 m, got {}", where, names.coarse_res, opts.coarse_res_m));
}

MetricsResult compute_metrics(const Raster& pred, const Raster& ref, const MetricsOptions& opts) {
  check_inputs(pred, ref, opts);
  const int B = ref.bands();
  const int W = ref.width(), H = ref.height();

  std::vector<std::vector<uint8_t>> valid(B);
  std::vector<BandSums> sums(B);
  long long total_n = 0;
  double ref_min = std::numeric_limits<double>::infinity();
  double ref_max = -std::numeric_limits<double>::infinity();
  for (int b = 0; b < B; ++b) {
    valid[b] = combined_valid(pred, ref, opts.mask, b);
    auto& s = sums[b];
    s.p1 = pass1(pred.band(b), ref.band(b), valid[b].data(), W, H);
    if (s.p1.n > 0) {
      s.mx = s.p1.sx / static_cast<double>(s.p1.n);
      s.my = s.p1.sy / static_cast<double>(s.p1.n);
      ref_min = std::min(ref_min, s.p1.minx);
      ref_max = std::max(ref_max, s.p1.maxx);
    }
    total_n += s.p1.n;
  }
  if (total_n == 0) {
    throw Error("metrics: no pixel is valid in both the prediction and the reference" +
                std::string(opts.mask ? " (and the mask)" : ""));
  }

  MetricsResult res;
  if (opts.data_range) {
    res.data_range = *opts.data_range;
    res.data_range_source = "fixed";
  } else {
    res.data_range = ref_max - ref_min;
    res.data_range_source = "reference max-min";
  }
  const double L = res.data_range;
  if (opts.ergas_ratio) {
    res.ergas_ratio = *opts.ergas_ratio;
    res.ergas_ratio_source = "given";
  } else if (!ref.grid().has_crs()) {
    // Without a CRS the pixel size has no unit: taking it as metres gave ERGAS for 1 m or 30 m
    // pixels as it happened. ERGAS is left out, the other metrics stand.
    res.ergas_ratio = kNaN;
    res.ergas_ratio_source = "unknown: the reference has no CRS, so its pixel size has no unit (give the ratio)";
  } else {
    const double h = pixel_size_m(ref.grid());
    res.ergas_ratio = h / opts.coarse_res_m;
    res.ergas_ratio_source = fmt::format("fine {:.4g} m / coarse {:.4g} m", h, opts.coarse_res_m);
  }

  // Per band.
  res.bands.resize(B);
  Pass2 pooled;
  pooled.below.assign(opts.ae_thresholds.size(), 0);
  pooled.hist.assign(static_cast<size_t>(opts.hist_bins), 0);
  double ssim_sum = 0.0, ergas_sum = 0.0;
  int ssim_bands = 0, ergas_bands = 0;
  for (int b = 0; b < B; ++b) {
    auto& s = sums[b];
    auto& m = res.bands[b];
    const long long n = s.p1.n;
    if (n > 0) s.p2 = pass2(pred.band(b), ref.band(b), valid[b].data(), W, H, s, opts);
    else s.p2 = pooled;  // zeros of the right shape
    fill_scalar(m, n, s.mx, s.my, s.p2.dxx, s.p2.dyy, s.p2.dxy, s.p2.se, s.p2.sae, s.p2.see,
                s.p2.ecc, L);
    m.errors = distribution(s.p2, n, opts);
    m.sam = (n > 0 && s.p1.sxx > 0 && s.p1.syy > 0)
                ? angle_deg_from_unit_distance(std::sqrt(s.p2.sam_d2))
                : kNaN;
    m.ergas = (n > 0) ? 100.0 * res.ergas_ratio * std::abs(m.rmse / m.ref_mean) : kNaN;
    m.ssim = ssim_band(pred.band(b), ref.band(b), valid[b].data(), W, H, L, &m.ssim_windows);
    if (std::isfinite(m.ssim)) {
      ssim_sum += m.ssim;
      ++ssim_bands;
    }
    if (n > 0) {
      const double rel = m.rmse / m.ref_mean;
      ergas_sum += rel * rel;
      ++ergas_bands;
    }
    pooled.add(s.p2);
  }

  // Pooled over bands: combine the centred moments about the pooled means (Chan et al.).
  double sx = 0, sy = 0;
  for (const auto& s : sums) {
    sx += s.p1.sx;
    sy += s.p1.sy;
  }
  const double mx = sx / static_cast<double>(total_n), my = sy / static_cast<double>(total_n);
  double dxx = 0, dyy = 0, dxy = 0, ecc = 0;
  for (const auto& s : sums) {
    const double n = static_cast<double>(s.p1.n);
    if (s.p1.n == 0) continue;
    const double ax = s.mx - mx, ay = s.my - my, ae = (s.my - s.mx) - (my - mx);
    dxx += s.p2.dxx + n * ax * ax;
    dyy += s.p2.dyy + n * ay * ay;
    dxy += s.p2.dxy + n * ax * ay;
    ecc += s.p2.ecc + n * ae * ae;
  }
  auto& o = res.overall;
  fill_scalar(o, total_n, mx, my, dxx, dyy, dxy, pooled.se, pooled.sae, pooled.see, ecc, L);
  o.errors = distribution(pooled, total_n, opts);
  o.ssim = ssim_bands > 0 ? ssim_sum / ssim_bands : kNaN;
  for (const auto& m : res.bands) o.ssim_windows += m.ssim_windows;
  o.ergas = ergas_bands > 0 ? 100.0 * res.ergas_ratio * std::sqrt(ergas_sum / ergas_bands) : kNaN;

  if (B == 1) {
    res.sam_mode = "image-vector";
    o.sam = res.bands[0].sam;
    res.sam_pixels = total_n;
  } else {
    // Mean per-pixel spectral angle over pixels that count in every band.
    res.sam_mode = "per-pixel mean";
    const int nchunks = (H + kChunkRows - 1) / kChunkRows;
    std::vector<double> part_sum(nchunks, 0.0);
    std::vector<long long> part_n(nchunks, 0);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nchunks; ++c) {
      const size_t i0 = static_cast<size_t>(c) * kChunkRows * W;
      const size_t i1 = std::min(static_cast<size_t>(H), static_cast<size_t>(c + 1) * kChunkRows) * W;
      double acc = 0.0;
      long long cnt = 0;
      for (size_t i = i0; i < i1; ++i) {
        bool ok = true;
        for (int b = 0; b < B && ok; ++b) ok = valid[b][i] != 0;
        if (!ok) continue;
        double nx = 0, ny = 0;
        for (int b = 0; b < B; ++b) {
          const double xi = ref.band(b)[i], yi = pred.band(b)[i];
          nx += xi * xi;
          ny += yi * yi;
        }
        if (nx <= 0 || ny <= 0) continue;
        nx = 1.0 / std::sqrt(nx);
        ny = 1.0 / std::sqrt(ny);
        double d2 = 0;
        for (int b = 0; b < B; ++b) {
          const double du = ref.band(b)[i] * nx - pred.band(b)[i] * ny;
          d2 += du * du;
        }
        acc += angle_deg_from_unit_distance(std::sqrt(d2));
        ++cnt;
      }
      part_sum[c] = acc;
      part_n[c] = cnt;
    }
    double acc = 0.0;
    long long cnt = 0;
    for (int c = 0; c < nchunks; ++c) {
      acc += part_sum[c];
      cnt += part_n[c];
    }
    res.sam_pixels = cnt;
    o.sam = cnt > 0 ? acc / static_cast<double>(cnt) : kNaN;
  }
  return res;
}

}  // namespace lstfuse::eval
