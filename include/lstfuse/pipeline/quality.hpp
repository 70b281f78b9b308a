#pragma once
// The quality of fused days that fuse, benchmark and the reports share:
//  - per-pixel uncertainty (1 sigma, K), learned leave-one-out on the pair dates with the same
//    method and pair rules as the fused days (eval/uncertainty.hpp holds the arithmetic);
//  - the truth-free score of a day (consistency of the fused image with its coarse image);
//  - checks against a simulation's truth: calibration of the uncertainty on held-out days, and
//    how well the truth-free score ranks methods and dates.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/eval/consistency.hpp"
#include "lstfuse/eval/uncertainty.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/benchmark.hpp"

namespace lstfuse::pipeline {

// Names of the quality bands this module reads and writes (fuse's quality layer).
inline constexpr const char* kUncertaintyBand = "uncertainty";
inline constexpr const char* kCoarseFilledBand = "coarse_filled";
inline constexpr const char* kReferenceFilledBand = "reference_filled";

// One day predicted the way fuse predicts it (inputs prepared, model chosen, flags attached).
struct DatePrediction {
  FusionInput input;
  FusionResult result;
  double coarse_bias = 0.0;  // K removed from the target's coarse image by the bias step
  std::string note;          // what the driver did besides the method (reference steps)
};
using PredictDate = std::function<DatePrediction(const Date& target, const std::vector<Date>& pairs)>;

struct UncertaintyOptions {
  int max_dates = 0;      // pair dates predicted to learn (evenly spread); 0 = all
  int min_dates = 3;      // fewer leave-one-out dates: no uncertainty (too little to learn from)
  long long min_pixels = 1000;  // nor with fewer clear fine pixels on those dates
  double coarse_res_m = 1000.0;
  std::optional<double> fine_noise_sd;  // K; default: from the fine images' nugget
  bool show_progress = true;
  eval::UncertaintyFit fit;
};

// Pair dates that can be predicted with the method's pair rules when hidden: at least 5 % clear
// fine and coarse pixels on the date itself, and usable pairs around it.
std::vector<Date> loo_dates(const Catalog& catalog, const MethodInfo& info);

// Predicts every loo date (at most max_dates, evenly spread) with `predict`, relates the
// errors against the observed fine image to the predictors, removes the fine noise and
// calibrates. Throws Error when fewer than min_dates dates can be predicted.
eval::UncertaintyModel learn_uncertainty(const Catalog& catalog, const MethodInfo& info,
                                         const PredictDate& predict, const UncertaintyOptions& opts);

// fuse's model file in an output folder: loaded when it exists for this method, else learned
// and saved. nullopt (with the reason in `note`) when the catalog has too few pair dates.
inline constexpr const char* kUncertaintyModelFile = "uncertainty_model.json";
std::optional<eval::UncertaintyModel> uncertainty_for_fuse(const Catalog& catalog,
                                                           const MethodInfo& info,
                                                           const PredictDate& predict,
                                                           const std::filesystem::path& out_dir,
                                                           const UncertaintyOptions& opts,
                                                           std::string& note);

// Optional catalog land cover (nullopt when the catalog has none).
std::optional<Raster> catalog_landcover(const Catalog& catalog);

// The band of `quality` named `name`, as a one-band raster; empty when there is none.
Raster quality_band(const Raster& quality, const std::string& name);
// Appends `band` (one band) to `quality` under `name` (creates the raster when empty).
void append_quality_band(Raster& quality, const Raster& band, const std::string& name);

// What fuse records of a day besides its files.
struct DayQuality {
  eval::ConsistencyScore consistency;
  double mean_uncertainty = std::numeric_limits<double>::quiet_NaN();  // K, over predicted pixels
};
// Scores the day against its coarse image and, with a model, appends the uncertainty band to
// result.quality. Fill flags are read from result.quality (coarse_filled, reference_filled).
DayQuality add_day_quality(const FusionInput& input, FusionResult& result,
                           const eval::UncertaintyModel* model, const Raster* landcover,
                           double coarse_res_m = 1000.0);

// Benchmark: the consistency of every row with its date's coarse image, its RMSE against the
// truth where the catalog has one, and the rank agreement of the two (ScoreRanking).
void score_consistency(const Catalog& catalog, BenchmarkResult& result,
                       const std::filesystem::path& out_dir, double coarse_res_m = 1000.0);
ScoreRanking rank_agreement(const BenchmarkResult& result);
// Their rendering in the benchmark tables (results.json, summary.md) and on the terminal.
nlohmann::json consistency_json(const BenchmarkRow& row);
nlohmann::json ranking_json(const ScoreRanking& ranking);
std::string consistency_markdown(const BenchmarkResult& result);
std::string ranking_text(const ScoreRanking& ranking);

// Held-out check of a fuse folder against the catalog's truth: share of pixels with
// |fused - truth| <= k sigma, overall, per fill status and per land-cover class.
struct CalibrationGroup {
  std::string name;
  long long pixels = 0;
  double within1 = 0, within2 = 0;  // shares
  double rmse = 0, mean_sigma = 0;  // K
};
struct CalibrationCheck {
  int dates = 0;
  std::vector<double> k, expected, observed;  // calibration curve, all pixels
  CalibrationGroup overall;
  std::vector<CalibrationGroup> by_fill, by_class, by_date;
  nlohmann::json to_json() const;
  std::string to_text() const;
};
// nullopt when no fused day has truth and an uncertainty band.
std::optional<CalibrationCheck> check_calibration(const Catalog& catalog,
                                                  const std::filesystem::path& fuse_dir);

}  // namespace lstfuse::pipeline
