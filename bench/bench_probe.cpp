// What this CPU can do at most, for docs/performance.md's floors: float multiply-add and divide
// throughput on 8-float vectors (the width of the classic kernels' Lanes), the bandwidth of loads
// that hit the L2 cache (where the windows' rows live) and of main memory (a STREAM triad),
// each on 1 thread and on every thread.
//   bench_probe [--json FILE]
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_support.hpp"

using namespace lstfuse;

namespace {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float V8 __attribute__((vector_size(32)));

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PROBE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), noinline))
#else
#define PROBE_CLONES __attribute__((noinline))
#endif

// 10 independent chains of a = a * m + c: enough to cover the FMA latency on two pipes.
PROBE_CLONES double fma_chains(long iters, float seed) {
  V8 a[10];
  for (int k = 0; k < 10; ++k) a[k] = V8{} + (seed + k * 0.001f);
  const V8 m = V8{} + 0.999999f, c = V8{} + 1e-6f;
  for (long i = 0; i < iters; ++i)
    for (int k = 0; k < 10; ++k) a[k] = a[k] * m + c;
  V8 s{};
  for (int k = 0; k < 10; ++k) s += a[k];
  double out = 0;
  for (int l = 0; l < 8; ++l) out += s[l];
  return out;
}

// Independent divisions (as ESTARFM's weights 1 / ((1 - R) d + 1e-7)).
PROBE_CLONES double divisions(long iters, float seed) {
  V8 a[8];
  for (int k = 0; k < 8; ++k) a[k] = V8{} + (1.0f + seed + k);
  const V8 one = V8{} + 1.0f, d = V8{} + 1.0000001f;
  V8 s{};
  for (long i = 0; i < iters; ++i)
    for (int k = 0; k < 8; ++k) {
      s += one / a[k];
      a[k] = a[k] * d;
    }
  double out = 0;
  for (int l = 0; l < 8; ++l) out += s[l];
  return out;
}

// Sum of a buffer read again and again (bytes/s of vector loads from wherever it fits).
PROBE_CLONES double read_sum(const float* p, size_t n, int passes) {
  V8 s0{}, s1{}, s2{}, s3{};
  for (int r = 0; r < passes; ++r)
    for (size_t i = 0; i + 32 <= n; i += 32) {
      V8 a, b, c, d;
      std::memcpy(&a, p + i, 32), std::memcpy(&b, p + i + 8, 32);
      std::memcpy(&c, p + i + 16, 32), std::memcpy(&d, p + i + 24, 32);
      s0 += a, s1 += b, s2 += c, s3 += d;
    }
  const V8 s = s0 + s1 + s2 + s3;
  double out = 0;
  for (int l = 0; l < 8; ++l) out += s[l];
  return out;
}

struct Figure {
  std::string name, unit;
  double one = 0, all = 0;
};

template <class F>
double per_second(int threads, double work_per_thread, F body) {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    bench::Stopwatch sw;
#pragma omp parallel num_threads(threads)
    body(omp_get_thread_num());
    best = std::max(best, threads * work_per_thread / sw.seconds());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--json" && i + 1 < argc) json_path = argv[++i];
  }
  const int all = omp_get_max_threads();
  volatile double sink = 0;
  std::vector<Figure> figs;

  const long fma_iters = 40'000'000;
  const double fma_flops = fma_iters * 10.0 * 8 * 2;  // chains x lanes x (mul + add)
  Figure f{"float multiply-add, 8-wide", "GFLOP/s"};
  for (int t : {1, all}) {
    const double v = per_second(t, fma_flops, [&](int id) { sink = sink + fma_chains(fma_iters, id * 1e-3f); }) / 1e9;
    (t == 1 ? f.one : f.all) = v;
  }
  figs.push_back(f);

  const long div_iters = 10'000'000;
  Figure d{"float division, 8-wide", "G divisions/s"};
  for (int t : {1, all}) {
    const double v = per_second(t, div_iters * 8.0 * 8, [&](int id) { sink = sink + divisions(div_iters, id * 1e-3f); }) / 1e9;
    (t == 1 ? d.one : d.all) = v;
  }
  figs.push_back(d);

  // 256 KiB per thread: in L2 on this machine (1 MiB per core), past L1.
  const size_t l2n = 64 * 1024;
  std::vector<std::vector<float>> l2buf(all, std::vector<float>(l2n, 1.0f));
  Figure l2{"loads from L2 (256 KiB per thread)", "GB/s"};
  for (int t : {1, all}) {
    const int passes = 4000;
    const double v = per_second(t, double(l2n) * 4 * passes, [&](int id) {
      sink = sink + read_sum(l2buf[id].data(), l2n, passes);
    }) / 1e9;
    (t == 1 ? l2.one : l2.all) = v;
  }
  figs.push_back(l2);

  // STREAM triad a = b + s c on 3 x 128 MiB (bytes counted: 2 reads + 1 write).
  const size_t n = 32u << 20;
  std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
  Figure mem{"main memory, STREAM triad", "GB/s"};
  for (int t : {1, all}) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      bench::Stopwatch sw;
#pragma omp parallel for num_threads(t) schedule(static)
      for (long i = 0; i < static_cast<long>(n); ++i) a[i] = b[i] + 0.5f * c[i];
      best = std::max(best, 3.0 * n * sizeof(float) / sw.seconds() / 1e9);
    }
    sink = sink + a[n / 2];
    (t == 1 ? mem.one : mem.all) = best;
  }
  figs.push_back(mem);

  std::printf("%-38s %12s %12s  %s\n", "probe", "1 thread", "all threads", "unit");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& x : figs) {
    std::printf("%-38s %12.2f %12.2f  %s (%d threads)\n", x.name.c_str(), x.one, x.all, x.unit.c_str(), all);
    out.push_back({{"probe", x.name}, {"unit", x.unit}, {"one_thread", x.one}, {"all_threads", x.all},
                   {"threads", all}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return sink == 12345.0 ? 1 : 0;
}
