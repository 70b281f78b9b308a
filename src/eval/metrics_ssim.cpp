// SSIM (Wang et al. 2004) with a separable 11 x 11 Gaussian, computed in fixed row strips
// with a ring of 11 filtered rows, so that a 4000 x 4000 scene needs about 2 MiB per thread
// instead of five full double images, and strip sums are added in a fixed order.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "lstfuse/eval/metrics.hpp"

namespace lstfuse::eval {

namespace {

constexpr int kHalf = kSsimWindow / 2;
constexpr int kStripRows = 128;  // output rows per strip: 10 / 128 halo rows recomputed

std::array<double, kSsimWindow> gaussian_weights() {
  std::array<double, kSsimWindow> g{};
  double sum = 0.0;
  for (int k = 0; k < kSsimWindow; ++k) {
    const double d = k - kHalf;
    g[k] = std::exp(-d * d / (2.0 * kSsimSigma * kSsimSigma));
    sum += g[k];
  }
  for (auto& v : g) v /= sum;  // 1-D weights sum to 1, so the 2-D outer product does too
  return g;
}

}  // namespace

double ssim_band(const float* pred, const float* ref, const uint8_t* valid, int width,
                 int height, double data_range, long long* windows) {
  if (windows) *windows = 0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (width < kSsimWindow || height < kSsimWindow || !(data_range > 0.0)) return nan;
  const size_t W = static_cast<size_t>(width);
  const size_t npix = W * height;

  // Variances are shift-invariant but the luminance term is not: filter (value - c) to avoid
  // cancellation in E[x^2] - E[x]^2 around 300 K, and add c back to the means.
  double c = 0.0;
  for (size_t i = 0; i < npix; ++i) {
    if (valid[i]) {
      c = ref[i];
      break;
    }
  }

  const auto g = gaussian_weights();
  const double C1 = (kSsimK1 * data_range) * (kSsimK1 * data_range);
  const double C2 = (kSsimK2 * data_range) * (kSsimK2 * data_range);
  const int out_r0 = kHalf, out_r1 = height - kHalf;  // output rows [out_r0, out_r1)
  const int out_c0 = kHalf, out_c1 = width - kHalf;
  const int ncols = out_c1 - out_c0;
  const int nstrips = (out_r1 - out_r0 + kStripRows - 1) / kStripRows;
  std::vector<double> strip_sum(nstrips, 0.0);
  std::vector<long long> strip_count(nstrips, 0);

#pragma omp parallel
  {
    constexpr int kQ = 5;  // x, y, x^2, y^2, xy
    const size_t nc = static_cast<size_t>(ncols);
    // Ring of the 11 horizontally filtered rows the current output row needs:
    // [slot][q][col], and the invalid count of each horizontal window [slot][col].
    std::vector<double> ring(static_cast<size_t>(kSsimWindow) * kQ * nc);
    std::vector<int> ring_inv(static_cast<size_t>(kSsimWindow) * nc);
    std::vector<double> prod(static_cast<size_t>(kQ) * W);  // per-pixel x, y, x^2, y^2, xy
    std::vector<int> inv_prefix(W + 1);
    std::vector<double> v(static_cast<size_t>(kQ) * nc);
    std::vector<int> vinv(nc);

    // Horizontal pass of input row r into its ring slot; the symmetric weights halve the
    // multiplications, and products are formed once per pixel rather than once per tap.
    auto horizontal = [&](int r) {
      const size_t off = static_cast<size_t>(r) * W;
      double* px = &prod[0];
      double* py = &prod[W];
      double* pxx = &prod[2 * W];
      double* pyy = &prod[3 * W];
      double* pxy = &prod[4 * W];
      inv_prefix[0] = 0;
      for (size_t j = 0; j < W; ++j) {
        const bool ok = valid[off + j] != 0;
        const double a = ok ? static_cast<double>(pred[off + j]) - c : 0.0;
        const double b = ok ? static_cast<double>(ref[off + j]) - c : 0.0;
        px[j] = a;
        py[j] = b;
        pxx[j] = a * a;
        pyy[j] = b * b;
        pxy[j] = a * b;
        inv_prefix[j + 1] = inv_prefix[j] + (ok ? 0 : 1);
      }
      const size_t slot = static_cast<size_t>(r % kSsimWindow);
      for (int q = 0; q < kQ; ++q) {
        const double* src = &prod[static_cast<size_t>(q) * W];
        double* dst = &ring[(slot * kQ + q) * nc];
        for (size_t j = 0; j < nc; ++j) {
          double acc = g[kHalf] * src[j + kHalf];
          for (int k = 0; k < kHalf; ++k) acc += g[k] * (src[j + k] + src[j + kSsimWindow - 1 - k]);
          dst[j] = acc;
        }
      }
      int* hi = &ring_inv[slot * nc];
      for (size_t j = 0; j < nc; ++j) hi[j] = inv_prefix[j + kSsimWindow] - inv_prefix[j];
    };

#pragma omp for schedule(static)
    for (int s = 0; s < nstrips; ++s) {
      const int r0 = out_r0 + s * kStripRows;
      const int r1 = std::min(out_r1, r0 + kStripRows);
      for (int r = r0 - kHalf; r < r0 + kHalf; ++r) horizontal(r);
      double sum = 0.0;
      long long count = 0;
      for (int r = r0; r < r1; ++r) {
        horizontal(r + kHalf);
        // Vertical pass: slot of input row r - 5 + k is (r - 5 + k) % 11.
        auto row_of = [&](int k, int q) {
          return &ring[(static_cast<size_t>((r - kHalf + k) % kSsimWindow) * kQ + q) * nc];
        };
        for (int q = 0; q < kQ; ++q) {
          double* dst = &v[static_cast<size_t>(q) * nc];
          const double* mid = row_of(kHalf, q);
          for (size_t j = 0; j < nc; ++j) dst[j] = g[kHalf] * mid[j];
          for (int k = 0; k < kHalf; ++k) {
            const double* lo = row_of(k, q);
            const double* hi = row_of(kSsimWindow - 1 - k, q);
            const double w = g[k];
            for (size_t j = 0; j < nc; ++j) dst[j] += w * (lo[j] + hi[j]);
          }
        }
        std::fill(vinv.begin(), vinv.end(), 0);
        for (int k = 0; k < kSsimWindow; ++k) {
          const int* hi = &ring_inv[static_cast<size_t>((r - kHalf + k) % kSsimWindow) * nc];
          for (size_t j = 0; j < nc; ++j) vinv[j] += hi[j];
        }
        const double* mx = &v[0];
        const double* my = &v[nc];
        const double* exx = &v[2 * nc];
        const double* eyy = &v[3 * nc];
        const double* exy = &v[4 * nc];
        for (size_t j = 0; j < nc; ++j) {
          if (vinv[j] != 0) continue;
          const double sxx = exx[j] - mx[j] * mx[j];
          const double syy = eyy[j] - my[j] * my[j];
          const double sxy = exy[j] - mx[j] * my[j];
          const double ux = mx[j] + c, uy = my[j] + c;
          sum += ((2.0 * ux * uy + C1) * (2.0 * sxy + C2)) /
                 ((ux * ux + uy * uy + C1) * (sxx + syy + C2));
          ++count;
        }
      }
      strip_sum[s] = sum;
      strip_count[s] = count;
    }
  }

  // Summed in strip order: the same result for any thread count.
  double total = 0.0;
  long long n = 0;
  for (int s = 0; s < nstrips; ++s) {
    total += strip_sum[s];
    n += strip_count[s];
  }
  if (windows) *windows = n;
  return n > 0 ? total / static_cast<double>(n) : nan;
}

}  // namespace lstfuse::eval
