#pragma once
// `demo`: the whole product on a built-in simulated scene. Simulates a moderate-variability year
// (a few hundred pixels square, Landsat every 16 days with clouds, daily MODIS), ingests it, runs
// the benchmark (baselines, classic and deep methods on small but real training budgets, the
// STTFN ablations as variants), fuses a month of daily LST, scores the fused days against the
// simulated truth, and writes one HTML report.
#include <filesystem>
#include <string>
#include <vector>

namespace lstfuse::pipeline {

struct DemoOptions {
  std::filesystem::path out_dir = "lstfuse-demo";
  int seed = 7;
  int size = 300;          // fine pixels per side (30 m)
  int days = 365;
  double cloud_cover = 0.3;  // mean cloud fraction of the Landsat and MODIS scenes
  std::string methods;     // empty: every registered method plus the STTFN ablations
  int epochs = 10;         // training budget of each deep method: epochs x patches per epoch
  int patches_per_epoch = 512;
  std::string protocol = "loo";  // loo: predict max_dates pair dates, deep models trained once
  int max_dates = 6;             // on every other pair (series); split: survey protocol
  std::string fuse_method = "series";
  int fuse_days = 30;
  std::string fuse_format = "COG";  // the daily fusion's files: GTiff, COG or netCDF (+ COG per day)
  std::vector<std::string> fuse_creation_options;  // --co NAME=VALUE of those files
  bool show_progress = true;    // progress bars and the step lines (-q turns both off)
};

// Returns the path of report.html.
std::filesystem::path run_demo(const DemoOptions& opts);

}  // namespace lstfuse::pipeline
