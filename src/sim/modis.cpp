// The simulated MODIS: the point spread function aggregating the world truth onto the coarse grid,
// and each daily observation (clouds, QC bits, bias and noise).
#include "world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::sim {

Raster Simulation::psf_aggregate(const Raster& field) const {
  const World& w = *w_;
  if (field.width() == w.world.width && field.height() == w.world.height)
    return w.psf(field.band(0), field.mask(0));
  if (field.width() != w.fine.width || field.height() != w.fine.height) {
    throw Error(fmt::format("simulate: psf_aggregate expects a {} fine or {} world raster, got {}",
                            w.fine.describe(), w.world.describe(), field.grid().describe()));
  }
  // A fine-scene field: nothing is known outside the scene.
  const size_t n = static_cast<size_t>(w.world.width) * w.world.height;
  std::vector<float> f(n, 0.0f);
  std::vector<uint8_t> m(n, 0);
  for (int y = 0; y < w.fine.height; ++y) {
    const size_t src = static_cast<size_t>(y) * w.fine.width;
    const size_t dst = static_cast<size_t>(y + w.my) * w.world.width + w.mx;
    std::copy_n(field.band(0) + src, w.fine.width, f.begin() + static_cast<std::ptrdiff_t>(dst));
    std::copy_n(field.mask(0) + src, w.fine.width, m.begin() + static_cast<std::ptrdiff_t>(dst));
  }
  return w.psf(f.data(), m.data());
}

Raster Simulation::World::psf(const float* f, const uint8_t* m) const {
  const World& w = *this;
  const int W = world.width, H = world.height;
  const double s = w.psf_sigma;
  const int r = static_cast<int>(std::ceil(3.0 * s));
  const int K = 2 * r + 2;  // taps per axis around a centre
  Raster out(w.coarse, 1, 0.0f, false);
  // Gaussian taps for a centre at continuous coordinate c: first tap index and K weights, plus
  // the weight the whole (unclipped) kernel would have.
  auto taps = [&](double c, int& first, double* wts) {
    first = static_cast<int>(std::floor(c)) - r;
    double full = 0.0;
    for (int j = 0; j < K; ++j) {
      wts[j] = std::exp(-0.5 * std::pow((first + j + 0.5 - c) / s, 2));
      full += wts[j];
    }
    return full;
  };
  const int CW = w.coarse.width, CH = w.coarse.height;
  if (w.opts.modis_grid == "utm") {
    // Aligned grid: coarse columns share their x centre and rows their y centre, so the kernel
    // separates: one horizontal pass per fine row, then a vertical pass per coarse pixel.
    std::vector<int> fx0(CW), fy0(CH);
    std::vector<double> wx(static_cast<size_t>(CW) * K), wy(static_cast<size_t>(CH) * K);
    std::vector<double> fullx(CW), fully(CH);
    for (int cx = 0; cx < CW; ++cx) fullx[cx] = taps(w.cfx[cx], fx0[cx], &wx[static_cast<size_t>(cx) * K]);
    for (int cy = 0; cy < CH; ++cy)
      fully[cy] = taps(w.cfy[static_cast<size_t>(cy) * CW], fy0[cy], &wy[static_cast<size_t>(cy) * K]);
    std::vector<double> hs(static_cast<size_t>(H) * CW), hw(static_cast<size_t>(H) * CW);
#pragma omp parallel for schedule(static)
    for (int y = 0; y < H; ++y) {
      const float* row = f + static_cast<size_t>(y) * W;
      const uint8_t* mrow = m + static_cast<size_t>(y) * W;
      for (int cx = 0; cx < CW; ++cx) {
        const double* wt = &wx[static_cast<size_t>(cx) * K];
        const int a = std::max(0, fx0[cx]), b = std::min(W, fx0[cx] + K);
        double sum = 0.0, ws = 0.0;
        const double* wo = wt - fx0[cx];
        for (int x = a; x < b; ++x) {
          const double q = wo[x] * mrow[x];  // branch-free: masked pixels weigh 0
          sum += q * row[x];
          ws += q;
        }
        hs[static_cast<size_t>(y) * CW + cx] = sum;
        hw[static_cast<size_t>(y) * CW + cx] = ws;
      }
    }
    for (int cy = 0; cy < CH; ++cy) {
      const double* wt = &wy[static_cast<size_t>(cy) * K];
      const int a = std::max(0, fy0[cy]), b = std::min(H, fy0[cy] + K);
      for (int cx = 0; cx < CW; ++cx) {
        double sum = 0.0, ws = 0.0;
        for (int y = a; y < b; ++y) {
          sum += wt[y - fy0[cy]] * hs[static_cast<size_t>(y) * CW + cx];
          ws += wt[y - fy0[cy]] * hw[static_cast<size_t>(y) * CW + cx];
        }
        const size_t k = static_cast<size_t>(cy) * CW + cx;
        // Mostly masked (outside a fine-scene field): no MODIS value.
        if (ws >= 0.5 * fullx[cx] * fully[cy]) {
          out.data()[k] = static_cast<float>(sum / ws);
          out.mask_data()[k] = 1;
        }
      }
    }
    return out;
  }
  const int n = CW * CH;
#pragma omp parallel for schedule(static)
  for (int k = 0; k < n; ++k) {
    std::vector<double> wx(static_cast<size_t>(K)), wy(static_cast<size_t>(K));
    int xa = 0, ya = 0;
    const double full = taps(w.cfx[static_cast<size_t>(k)], xa, wx.data()) *
                        taps(w.cfy[static_cast<size_t>(k)], ya, wy.data());
    double sum = 0.0, wsum = 0.0;
    for (int j = 0; j < K; ++j) {
      const int y = ya + j;
      if (y < 0 || y >= H) continue;
      double row_sum = 0.0, row_w = 0.0;
      for (int i = std::max(0, -xa); i < std::min(K, W - xa); ++i) {
        const size_t p = static_cast<size_t>(y) * W + (xa + i);
        if (!m[p]) continue;
        row_sum += wx[static_cast<size_t>(i)] * f[p];
        row_w += wx[static_cast<size_t>(i)];
      }
      sum += wy[static_cast<size_t>(j)] * row_sum;
      wsum += wy[static_cast<size_t>(j)] * row_w;
    }
    if (wsum >= 0.5 * full) {
      out.data()[static_cast<size_t>(k)] = static_cast<float>(sum / wsum);
      out.mask_data()[static_cast<size_t>(k)] = 1;
    }
  }
  return out;
}

CoarseObservation Simulation::modis(const Date& d, const Raster* truth_in) const {
  const World& w = *w_;
  const int day = w.day_index(d);
  // MODIS sees the world's truth: the given fine-scene truth inside the scene, the generated
  // truth around it (all of it generated when none is given or a world truth is given).
  Raster psf;
  if (truth_in && truth_in->width() == w.world.width && truth_in->height() == w.world.height) {
    psf = psf_aggregate(*truth_in);
  } else {
    if (truth_in && (truth_in->width() != w.fine.width || truth_in->height() != w.fine.height))
      psf_aggregate(*truth_in);  // throws, naming the expected grids
    std::vector<float> f;
    std::vector<uint8_t> m;
    w.world_truth(d, truth_in, f, m);
    psf = w.psf(f.data(), m.data());
  }
  const int CW = w.coarse.width, CH = w.coarse.height;
  const size_t n = static_cast<size_t>(CW) * CH;
  const double px = w.opts.pixel_size;

  Rng rng(w.seed, hash2(kStreamModis, static_cast<uint64_t>(d.days())));
  const double share = draw_cloud_fraction(rng, w.opts.modis_cloud_cover);
  const uint64_t field_seed = rng.bits();
  const double ox = rng.uniform(0, 1000), oy = rng.uniform(0, 1000);
  const double cloud_scale = rng.uniform(8000.0, 15000.0);  // larger systems than Landsat's view

  std::vector<float> field(n);
  std::vector<float> valid_field;
  for (size_t k = 0; k < n; ++k) {
    field[k] = static_cast<float>(fbm(field_seed, ox + (w.cfx[k] - w.mx) * px / cloud_scale,
                                      oy + (w.cfy[k] - w.my) * px / cloud_scale, 4));
    if (psf.mask_data()[k]) valid_field.push_back(field[k]);
  }
  const float thr = upper_quantile(valid_field, share);
  std::vector<uint8_t> cloud(n);
  for (size_t k = 0; k < n; ++k) cloud[k] = field[k] > thr;
  const auto near_cloud = dilate(cloud, CW, CH, 1);

  CoarseObservation obs;
  obs.date = d;
  obs.bias = w.bias[static_cast<size_t>(day)];
  obs.noise_sd = w.modis_sd[static_cast<size_t>(day)];
  obs.lst = Raster(w.coarse, 1, 0.0f, false);
  obs.qc.assign(n, 0);
  const uint64_t noise_seed = hash3(w.seed, kStreamModisNoise, static_cast<uint64_t>(d.days()));
  long long n_cloud = 0, n_valid = 0;
  for (size_t k = 0; k < n; ++k) {
    if (!psf.mask_data()[k]) {
      obs.qc[k] = 0x03;  // not produced, other reasons (the given field is masked there)
      continue;
    }
    ++n_valid;
    if (cloud[k]) {
      obs.qc[k] = 0x02;  // not produced due to cloud; LST fill
      ++n_cloud;
      continue;
    }
    // Noise grows next to clouds (residual contamination); the QC LST-error bits follow it.
    const double sd = obs.noise_sd * (near_cloud[k] ? 2.5 : 1.0);
    const double value = psf.data()[k] + obs.bias + sd * normal_from_hash(hash2(noise_seed, k));
    obs.lst.data()[k] = static_cast<float>(std::round(value / 0.02) * 0.02);
    obs.lst.mask_data()[k] = 1;
    const double err = 1.5 * sd;
    const int err_bits = err <= 1.0 ? 0 : err <= 2.0 ? 1 : err <= 3.0 ? 2 : 3;
    obs.qc[k] = static_cast<uint8_t>(err_bits == 0 ? 0x00 : (0x01 | (err_bits << 6)));
  }
  obs.cloud_fraction = n_valid ? static_cast<double>(n_cloud) / static_cast<double>(n_valid) : 1.0;
  return obs;
}

}  // namespace lstfuse::sim
