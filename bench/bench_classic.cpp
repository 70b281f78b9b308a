// Speed of the baselines and classic methods on a 1300 x 1300 synthetic scene with realistic
// texture, for 1 and 2 threads, and (with --stream-full) the peak memory of a streamed ESTARFM
// run on a full Landsat-size scene (7700 x 7800).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// Median of a few timings.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Raw float32 predictions (band 0, NaN where invalid) for comparing two builds of the kernels.
std::vector<float> plain(const Raster& r) {
  std::vector<float> v(r.band_size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = r.mask(0)[i] ? r.band(0)[i] : NAN;
  return v;
}

// Largest |a - b| over pixels valid in both, and the count valid in only one.
std::pair<double, long> compare(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  long mismatched = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) ++mismatched;
    else if (!std::isnan(a[i])) d = std::max(d, double(std::fabs(a[i] - b[i])));
  }
  return {d, mismatched};
}

}  // namespace

int main(int argc, char** argv) {
  // --stream-full [HALF_WINDOW]: also the streamed 7700 x 7800 ESTARFM run (memory figure); a
  // smaller half window shortens it without changing the memory bound much.
  // --repeat N: timings per case (the median is printed; default 5).
  // --methods a,b: which methods (default bilinear,additive,starfm,estarfm).
  // --threads a,b: thread counts (default 1,2).
  // --save DIR / --against DIR: write each method's prediction as raw float32, or compare with
  // what an earlier build wrote there (largest difference in K), so a faster kernel is checked
  // against the code it replaces on the same inputs.
  // --json FILE: the figures as JSON, to compare one run with the next.
  // --write-scene DIR: write the scene's five images as GeoTIFFs (for timing `lstfuse predict`
  // end to end on the same inputs: bench/predict_overhead.sh) and stop.
  bool full = false, classic = true;
  std::string stream_half = "25", save_dir, against_dir, json_path;
  int repeat = 5;
  std::vector<std::string> methods = {"bilinear", "additive", "starfm", "estarfm"};
  std::vector<int> thread_counts = {1, 2};
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
    return out;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_classic: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--stream-full") {
      full = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') stream_half = argv[++i];
    } else if (a == "--stream-only") {
      full = true, classic = false;
    } else if (a == "--repeat") {
      repeat = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--methods") {
      methods = split(value());
    } else if (a == "--threads") {
      thread_counts.clear();
      for (const auto& t : split(value())) thread_counts.push_back(std::max(1, std::atoi(t.c_str())));
    } else if (a == "--save") {
      save_dir = value();
    } else if (a == "--against") {
      against_dir = value();
    } else if (a == "--json") {
      json_path = value();
    } else if (a == "--write-scene") {
      const std::string dir = value();
      std::filesystem::create_directories(dir);
      const FusionInput in = scene(1300, 1300);
      for (size_t k = 0; k < in.pairs.size(); ++k) {
        const std::string d = in.pairs[k].date.compact();
        io::write_raster(dir + "/fine_" + d + ".tif", in.pairs[k].fine);
        io::write_raster(dir + "/coarse_" + d + ".tif", in.pairs[k].coarse);
      }
      io::write_raster(dir + "/coarse_" + in.date.compact() + ".tif", in.coarse);
      return 0;
    } else {
      std::fprintf(stderr, "bench_classic: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  const int N = 1300;
  nlohmann::json figures = nlohmann::json::array();
  if (classic) {
  const FusionInput in = scene(N, N);
  std::printf("scene %d x %d (%.2f Mpx); ESTARFM half window 25 (51 x 51), STARFM window 31\n", N, N,
              N * N / 1e6);
  // CPU seconds are printed too: on a shared, loaded machine wall time overstates the work.
  std::printf("%-9s %7s %9s %12s %9s   (median of %d)\n", "method", "threads", "seconds", "pixels/s",
              "cpu_s", repeat);
  for (const std::string& name : methods) {
    for (int threads : thread_counts) {
      auto m = method_registry().create(name);
      std::vector<double> wall, cpu;
      FusionResult r;
      for (int rep = 0; rep < repeat; ++rep) {
        bench::Stopwatch sw;
        const std::clock_t c0 = std::clock();
        r = predict_tiled(*m, in, {512, threads});
        wall.push_back(sw.seconds());
        cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
      }
      const double s = median(wall), c = median(cpu);
      std::printf("%-9s %7d %9.3f %12.0f %9.3f   (valid %.3f)", name.c_str(), threads, s,
                  N * double(N) / s, c, r.fine.valid_fraction());
      nlohmann::json f = {{"case", "classic"}, {"method", name}, {"threads", threads},
                          {"size", N}, {"seconds_median", s}, {"cpu_seconds_median", c},
                          {"seconds_min", *std::min_element(wall.begin(), wall.end())},
                          {"repeat", repeat}, {"valid_fraction", r.fine.valid_fraction()}};
      const std::vector<float> v = plain(r.fine);
      if (!save_dir.empty()) {
        std::filesystem::create_directories(save_dir);
        std::ofstream(save_dir + "/" + name + ".f32", std::ios::binary)
            .write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
      }
      if (!against_dir.empty()) {
        std::vector<float> ref(v.size());
        std::ifstream f32(against_dir + "/" + name + ".f32", std::ios::binary);
        if (f32.read(reinterpret_cast<char*>(ref.data()), std::streamsize(ref.size() * sizeof(float)))) {
          const auto [d, mism] = compare(v, ref);
          std::printf("   max |diff| %.2e K, validity differs at %ld px", d, mism);
          f["max_abs_diff_vs_reference"] = d;
          f["validity_mismatches_vs_reference"] = mism;
        } else {
          std::printf("   (no reference in %s)", against_dir.c_str());
        }
      }
      std::printf("\n");
      std::fflush(stdout);
      figures.push_back(f);
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
    figures.push_back({{"case", "streamed_estarfm"}, {"size", {W, H}}, {"half_window", stream_half},
                       {"seconds", sw.seconds()}, {"peak_rss_mib", bench::peak_rss_mib()}});
    std::filesystem::remove_all(dir);
  }
  if (!json_path.empty()) std::ofstream(json_path) << figures.dump(2) << "\n";
  return 0;
}
