// Simulation speed: one year on a large fine grid (default 1000 x 1000, 23 Landsat dates,
// 365 MODIS dates), in memory and written to disk. Usage: bench_simulate [size] [out_dir]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <omp.h>

#include "bench_support.hpp"
#include "lstfuse/sim/simulate.hpp"

using lstfuse::bench::Stopwatch;

int main(int argc, char** argv) {
  lstfuse::sim::SimOptions o;
  o.size = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::string out = argc > 2 ? argv[2] : "";
  fmt::print("bench_simulate: {} x {} fine pixels, {} days, {} threads\n", o.size, o.size, o.days,
             omp_get_max_threads());
  Stopwatch sw;
  const lstfuse::sim::Simulation sim(o);
  const double t_world = sw.seconds();
  fmt::print("  world (landscape, texture, series): {:.2f} s\n", t_world);

  double t_truth = 0, t_landsat = 0, t_modis = 0, checksum = 0;
  int n_landsat = 0;
  const auto& ls = sim.landsat_dates();
  for (const auto& d : sim.days()) {
    sw.reset();
    const auto truth = sim.truth(d);
    t_truth += sw.seconds();
    if (std::find(ls.begin(), ls.end(), d) != ls.end()) {
      sw.reset();
      const auto obs = sim.landsat(d, &truth);
      t_landsat += sw.seconds();
      checksum += obs.clear_fraction;
      ++n_landsat;
    }
    sw.reset();
    const auto m = sim.modis(d, &truth);
    t_modis += sw.seconds();
    checksum += m.cloud_fraction;
  }
  fmt::print("  truth, {} days: {:.2f} s ({:.1f} ms/day)\n", o.days, t_truth, 1e3 * t_truth / o.days);
  fmt::print("  Landsat, {} dates: {:.2f} s ({:.1f} ms/date)\n", n_landsat, t_landsat, 1e3 * t_landsat / n_landsat);
  fmt::print("  MODIS, {} dates: {:.2f} s ({:.1f} ms/date)\n", o.days, t_modis, 1e3 * t_modis / o.days);
  fmt::print("  in memory total: {:.2f} s (checksum {:.4f})\n", t_world + t_truth + t_landsat + t_modis, checksum);
  if (!out.empty()) {
    sw.reset();
    const auto s = lstfuse::sim::write_simulation(sim, out);
    fmt::print("  write_simulation to {}: {:.2f} s ({} Landsat, {} MODIS, {} truth files)\n", out,
               sw.seconds(), s.landsat, s.modis, s.truth);
  }
  fmt::print("  peak RSS: {:.0f} MiB\n", lstfuse::bench::peak_rss_mib());
  return 0;
}
