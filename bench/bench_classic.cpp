// Speed of the baselines and classic methods on a 1300 x 1300 synthetic scene with realistic
// texture, for 1 and 2 threads, and (with --stream-full) the peak memory of a streamed ESTARFM
// run on a full Landsat-size scene (7700 x 7800).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>

#include "bench_support.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/streamed.hpp"

using namespace lstfuse;

namespace {

Grid make_grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {400000.0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// Fields, roads and noise: a few K of contrast at several scales, like Landsat LST.
Raster landscape(const Grid& g, float base, unsigned seed) {
  Raster r(g, 1, base, true);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  for (int y = 0; y < g.height; ++y)
    for (int x = 0; x < g.width; ++x) {
      const int field = ((x / 37) * 7 + (y / 29) * 13) % 5;
      r.at(y, x) = base + field * 1.6f + 2.0f * std::sin(x * 0.013f) * std::cos(y * 0.011f) + noise(rng);
    }
  return r;
}

Raster coarse_of(const Raster& fine, float offset) {
  Raster out(fine.grid(), 1, 0.0f, true);
  const int B = 33;  // 1 km MODIS on a 30 m grid
  for (int by = 0; by < fine.height(); by += B)
    for (int bx = 0; bx < fine.width(); bx += B) {
      double s = 0;
      int n = 0;
      for (int y = by; y < std::min(by + B, fine.height()); ++y)
        for (int x = bx; x < std::min(bx + B, fine.width()); ++x, ++n) s += fine.at(y, x);
      for (int y = by; y < std::min(by + B, fine.height()); ++y)
        for (int x = bx; x < std::min(bx + B, fine.width()); ++x) out.at(y, x) = float(s / n) + offset;
    }
  return out;
}

FusionInput scene(int w, int h) {
  const Grid g = make_grid(w, h);
  FusionInput in;
  const Raster l1 = landscape(g, 295.0f, 1), l2 = landscape(g, 301.0f, 2), t = landscape(g, 306.0f, 3);
  in.pairs.push_back({Date(2020, 5, 1), l1, coarse_of(l1, -1.0f)});
  in.pairs.push_back({Date(2020, 5, 17), l2, coarse_of(l2, -0.5f)});
  in.coarse = coarse_of(t, 0.3f);
  in.date = Date(2020, 5, 9);
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  // --stream-full [HALF_WINDOW]: also the streamed 7700 x 7800 ESTARFM run (memory figure); a
  // smaller half window shortens it without changing the memory bound much.
  bool full = false, classic = true;
  std::string stream_half = "25";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--stream-full") {
      full = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') stream_half = argv[++i];
    }
    if (a == "--stream-only") full = true, classic = false;
  }
  const int N = 1300;
  if (classic) {
  const FusionInput in = scene(N, N);
  std::printf("scene %d x %d (%.2f Mpx); ESTARFM half window 25 (51 x 51), STARFM window 31\n", N, N,
              N * N / 1e6);
  // CPU seconds are printed too: on a shared, loaded machine wall time overstates the work.
  std::printf("%-9s %7s %9s %12s %9s\n", "method", "threads", "seconds", "pixels/s", "cpu_s");
  for (const char* name : {"bilinear", "additive", "starfm", "estarfm"}) {
    for (int threads : {1, 2}) {
      auto m = method_registry().create(name);
      bench::Stopwatch sw;
      const std::clock_t c0 = std::clock();
      const FusionResult r = predict_tiled(*m, in, {512, threads});
      const double s = sw.seconds();
      const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
      std::printf("%-9s %7d %9.3f %12.0f %9.3f   (valid %.3f)\n", name, threads, s, N * double(N) / s,
                  cpu, r.fine.valid_fraction());
      std::fflush(stdout);
    }
  }
  std::printf("peak RSS so far: %.0f MiB\n", bench::peak_rss_mib());
  }

  if (full) {
    // Write a 7700 x 7800 scene as files (row by row, never whole in memory), then stream it.
    const int W = 7700, H = 7800;
    const std::string dir = (std::filesystem::temp_directory_path() / "lstfuse_bench_stream").string();
    std::filesystem::create_directories(dir);
    const Grid g = make_grid(W, H);
    StreamInput s;
    s.date = Date(2020, 5, 9);
    auto write_scene = [&](const std::string& path, float base, unsigned seed, bool coarse) {
      io::RasterWriter w(path, g, 1);
      const int strip = 330;  // multiple of the 33-pixel coarse block
      for (int y = 0; y < H; y += strip) {
        const int h = std::min(strip, H - y);
        Grid sg = g.window(0, y, W, h);
        Raster f = landscape(sg, base, seed + y);
        w.write(coarse ? coarse_of(f, 0.0f) : f, 0, y);
      }
      w.commit();
    };
    bench::Stopwatch prep;
    s.coarse = dir + "/m0.tif";
    write_scene(s.coarse, 306.0f, 3, true);
    for (int k = 0; k < 2; ++k) {
      StreamPair p{Date(2020, 5, k ? 17 : 1), dir + "/l" + std::to_string(k) + ".tif",
                   dir + "/m" + std::to_string(k) + ".tif"};
      write_scene(p.fine, 295.0f + 6 * k, 10 + k, false);
      write_scene(p.coarse, 295.0f + 6 * k, 10 + k, true);
      s.pairs.push_back(p);
    }
    std::printf("full scene written in %.1f s; RSS now %.0f MiB\n", prep.seconds(), bench::current_rss_mib());
    auto m = method_registry().create("estarfm");
    m->options().set("half-window", stream_half);
    bench::Stopwatch sw;
    predict_streamed(*m, s, {dir + "/pred.tif", dir + "/pred_quality.tif", {}}, {512, 0});
    std::printf("streamed ESTARFM (half window %s) %d x %d: %.1f s, peak RSS %.0f MiB\n",
                stream_half.c_str(), W, H, sw.seconds(),
                bench::peak_rss_mib());
    std::filesystem::remove_all(dir);
  }
  return 0;
}
