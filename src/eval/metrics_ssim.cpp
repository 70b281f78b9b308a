// SSIM (Wang et al. 2004) with a separable 11 x 11 Gaussian, computed in row strips so that
// a 4000 x 4000 scene needs a few MiB per thread instead of five full double images.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "lstfuse/eval/metrics.hpp"

namespace lstfuse::eval {

namespace {

constexpr int kHalf = kSsimWindow / 2;
constexpr int kStripRows = 32;  // output rows per strip: halo overhead 10 / 32, small buffers

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
    const int buf_rows = kStripRows + 2 * kHalf;
    // Horizontally filtered rows: [row][q][col]; invalid counts per [row][col].
    std::vector<double> hbuf(static_cast<size_t>(buf_rows) * kQ * ncols);
    std::vector<int> hinv(static_cast<size_t>(buf_rows) * ncols);
    std::vector<double> xs(W), ys(W);
    std::vector<int> inv_prefix(W + 1);
    std::vector<double> v(static_cast<size_t>(kQ) * ncols);
    std::vector<int> vinv(ncols);

#pragma omp for schedule(static)
    for (int s = 0; s < nstrips; ++s) {
      const int r0 = out_r0 + s * kStripRows;
      const int r1 = std::min(out_r1, r0 + kStripRows);
      const int in0 = r0 - kHalf, in1 = r1 + kHalf;
      for (int r = in0; r < in1; ++r) {
        const size_t off = static_cast<size_t>(r) * W;
        inv_prefix[0] = 0;
        for (size_t j = 0; j < W; ++j) {
          const bool ok = valid[off + j] != 0;
          xs[j] = ok ? static_cast<double>(pred[off + j]) - c : 0.0;
          ys[j] = ok ? static_cast<double>(ref[off + j]) - c : 0.0;
          inv_prefix[j + 1] = inv_prefix[j] + (ok ? 0 : 1);
        }
        const size_t b = static_cast<size_t>(r - in0);
        double* hx = &hbuf[(b * kQ + 0) * ncols];
        double* hy = &hbuf[(b * kQ + 1) * ncols];
        double* hxx = &hbuf[(b * kQ + 2) * ncols];
        double* hyy = &hbuf[(b * kQ + 3) * ncols];
        double* hxy = &hbuf[(b * kQ + 4) * ncols];
        std::fill(hx, hx + static_cast<size_t>(kQ) * ncols, 0.0);
        for (int k = 0; k < kSsimWindow; ++k) {
          const double w = g[k];
          const double* xk = xs.data() + k;  // column j of the output reads input j + k
          const double* yk = ys.data() + k;
          for (int j = 0; j < ncols; ++j) {
            const double a = xk[j], bb = yk[j];
            hx[j] += w * a;
            hy[j] += w * bb;
            hxx[j] += w * a * a;
            hyy[j] += w * bb * bb;
            hxy[j] += w * a * bb;
          }
        }
        int* hi = &hinv[b * ncols];
        for (int j = 0; j < ncols; ++j) hi[j] = inv_prefix[j + kSsimWindow] - inv_prefix[j];
      }

      double sum = 0.0;
      long long count = 0;
      for (int r = r0; r < r1; ++r) {
        std::fill(v.begin(), v.end(), 0.0);
        std::fill(vinv.begin(), vinv.end(), 0);
        for (int k = 0; k < kSsimWindow; ++k) {
          const size_t b = static_cast<size_t>(r - kHalf + k - in0);
          const double w = g[k];
          const double* src = &hbuf[b * kQ * ncols];
          for (size_t q = 0; q < static_cast<size_t>(kQ) * ncols; ++q) v[q] += w * src[q];
          const int* hi = &hinv[b * ncols];
          for (int j = 0; j < ncols; ++j) vinv[j] += hi[j];
        }
        const double* mx = &v[0];
        const double* my = &v[static_cast<size_t>(ncols)];
        const double* exx = &v[2 * static_cast<size_t>(ncols)];
        const double* eyy = &v[3 * static_cast<size_t>(ncols)];
        const double* exy = &v[4 * static_cast<size_t>(ncols)];
        for (int j = 0; j < ncols; ++j) {
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
