// `lstfuse demo`: the built-in end-to-end run on a simulated scene (the README's main command).
#include <iostream>

#include "command.hpp"
#include "common_flags.hpp"
#include "lstfuse/pipeline/demo.hpp"

namespace cmd_demo {

namespace {

void setup(CLI::App& app) {
  auto o = std::make_shared<lstfuse::pipeline::DemoOptions>();
  auto out = std::make_shared<std::string>(o->out_dir.string());
  auto* cmd = app.add_subcommand(
      "demo",
      "Simulate a year of MODIS and Landsat LST over a built-in landscape, ingest it, benchmark "
      "every method (baselines, STARFM, ESTARFM, deep networks on a small CPU budget, STTFN "
      "ablations), fuse a month of daily LST and write an HTML report");
  lstfuse::cli::add_output(cmd, *out, "Output folder", true)->capture_default_str();
  cmd->add_option("--seed", o->seed, "Simulation seed")->capture_default_str();
  cmd->add_option("--size", o->size, "Fine pixels per side (30 m)")
      ->check(CLI::Range(64, 4000))
      ->capture_default_str();
  cmd->add_option("--days", o->days, "Days simulated")->check(CLI::Range(60, 1500))->capture_default_str();
  cmd->add_option("--cloud-cover", o->cloud_cover, "Mean cloud fraction of the simulated scenes")
      ->check(lstfuse::cli::finite_range(0.0, 0.9))
      ->capture_default_str();
  cmd->add_option("--methods", o->methods,
                  "Methods to benchmark (default: all, plus sttfn:weighting=tc, sttfn:stc-window=33, sttfn:loss=mse)")
      ->check(lstfuse::cli::non_empty());  // '' ran every method, as if it had not been given
  cmd->add_option("--epochs", o->epochs, "Training epochs of each deep method")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--patches-per-epoch", o->patches_per_epoch,
                  "Training patches per epoch of each deep method")
      ->check(CLI::Range(8, 1000000))
      ->capture_default_str();
  cmd->add_option("--dates", o->max_dates, "loo: pair dates predicted (evenly spaced, mostly clear)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("--protocol", o->protocol, "Benchmark protocol")
      ->check(CLI::IsMember({"loo", "split"}))
      ->capture_default_str();
  cmd->add_option("--fuse-method", o->fuse_method, "Method used for the month of daily fusion")
      ->capture_default_str();
  cmd->add_option("--fuse-days", o->fuse_days, "Days of the fused period")
      ->check(CLI::Range(1, 366))
      ->capture_default_str();
  // --of and --co choose the daily fusion's files (as `fuse --of`); the simulation, the catalog
  // and the benchmark's predictions stay GeoTIFF, the formats ingest and the report read.
  auto raster = std::make_shared<lstfuse::cli::RasterOutput>();
  raster->format = o->fuse_format;
  lstfuse::cli::add_raster_output(cmd, *raster, {"GTiff", "COG", "netCDF"}, false);
  cmd->callback([o, out, raster] {
    lstfuse::cli::apply_raster_output(*raster);
    o->fuse_format = raster->format;
    o->fuse_creation_options = raster->creation_options;
    o->out_dir = *out;
    o->show_progress = !raster->quiet;
    const auto report = lstfuse::pipeline::run_demo(*o);
    std::cout << "\nReport: " << std::filesystem::absolute(report).string()
              << "\n(open it in a browser; tables: results.csv, summary.md beside it)\n";
  });
}

}  // namespace

LSTFUSE_COMMAND(90, setup);

}  // namespace cmd_demo
