// Time to gap-fill and fuse a year of daily coarse LST over 1000 x 1000 fine pixels: writes a
// synthetic catalog (a 1 km blocky coarse image every day with ~30 % cloud, a fine image every
// 16 days with ~30 % cloud), then runs `fill` and `fuse --fill` on it and prints the figures.
//
//   bench_fill [--size N] [--days N] [--method NAME] [--keep DIR]
//
// Defaults: 1000 x 1000, 365 days, additive (the cheapest method, so that the figure is the
// pipeline's: reading, filling, reference steps, writing). Pass --method estarfm for its cost.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>

#include <unistd.h>

#include "bench_support.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/registry.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

constexpr int kBlock = 33;  // 1 km coarse pixels on a 30 m grid

Grid make_grid(int n) {
  Grid g;
  g.width = g.height = n;
  g.transform = {400000.0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

double cycle(const Date& d) {
  const double a = 2.0 * M_PI * d.day_of_year() / 365.25;
  return 298.0 + 9.0 * std::cos(a) + 2.0 * std::sin(a) + 2.5 * std::sin(d.days() / 7.0);
}

// Cloud discs: a pixel (or block) is cloudy when it lies in one of a few random discs.
std::vector<std::array<double, 3>> clouds(std::mt19937& rng, int n, double cover) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::array<double, 3>> discs;
  const double r = 0.18 * n;
  const int k = static_cast<int>(std::round(cover * n * n / (M_PI * r * r) * 1.4 * u(rng)));
  for (int i = 0; i < k; ++i) discs.push_back({u(rng) * n, u(rng) * n, r * (0.5 + u(rng))});
  return discs;
}

bool cloudy(const std::vector<std::array<double, 3>>& discs, double x, double y) {
  for (const auto& c : discs)
    if ((x - c[0]) * (x - c[0]) + (y - c[1]) * (y - c[1]) < c[2] * c[2]) return true;
  return false;
}

Catalog make_catalog(const fs::path& dir, int n, int days) {
  fs::create_directories(dir / "coarse");
  fs::create_directories(dir / "fine");
  Catalog cat(dir);
  const Grid g = make_grid(n);
  cat.set_grid(g);
  io::WriteOptions wo;
  wo.creation_options = {"ZLEVEL=1"};
  std::mt19937 rng(17);
  // A fixed fine pattern (fields and streets) whose block means make the coarse pattern.
  std::vector<float> pattern(static_cast<size_t>(n) * n);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x)
      pattern[static_cast<size_t>(y) * n + x] =
          static_cast<float>(3.0 * (((x / 37) * 7 + (y / 29) * 13) % 5) / 4.0 + 1.5 * std::sin(x * 0.01) * std::cos(y * 0.013));
  std::vector<float> block_mean(pattern.size());
  for (int by = 0; by < n; by += kBlock)
    for (int bx = 0; bx < n; bx += kBlock) {
      double s = 0;
      int c = 0;
      for (int y = by; y < std::min(n, by + kBlock); ++y)
        for (int x = bx; x < std::min(n, bx + kBlock); ++x, ++c) s += pattern[static_cast<size_t>(y) * n + x];
      for (int y = by; y < std::min(n, by + kBlock); ++y)
        for (int x = bx; x < std::min(n, bx + kBlock); ++x) block_mean[static_cast<size_t>(y) * n + x] = float(s / c);
    }
  const Date start(2024, 1, 1);
  for (int k = 0; k < days; ++k) {
    const Date d = start + k;
    const double base = cycle(d);
    const auto cc = clouds(rng, n, 0.3);
    Raster coarse(g, 1, 0.0f, true);
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const size_t i = static_cast<size_t>(y) * n + x;
        coarse.data()[i] = static_cast<float>(base + block_mean[i]);
        // Clouds by whole coarse pixel, as MODIS.
        coarse.mask_data()[i] = !cloudy(cc, (x / kBlock + 0.5) * kBlock, (y / kBlock + 0.5) * kBlock);
      }
    const std::string cp = "coarse/c_" + d.compact() + ".tif";
    io::write_raster((dir / cp).string(), coarse, wo);
    cat.add({d, Role::Coarse, "bench-coarse", cp, "", coarse.valid_fraction(), "K", cp});
    if (k % 16 == 6) {
      const auto fc = clouds(rng, n, 0.3);
      Raster fine(g, 1, 0.0f, true);
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
          const size_t i = static_cast<size_t>(y) * n + x;
          fine.data()[i] = static_cast<float>(base + pattern[i]);
          fine.mask_data()[i] = !cloudy(fc, x, y);
        }
      const std::string fp = "fine/f_" + d.compact() + ".tif";
      io::write_raster((dir / fp).string(), fine, wo);
      cat.add({d, Role::Fine, "bench-fine", fp, "", fine.valid_fraction(), "K", fp});
    }
  }
  cat.save();
  return cat;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1000, days = 365;
  std::string method = "additive", keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--size") n = std::stoi(v);
    else if (a == "--days") days = std::stoi(v);
    else if (a == "--method") method = v;
    else if (a == "--keep") keep = v;
    else {
      std::fprintf(stderr, "unknown option %s (--size N --days N --method NAME --keep DIR)\n", a.c_str());
      return 2;
    }
  }
  const fs::path dir = keep.empty() ? fs::temp_directory_path() / ("lstfuse_bench_fill_" + std::to_string(getpid()))
                                    : fs::path(keep);
  fs::remove_all(dir / "catalog");
  fs::remove_all(dir / "fused");
  bench::Stopwatch sw;
  const Catalog cat = make_catalog(dir / "catalog", n, days);
  double mean_valid = 0;
  for (const Date& d : cat.dates(Role::Coarse)) mean_valid += cat.find(d, Role::Coarse)->valid_fraction;
  mean_valid /= days;
  std::printf("synthetic catalog: %d x %d pixels, %d days (%zu fine), mean coarse clear %.0f %%, "
              "written in %.1f s\n", n, n, days, cat.pair_dates().size(), 100 * mean_valid, sw.seconds());
  std::fflush(stdout);

  // CPU seconds too: on a shared, loaded machine wall time overstates the work.
  auto cpu = [c0 = std::clock()]() mutable {
    const std::clock_t c = std::clock();
    const double s = double(c - c0) / CLOCKS_PER_SEC;
    c0 = c;
    return s;
  };
  sw.reset();
  cpu();
  pipeline::FillCatalogOptions fo;
  fo.show_progress = false;
  pipeline::FillSummary fs_sum;
  pipeline::fill_catalog(cat, dir / "filled", fo, &fs_sum);
  const double t_fill = sw.seconds();
  std::printf("fill:  %7.1f s, %.1f CPU s  (%d coarse images written, %.3f s per day; RSS peak %.0f MiB)\n",
              t_fill, cpu(), fs_sum.written, t_fill / fs_sum.written, bench::peak_rss_mib());
  std::fflush(stdout);
  fs::remove_all(dir / "filled");

  sw.reset();
  auto m = method_registry().create(method);
  pipeline::FuseOptions o;
  o.out_dir = dir / "fused";
  o.fill = true;
  o.max_reference_steps = 3;
  o.show_progress = false;
  o.format = "GTiff";
  const auto sum = pipeline::fuse(cat, *m, o);
  const double t_fuse = sw.seconds();
  double valid = 0;
  for (const auto& e : sum.entries) valid += e.valid_fraction;
  std::printf("fuse --fill (%s, fill included): %7.1f s, %.1f CPU s  (%d days, %.3f s per day, mean "
              "valid %.2f %%; RSS peak %.0f MiB)\n", method.c_str(), t_fuse, cpu(), sum.done, t_fuse / std::max(1, sum.done),
              100.0 * valid / std::max<size_t>(1, sum.entries.size()), bench::peak_rss_mib());
  std::printf("fill + fuse of the %d days: %.1f s\n", days, t_fuse);
  if (keep.empty()) fs::remove_all(dir);
  return 0;
}
