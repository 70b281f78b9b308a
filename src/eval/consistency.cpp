#include "lstfuse/eval/consistency.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lstfuse/core/error.hpp"

namespace lstfuse::eval {

int coarse_block_size(const Grid& fine, double coarse_res_m) {
  const double px = std::abs(fine.transform[1]);
  if (!(px > 0) || !(coarse_res_m > 0)) return 1;
  // Capped in double: a pixel size near 0 overflowed int and wrapped to a small block.
  return static_cast<int>(std::clamp(std::round(coarse_res_m / px), 1.0, static_cast<double>(1 << 28)));
}

ConsistencyScore coarse_consistency(const Raster& fused, const Raster& coarse, int block,
                                    const Raster* coarse_filled, Raster* residual) {
  if (fused.width() != coarse.width() || fused.height() != coarse.height()) {
    throw Error("coarse consistency: the fused and coarse images are on different grids");
  }
  if (coarse_filled && (coarse_filled->width() != fused.width() || coarse_filled->height() != fused.height())) {
    throw Error("coarse consistency: the coarse fill flags are on another grid");
  }
  if (block < 1) throw Error("coarse consistency: the block size must be at least 1 pixel");
  const int w = fused.width(), h = fused.height();
  const int bx = (w + block - 1) / block, by = (h + block - 1) / block;
  std::vector<double> res(static_cast<size_t>(bx) * by, std::numeric_limits<double>::quiet_NaN());
#pragma omp parallel for schedule(dynamic)
  for (int j = 0; j < by; ++j) {
    for (int i = 0; i < bx; ++i) {
      const int x0 = i * block, y0 = j * block;
      const int x1 = std::min(w, x0 + block), y1 = std::min(h, y0 + block);
      double sum = 0.0;
      long long n = 0;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
          const size_t k = static_cast<size_t>(y) * w + x;
          if (!fused.mask(0)[k] || !coarse.mask(0)[k]) continue;
          if (coarse_filled && coarse_filled->mask(0)[k] && coarse_filled->band(0)[k] != 0.0f) continue;
          sum += static_cast<double>(fused.band(0)[k]) - coarse.band(0)[k];
          ++n;
        }
      // Half the block, so that a few clear pixels at a cloud edge do not stand for a block.
      if (n > 0 && 2 * n >= static_cast<long long>(x1 - x0) * (y1 - y0))
        res[static_cast<size_t>(j) * bx + i] = sum / static_cast<double>(n);
    }
  }
  ConsistencyScore s;
  double sum = 0.0;
  for (double r : res)
    if (std::isfinite(r)) { sum += r; ++s.blocks; }
  if (s.blocks > 0) {
    s.bias = sum / static_cast<double>(s.blocks);
    double ss = 0.0;
    for (double r : res)
      if (std::isfinite(r)) ss += (r - s.bias) * (r - s.bias);
    s.ubrmse = std::sqrt(ss / static_cast<double>(s.blocks));
  }
  if (residual) {
    *residual = Raster(fused.grid(), 1, 0.0f, false);
    residual->units = "K";
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double r = res[static_cast<size_t>(y / block) * bx + x / block];
        if (std::isfinite(r)) {
          residual->at(y, x) = static_cast<float>(r);
          residual->set_valid(0, y, x, true);
        }
      }
  }
  return s;
}

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;  // ranks from 1
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> x, y;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) {
      x.push_back(a[i]);
      y.push_back(b[i]);
    }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (x.size() < 3) return nan;
  // Pearson correlation of the ranks (exact with ties, unlike 1 - 6 sum d^2 / ...).
  const auto rx = ranks(x), ry = ranks(y);
  const double n = static_cast<double>(rx.size());
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / n;
  const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return nan;
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace lstfuse::eval
