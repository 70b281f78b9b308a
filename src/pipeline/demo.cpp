#include "lstfuse/pipeline/demo.hpp"

#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/eval/quicklook.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/benchmark.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/fuse_report.hpp"
#include "lstfuse/pipeline/fuse_resume.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/ingest.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/report.hpp"
#include "lstfuse/sim/simulate.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string default_methods() {
  auto& reg = method_registry();
  std::string list;
  for (const auto& n : reg.names()) {
    // MLFF-GAN's published rate (2e-4) is meant for long GPU runs; within the demo's budget it
    // stays worse than bilinear, 1e-3 does not (docs/deep-methods.md).
    list += (list.empty() ? "" : ",") + (n == "mlffgan" ? std::string("mlffgan:lr=0.001") : n);
  }
  if (reg.has("sttfn")) list += ",sttfn:weighting=tc,sttfn:stc-window=33,sttfn:loss=mse";
  return list;
}

// Up to `n` evenly spaced pair dates that are mostly clear and have usable pairs on both sides.
std::vector<Date> demo_dates(const Catalog& cat, int n) {
  std::vector<Date> usable, candidates;
  for (const Date& d : cat.pair_dates())
    if (usable_pair(cat, d)) usable.push_back(d);
  for (size_t i = 1; i + 1 < usable.size(); ++i)
    if (usable_pair(cat, usable[i], 0.6) && cat.find(usable[i], Role::Truth))
      candidates.push_back(usable[i]);
  if (static_cast<int>(candidates.size()) <= n) return candidates;
  std::vector<Date> out;
  for (int k = 0; k < n; ++k) out.push_back(candidates[(2 * k + 1) * candidates.size() / (2 * n)]);
  return out;
}

// Start of the `days`-long period whose coarse-only days are the clearest (sum of valid
// fractions), so that the fused month shows fusion rather than clouds.
Date clearest_window(const Catalog& cat, int days) {
  const auto dates = cat.coarse_only_dates();
  Date best = dates.front();
  double best_sum = -1.0;
  for (const Date& start : dates) {
    double sum = 0.0;
    for (const Date& d : dates)
      if (d >= start && d - start < days) sum += cat.find(d, Role::Coarse)->valid_fraction;
    if (sum > best_sum) {
      best_sum = sum;
      best = start;
    }
  }
  return best;
}

// The fuse section: every fused day scored against the simulated truth.
std::string fuse_section(const Catalog& cat, const FuseSummary& fs_sum, const fs::path& fuse_dir,
                         const fs::path& report_dir, const MethodInfo& info) {
  const std::string& method = info.name;
  std::vector<std::string> dates;
  // A method of every pair (series) is said so, as its note does, not with 20 dates a row.
  const bool every_pair = info.uses_series;
  ChartSeries rmse{method + " (fused)", {}}, base{"bilinear (MODIS only)", {}};
  std::string rows;
  std::string maps;
  int mapped = 0;
  for (const auto& e : fs_sum.entries) {
    if (e.status != "done") continue;
    const auto truth = cat.find(e.date, Role::Truth);
    if (!truth) continue;
    const Raster t = io::load_observation(cat, *truth);
    const Raster p = io::read_raster((fuse_dir / e.output).string());
    const Raster c = io::load_observation(cat, *cat.find(e.date, Role::Coarse));
    if (p.valid_count(0) == 0) {
      rows += fmt::format("<tr><td>{}</td><td colspan='6'>no pixel predicted (no usable pair "
                          "pixel under the clear MODIS pixels)</td></tr>", e.date.iso());
      continue;
    }
    const auto m = eval::compute_metrics(p, t);
    const auto mb = eval::compute_metrics(c, t);
    dates.push_back(e.date.iso());
    rmse.values.push_back(m.overall.rmse);
    base.values.push_back(mb.overall.rmse);
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.3f}</td><td>{:.4f}</td><td>{:.3f}</td>"
                        "<td>{:.3f}</td><td>{:.1f} %</td></tr>",
                        e.date.iso(), html_escape([&] {
                          if (every_pair) return fmt::format("every pair of the series ({})", e.pairs.size());
                          std::string s;
                          for (const auto& d : e.pairs) s += (s.empty() ? "" : ", ") + d.iso();
                          return s;
                        }()),
                        m.overall.rmse, m.overall.ssim, m.overall.bias, mb.overall.rmse,
                        100.0 * e.valid_fraction);
    if (mapped < 2) {
      const auto s = band_stats(t);
      eval::QuicklookOptions q;
      q.vmin = s.mean - 2.5 * s.stddev;
      q.vmax = s.mean + 2.5 * s.stddev;
      q.title = "fused " + method + " " + e.date.iso();
      const std::string a = "maps/fused_" + e.date.compact() + ".png";
      const std::string b = "maps/fused_truth_" + e.date.compact() + ".png";
      const std::string c2 = "maps/fused_modis_" + e.date.compact() + ".png";
      eval::render_png(p, (report_dir / a).string(), q);
      q.title = "truth " + e.date.iso();
      eval::render_png(t, (report_dir / b).string(), q);
      q.title = "MODIS " + e.date.iso();
      eval::render_png(c, (report_dir / c2).string(), q);
      maps += fmt::format("<div class='maps'><figure><img src='{}'><figcaption>MODIS (input)"
                          "</figcaption></figure><figure><img src='{}'><figcaption>fused ({})"
                          "</figcaption></figure><figure><img src='{}'><figcaption>simulated truth"
                          "</figcaption></figure></div>", c2, a, html_escape(method), b);
      ++mapped;
    }
  }
  std::string h = fmt::format(
      "<h2>Daily fusion of a month ({})</h2><p class='note'>lstfuse fuse predicted {} day(s) "
      "with coarse data and no Landsat; the days where the simulation kept its truth are scored "
      "here against it, next to MODIS alone. Outputs (COG + quality layer + index) are in {}.</p>",
      html_escape(method), fs_sum.done + fs_sum.skipped, html_escape(fuse_dir.string()));
  if (!dates.empty()) {
    h += svg_line_chart(dates, {rmse, base}, "RMSE vs truth (K)");
    h += "<table><tr><th>date</th><th>pairs used</th><th>RMSE (K)</th><th>SSIM</th><th>bias (K)"
         "</th><th>MODIS-only RMSE (K)</th><th>predicted pixels</th></tr>" + rows + "</table>";
  }
  return h + maps;
}

// The daily folder of an earlier demo that fused with another method (another --fuse-method, or
// the default of an earlier version): fuse refuses to mix two methods' files in one folder, and
// this one is the demo's own, so it is made again. A folder that is not a fuse run is left for
// fuse to refuse.
void drop_other_methods_fusion(const fs::path& dir, const std::string& method) {
  std::ifstream in(dir / "index.json");
  if (!in) return;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  const auto is = [&](const char* key, const std::string& value) {
    return j.is_object() && j.contains(key) && j[key].is_string() && j[key].get<std::string>() == value;
  };
  if (!is("format", kFuseIndexFormat) || !j.contains("method") || is("method", method)) return;
  in.close();
  fs::remove_all(dir);
}

}  // namespace

fs::path run_demo(const DemoOptions& o) {
  const auto t_all = std::chrono::steady_clock::now();
  const fs::path out = o.out_dir;
  const fs::path sim_dir = out / "simulation";
  const fs::path cat_dir = out / "catalog";
  const fs::path bench_dir = out / "report";
  const fs::path fuse_dir = out / "fused";
  // Every method name checked before an hour of work starts, not after the simulation.
  const auto entries = parse_method_list(o.methods.empty() ? default_methods() : o.methods);
  for (const auto& e : entries) method_registry().create(e.method);
  auto fuse_method = method_registry().create(o.fuse_method);
  // -q: no step lines either (the report's path is still printed by the command).
  const auto say = [&](const std::string& line) {
    if (o.show_progress) std::cout << line << std::flush;
  };
  // A new or empty folder, or an earlier demo (rewritten); never someone else's files.
  check_output_folder(out, "-o", {}, demo_kind(), FolderUse::Reuse, false);
  // A demo that fails in a new or empty folder leaves it as it was: everything in it is its own.
  std::error_code ec;
  const bool existed = fs::exists(out, ec), was_empty = existed && fs::is_empty(out, ec);
  struct Undo {
    fs::path dir;
    bool armed;
    bool keep_dir;
    ~Undo() {
      if (!armed) return;
      std::error_code e;
      if (!keep_dir) {
        fs::remove_all(dir, e);
        return;
      }
      for (const auto& entry : fs::directory_iterator(dir, e)) fs::remove_all(entry.path(), e);
    }
  } undo{out, !existed || was_empty, existed};
  fs::create_directories(out);
  write_text_atomic(out / demo_kind().marker,
                    nlohmann::json{{"format", demo_kind().format}, {"lstfuse_version", LSTFUSE_VERSION}}.dump(1) + "\n");

  // 1. Simulate.
  auto t0 = std::chrono::steady_clock::now();
  sim::SimOptions so;
  so.seed = o.seed;
  so.size = o.size;
  so.days = o.days;
  so.variability = "moderate";
  so.cloud_cover = o.cloud_cover;
  so.modis_cloud_cover = o.cloud_cover;
  say(fmt::format("[1/5] simulating {} x {} fine pixels (30 m) over {} days, seed {} ...\n",
                           o.size, o.size, o.days, o.seed));
  const sim::Simulation sim = sim::simulate(so);
  const auto ws = sim::write_simulation(sim, sim_dir.string());
  say(fmt::format("      {} Landsat, {} MODIS, {} truth images in {:.1f} s -> {}\n",
                           ws.landsat, ws.modis, ws.truth, since(t0), sim_dir.string()));

  // 2. Ingest.
  t0 = std::chrono::steady_clock::now();
  say("[2/5] ingesting the products onto the 30 m grid ...\n");
  IngestOptions io_opts;
  io_opts.overwrite = true;
  const Catalog cat = ingest({sim_dir.string()}, cat_dir.string(), io_opts);
  say(fmt::format("      {} pair dates, {} coarse-only dates in {:.1f} s -> {}\n",
                           cat.pair_dates().size(), cat.coarse_only_dates().size(), since(t0),
                           cat_dir.string()));

  // The benchmark needs a pair date with usable pairs on both sides. A short or small cloudy
  // scene may not have three (on a 64 px scene a cloud covers the whole of it): said in the
  // demo's own terms rather than as the benchmark's protocol.
  {
    int usable = 0;
    for (const Date& d : cat.pair_dates()) usable += usable_pair(cat, d);
    if (usable < 3) {
      throw Error(fmt::format("demo: the simulated {} days of {} x {} px with --cloud-cover {} gave {} usable Landsat "
                              "date(s); the benchmark needs at least 3: give more --days, a larger --size or a "
                              "lower --cloud-cover (or another --seed)",
                              o.days, o.size, o.size, o.cloud_cover, usable));
    }
  }

  // 3. Benchmark.
  t0 = std::chrono::steady_clock::now();
  BenchmarkOptions bo;
  bo.entries = entries;
  bo.protocol = o.protocol;
  bo.training = "series";  // one model per deep method, never trained on a predicted date
  if (o.protocol == "loo") bo.only_dates = demo_dates(cat, o.max_dates);
  bo.reference = "truth";
  bo.out_dir = bench_dir;
  bo.show_progress = o.show_progress;
  bo.data_range = 40.0;  // one fixed SSIM/PSNR range for every date keeps dates comparable
  // and days only MODIS saw, the real use: twelve, spread over the year, because single days differ
  // between methods by more than the methods differ on average (three ranked them by chance)
  bo.coarse_only = 12;
  bool any_deep = false;
  for (const auto& e : bo.entries)
    any_deep = any_deep || method_registry().create(e.method)->options().has("epochs");
  if (any_deep) {
    bo.shared_args = {"epochs", std::to_string(o.epochs), "patches-per-epoch",
                      std::to_string(o.patches_per_epoch)};
  }
  std::string names;
  for (const auto& e : bo.entries) names += (names.empty() ? "" : ", ") + e.label;
  say(fmt::format("[3/5] benchmark ({}): {} ...\n", o.protocol, names));
  const BenchmarkResult res = run_benchmark(cat, bo);
  write_benchmark_tables(res, bench_dir);
  say(fmt::format("      {} dates (+{} coarse-only) x {} methods in {:.1f} s\n", res.dates.size(),
                           res.coarse_only_dates.size(), res.entries.size(), since(t0)));

  // 4. Fuse a month of daily LST around the first predicted date.
  t0 = std::chrono::steady_clock::now();
  FuseOptions fo;
  fo.out_dir = fuse_dir;
  fo.overwrite = true;  // the demo's own folder: a demo of another scene redoes it
  fo.from = clearest_window(cat, o.fuse_days);
  fo.to = *fo.from + (o.fuse_days - 1);
  fo.show_progress = o.show_progress;
  fo.format = o.fuse_format;
  fo.creation_options = o.fuse_creation_options;
  if (fuse_method->options().has("epochs")) {
    fuse_method->options().set("epochs", std::to_string(o.epochs));
    fuse_method->options().set("patches-per-epoch", std::to_string(o.patches_per_epoch));
  }
  say(fmt::format("[4/5] fusing daily LST {} .. {} with {} ...\n", fo.from->iso(),
                           fo.to->iso(), o.fuse_method));
  drop_other_methods_fusion(fuse_dir, fuse_method->info().name);
  const FuseSummary fs_sum = fuse(cat, *fuse_method, fo);
  say(fmt::format("      {} days in {:.1f} s -> {}\n", fs_sum.done + fs_sum.skipped,
                           since(t0), fuse_dir.string()));
  if (const auto c = check_calibration(cat, fuse_dir)) say("      " + c->to_text());

  // 5. Report.
  ReportExtras ex;
  ex.title = "lstfuse demo: fusing a simulated year of MODIS and Landsat LST";
  ex.intro_html = fmt::format(
      "<p>A simulated landscape ({} x {} pixels of 30 m: river, lake, city, roads, fields, forest) "
      "with a known true LST every day; Landsat-like images every 16 days with clouds, MODIS-like "
      "images every day (1 km PSF, bias, noise, clouds). Deep methods trained {} epoch(s) of {} "
      "patches each on CPU: a small budget, so their figures show the pipeline rather than their "
      "best accuracy. Seed {}; simulation in {}.</p>",
      o.size, o.size, o.epochs, o.patches_per_epoch, o.seed, html_escape(sim_dir.string()));
  ex.extra_html = fuse_section(cat, fs_sum, fuse_dir, bench_dir, fuse_method->info()) +
                  fuse_quality_html(cat, fs_sum, fuse_dir);
  const fs::path report = write_html_report(res, bench_dir, ex);
  undo.armed = false;
  say(fmt::format("[5/5] report written in {:.1f} s total\n", since(t_all)));
  return report;
}

}  // namespace lstfuse::pipeline
