#pragma once
// `fuse`: the product users come for. For every date in a range that has a coarse image and no
// fine one, predict the fine LST with one method, choosing the bracketing pairs per date and
// training deep models once per pair interval (or once for the series), and reusing them.
// Writes one COG per date plus its quality layer and an index of what came from what.
// Resumable: a date whose output already exists is skipped, and saved models are reused, so a
// re-run after an interruption continues where it stopped and produces identical files.
#include <filesystem>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/prep/fill.hpp"

namespace lstfuse::pipeline {

class FuseWork;

struct FuseOptions {
  std::optional<Date> from;   // default: first coarse date
  std::optional<Date> to;     // default: last coarse date
  std::filesystem::path out_dir;
  // Set by fuse() from the source catalog (catalog_fingerprint): a resumed run must read the
  // same catalog, wherever it lies now.
  std::string catalog_fingerprint;
  std::string format = "COG";  // or GTiff, or netCDF: COGs plus one CF cube of every date
  bool series = false;         // trainable methods: one model for the whole series
  bool show_progress = true;
  std::filesystem::path model;  // optional pre-trained model (skips training)
  std::string coarse_bias = "auto";  // the coarse-bias step (inputs.hpp): auto, on, off
  bool overwrite = false;  // redo a folder made with other method options (see fuse_resume.hpp)
  // Per-pixel uncertainty band (pipeline/quality.hpp): learned leave-one-out on the pair dates
  // (at most uncertainty_dates of them, 0 = all), once per output folder.
  bool uncertainty = true;
  int uncertainty_dates = 0;
  std::optional<double> fine_noise_sd;  // K; default: estimated from the fine images
  // Gap-filled coarse images (lstfuse fill, kept in out_dir/filled-coarse): every day of the
  // period is fused, days without a coarse image included; quality band `coarse_filled`.
  bool fill = false;
  prep::FillOptions fill_options;
  // Pixels the chosen pairs leave without a clear reference are predicted from pairs up to this
  // many usable pairs farther away (quality band `reference_filled`); 0: left invalid.
  int max_reference_steps = 0;
  // Spatial tiles as work items (fuse_tiles.hpp): each date cut into tiles of this many pixels
  // (square), predicted as separate items and assembled into the same files as a whole-scene
  // run; <= 0: a date is one item.
  int work_tile = 0;
  // The --co creation options the rasters are written with (io::WriteOptions::user_options), kept
  // in the run settings: files written with other options are not this run's.
  std::vector<std::string> creation_options;
  // Shares the dates with other processes (MPI ranks, shards; fuse_work.hpp); null: all here.
  FuseWork* work = nullptr;
};

struct FuseEntry {
  Date date;
  std::string status;          // "done", "no-data" (coarse image fully invalid), "failed"
  std::string output;          // relative to out_dir
  std::string quality;
  std::vector<Date> pairs;
  std::string model;           // relative path of the model used (trainable methods)
  std::string note;
  double seconds = 0.0;
  double valid_fraction = 0.0;
  // Size and checksum of output and quality, so that a re-run recognises intact files.
  std::uintmax_t output_bytes = 0, quality_bytes = 0;
  std::string output_checksum, quality_checksum;
  // Truth-free quality: fine block means against the day's observed coarse pixels (K).
  double consistency_ubrmse = std::numeric_limits<double>::quiet_NaN();
  double consistency_bias = std::numeric_limits<double>::quiet_NaN();
  double mean_uncertainty = std::numeric_limits<double>::quiet_NaN();  // K, 1 sigma
};

struct FuseSummary {
  std::vector<FuseEntry> entries;
  int done = 0;     // predicted in this run
  int skipped = 0;  // already predicted by an earlier run
  int no_data = 0;  // coarse image without a valid pixel
  int failed = 0;
  // With work tiles: tiles predicted in this run, and tiles found stored by an earlier one.
  int tiles_done = 0, tiles_found = 0;
  std::string uncertainty_note;  // why there is no uncertainty band, when there is none
};

// Dates fuse would predict: coarse dates within [from, to] without a fine image; with
// opts.fill, every day the filler fills (fill_days of `source`, the catalog before filling, or
// of `catalog` without one) that has no fine image. With opts.fill, throws as fill_days does
// (a period outside the coarse series).
std::vector<Date> fuse_targets(const Catalog& catalog, const FuseOptions& opts, const Catalog* source = nullptr);

// `method` comes configured (options set). The index (index.json, index.csv) is rewritten after
// every date. Errors on one date are recorded in the index and the run continues; the run
// throws only when nothing could be predicted.
FuseSummary fuse(const Catalog& catalog, Method& method, const FuseOptions& opts);

}  // namespace lstfuse::pipeline
