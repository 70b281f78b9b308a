// Time of all metrics (and of SSIM alone, and of a quick-look PNG) on a 4000 x 4000 pair.
// Usage: bench_metrics [SIZE]   (default 4000). Threads: OMP_NUM_THREADS.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>

#include <omp.h>

#include "bench_support.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/eval/quicklook.hpp"

using lstfuse::Grid;
using lstfuse::Raster;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 4000;
  Grid g;
  g.width = n;
  g.height = n;
  g.transform = {500000, 30, 0, 6100000, 0, -30};
  // Synthetic LST-like pair: smooth field plus noise, about 1 % invalid pixels in each image.
  Raster ref(g, 1), pred(g, 1);
  std::mt19937 rng(42);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const float v = 300.0f + 8.0f * std::sin(x * 0.01f) * std::cos(y * 0.013f) + noise(rng);
      ref.at(y, x) = v;
      pred.at(y, x) = v + 0.3f + 0.8f * noise(rng);
      if (u(rng) < 0.01f) ref.set_valid(0, y, x, false);
      if (u(rng) < 0.01f) pred.set_valid(0, y, x, false);
    }
  }
  std::printf("bench_metrics: %d x %d pair, %d threads\n", n, n, omp_get_max_threads());
  lstfuse::eval::MetricsResult r;
  // Wall time, and process CPU time: on a shared machine CPU / threads shows the cost
  // without the waiting for other people's jobs.
  double best = 1e30, best_cpu = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    lstfuse::bench::Stopwatch sw;
    const std::clock_t c0 = std::clock();
    r = lstfuse::eval::compute_metrics(pred, ref);
    best = std::min(best, sw.seconds());
    best_cpu = std::min(best_cpu, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
  }
  std::printf("all metrics: %.3f s wall, %.3f s CPU (best of 3)  rmse %.4f K  ssim %.4f  windows %lld\n",
              best, best_cpu, r.overall.rmse, r.overall.ssim, r.overall.ssim_windows);
  std::vector<uint8_t> valid(ref.band_size());
  for (size_t i = 0; i < valid.size(); ++i) valid[i] = ref.mask(0)[i] && pred.mask(0)[i];
  lstfuse::bench::Stopwatch sw;
  std::clock_t c0 = std::clock();
  const double s = lstfuse::eval::ssim_band(pred.band(0), ref.band(0), valid.data(), n, n, r.data_range);
  std::printf("ssim alone: %.3f s wall, %.3f s CPU  (%.4f)\n", sw.seconds(),
              static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC, s);
  sw.reset();
  const auto png = lstfuse::eval::render_png_bytes(ref);
  std::printf("quick-look PNG: %.3f s  (%zu bytes)\n", sw.seconds(), png.size());
  std::printf("peak RSS: %.0f MiB\n", lstfuse::bench::peak_rss_mib());
  return 0;
}
