#pragma once
// `benchmark`: every method on the same dates with the same metrics.
//  - loo: every pair date with a pair before and after is hidden in turn and predicted from the
//    other pairs (the STTFN paper's protocol, its Tables IV and V). Trainable methods are
//    trained per target on the pairs chosen for that date, never on the hidden date.
//  - split: the early part of the series trains (deep methods once, in series mode), the later
//    pair dates are predicted (the survey's protocol).
// Variants are entries too: "sttfn:weighting=tc" or "sttfn:loss=mse" (the STTFN ablations).
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/eval/consistency.hpp"
#include "lstfuse/eval/metrics.hpp"

namespace lstfuse::pipeline {

struct MethodEntry {
  std::string label;   // as written, e.g. "sttfn:weighting=tc"
  std::string method;  // registry name
  std::vector<std::pair<std::string, std::string>> options;
  // The drivers' coarse-bias step for this entry ("coarse-bias=on" in the list): auto, on, off;
  // empty: BenchmarkOptions::coarse_bias.
  std::string coarse_bias{};
};

// Comma-separated entries; "all", "baseline", "classic" and "deep" expand to the registered
// methods of that family. Throws Error on unknown methods.
std::vector<MethodEntry> parse_method_list(const std::string& text);

struct BenchmarkOptions {
  std::vector<MethodEntry> entries;
  std::string protocol = "loo";    // "loo" or "split"
  double train_fraction = 0.6;     // split: share of pair dates used for training
  std::string reference = "fine";  // score against the observed fine image, or "truth"
  // Options given to every method that has them (e.g. --epochs 3 for all deep methods).
  std::vector<std::string> shared_args;
  std::filesystem::path out_dir;
  std::vector<Date> map_dates;     // dates whose maps go into the report (default: the middle one)
  bool maps = true;                // draw them at all (false: tables only, no report)
  std::vector<Date> only_dates;    // restrict the protocol's dates to these (empty: all)
  std::optional<double> data_range;
  bool show_progress = true;
  // Every method predicts from the single nearest pair, and every pair date with another usable
  // pair is predicted (for catalogs with only two pairs, such as the Yanco sample).
  bool single_pair = false;
  // Score every method of a date on the pixels all of them predicted (and the reference has);
  // false: each on its own predicted pixels. Coverage is reported either way.
  bool common_mask = true;
  // Trainable methods in loo: "per-target" (a model per hidden date, on its two pairs, as in the
  // STTFN paper) or "series" (one model on every pair date except all the dates predicted).
  // split always trains once on its training part.
  std::string training = "per-target";
  // The coarse-bias step (pipeline::CoarseBiasStep) for entries that do not set their own:
  // auto (each method's default), on or off. The predicted date never enters the bias model.
  std::string coarse_bias = "auto";
  // Days only MODIS saw, scored against the simulated truth with every pair available (the real
  // use of fusion), next to the protocol's table: up to this many dates, spread over the year,
  // among those with a truth image and at least half of the coarse pixels clear. -1 (auto): 5
  // when scoring against truth without --dates, else none; 0: none.
  int coarse_only = -1;
  std::string format = "GTiff";  // the kept predictions: GTiff or COG (--of)
  std::vector<std::string> creation_options;  // --co NAME=VALUE
};

struct BenchmarkRow {
  std::string label;
  std::string method;
  Date date;
  std::vector<Date> pairs;
  std::string status;  // "ok" or "failed"
  std::string note;
  double seconds = 0.0;        // prediction
  double train_seconds = 0.0;  // training attributed to this row (loo, trainable methods)
  std::string prediction;      // GeoTIFF of the prediction, relative to the output folder
  double coverage = 0.0;       // share of the reference's valid pixels that were predicted
  double coarse_bias = std::numeric_limits<double>::quiet_NaN();  // K removed from the target's
                                                                  // coarse image (NaN: step off)
  eval::MetricsResult metrics;
  // Truth-free score: the prediction against the date's coarse image (pipeline/quality.hpp),
  // and the RMSE against the simulated truth where the catalog has it (NaN otherwise).
  eval::ConsistencyScore consistency;
  double truth_rmse = std::numeric_limits<double>::quiet_NaN();
};

// How well the truth-free score (consistency ubRMSE) ranks what the truth RMSE ranks:
// Spearman correlations, NaN where undefined (fewer than 3 values, or a constant side).
struct ScoreRanking {
  double over_methods = std::numeric_limits<double>::quiet_NaN();  // per date, averaged over dates
  int dates = 0;                                                   // dates with a defined value
  double over_dates = std::numeric_limits<double>::quiet_NaN();    // per method, averaged
  double pooled = std::numeric_limits<double>::quiet_NaN();        // all rows together
  std::vector<std::pair<Date, double>> per_date;
  std::vector<std::pair<std::string, double>> per_method;
};

struct BenchmarkResult {
  std::string protocol;
  std::string reference;
  bool common_mask = true;
  std::string catalog;
  std::vector<MethodEntry> entries;
  std::vector<Date> dates;        // predicted dates
  std::vector<Date> train_dates;  // split, and loo with series training: every pair date trained on
  std::vector<BenchmarkRow> rows;
  // Days without a fine image, predicted from every pair and scored against the truth.
  std::vector<Date> coarse_only_dates;
  std::vector<BenchmarkRow> coarse_only_rows;
  std::map<std::string, double> train_seconds;  // per entry label, total
  std::map<std::string, std::string> fit_notes;  // per entry label: what its fit reported (Method::fit_note)
  std::map<std::string, std::string> maps;      // "label|date" or "reference|date" -> PNG (relative)
  // An earlier run's files this run keeps (its maps, with --no-report): still listed, so that a
  // later run removes them.
  std::vector<std::string> kept_files;
  std::optional<ScoreRanking> ranking;          // when the catalog has truth for the dates
};

BenchmarkResult run_benchmark(const Catalog& catalog, const BenchmarkOptions& opts);

// Predictions are kept in OUT/predictions/, maps in OUT/maps/.
// results.csv (one row per method and date: method, date, rmse, ssim, ..., seconds),
// results.json, summary.md (per-date and average tables like the STTFN paper's Table IV);
// results_coarse_only.csv and a summary section for the coarse-only dates when there are any.
void write_benchmark_tables(const BenchmarkResult& result, const std::filesystem::path& dir);

}  // namespace lstfuse::pipeline
