#pragma once
// Per-pixel uncertainty of a fused LST image: a 1-sigma error in kelvin from what is known when
// the image is predicted (days to the references, the coarse change since them, the pixel's
// coarse-consistency residual, fill flags, land cover, ...). The model is learned from
// leave-one-out predictions of the pair dates (pipeline/uncertainty.hpp drives those); this
// layer holds the arithmetic: features, the variance regression, the removal of the fine
// image's own noise and the calibration. Equations and choices: docs/uncertainty.md.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::eval {

// What is known about one fused day when it is predicted. Rasters are on one grid; the optional
// ones may be null (no pixel filled, no land cover).
struct ErrorContext {
  struct Reference {
    Date date;
    const Raster* fine = nullptr;
    const Raster* coarse = nullptr;
  };
  const Raster* fused = nullptr;   // the prediction, band 0
  const Raster* coarse = nullptr;  // the day's coarse image on the fine grid
  Date date;
  std::vector<Reference> refs;
  const Raster* coarse_filled = nullptr;     // 0/1
  const Raster* reference_filled = nullptr;  // 0/1
  const Raster* landcover = nullptr;         // class codes
  int block = 33;                            // coarse pixel in fine pixels
};

// The continuous predictors, in this order (names as in the model file).
const std::vector<std::string>& error_feature_names();

// One row per sampled pixel with a valid prediction: the predictors, its land-cover class
// (0 = none) and its pixel index; `day` (optional, one per row) names the predicted date a row
// comes from, so that the fit can separate the error all pixels of a day share.
struct FeatureRows {
  int dims = 0;
  std::vector<float> x;  // rows of `dims` values
  std::vector<uint8_t> cls;
  std::vector<size_t> pixel;
  std::vector<int> day;  // empty, or one date index per row
  std::vector<Date> day_dates;  // the date of each day index
  size_t rows() const { return pixel.size(); }
};
// Every `stride`-th valid pixel (row-major), so that the result is independent of threads.
FeatureRows error_features(const ErrorContext& ctx, int stride = 1);

// Variance of the observation noise of a fine image, from its nugget: half the variance of
// differences between neighbours at lag 1 and 2 (rows and columns, robust: from the median
// absolute difference), extrapolated linearly to lag 0: 2 g(1) - g(2), at least 0.
// NaN when the image has too few neighbouring valid pixels.
double nugget_variance(const Raster& fine);

struct UncertaintyFit {
  long long max_samples = 300000;  // rows kept (evenly strided) for the fit
  double min_class_share = 0.005;  // classes rarer than this share the baseline term
  // Calibration targets: share of |error| <= 1 sigma and <= 2 sigma (68 and 95 %, about the
  // Gaussian 68.3 and 95.4 %, the centres of the acceptance bands 63-73 and 92-98 %).
  double target1 = 0.68, target2 = 0.95;
  double tolerance1 = 0.05, tolerance2 = 0.03;  // the scale minimises the larger relative miss
  unsigned seed = 1;               // the calibration's simulated noise (deterministic)
  // With rows from at least this many days (FeatureRows::day), the error is split into a day
  // component shared by all pixels of a day and a per-pixel one, and the nearby-error
  // predictor is learned (docs/uncertainty.md).
  int min_days = 3;
  int min_class_rows = 50;  // rows of a class on a day for its own nearby error (else: all)
  // Rows of a day's observed or of its filled coarse pixels for their own day mean; the two
  // groups get a day variance each when both have that many rows on at least min_days days.
  long long min_day_group_rows = 200;
  bool nearby = true;       // learn the nearby-error predictor (log_nearby_error_mse)
  // A land-cover class with at least this many rows (on at least min_days days when the rows
  // are grouped by day) gets its own calibration factor.
  long long min_class_calibration_rows = 500;
  // Class factors are kept within [this, 1 / this]. A factor is learned on the hidden dates, 16
  // days and more from a reference, and carries only in part to fused days closer to theirs;
  // below 2/3 it was the mark of a class with rare large misses (water), whose band it shrank
  // where the fused days miss more (docs/uncertainty.md).
  double min_class_factor = 2.0 / 3.0;
  // K^2, the gap filler's check of days filled whole (mean squared error of a day's scene mean
  // when it is filled from the days around it, checked on the days with clear pixels at the
  // gaps the series' days filled whole have: prep::GapFiller::whole_day_checks), < 0: none.
  // With one, the days filled whole get the day variance of the observed pixels plus this, and
  // the few hidden dates filled whole neither set it nor the calibration (docs/uncertainty.md).
  double whole_day_fill_variance = -1.0;
};

// Error level of the hidden dates: per date, the log mean squared deviation of the error from
// the day's mean, for all pixels (class 0) and per land-cover class (NaN: too few pixels).
struct NearbyErrors {
  std::vector<Date> dates;
  std::vector<std::vector<double>> log_mse;  // [date][class 0..255]
  // Log MSE of class `cls` at `date`, linear in time between the nearest dates before and after
  // that have a value (the nearest one beyond either end), skipping date index `skip` (-1:
  // none); the all-pixel value where the class has none; NaN when nothing is left.
  double at(const Date& date, uint8_t cls, int skip = -1) const;
  bool empty() const { return dates.empty(); }
};

struct UncertaintyModel {
  std::vector<std::string> features;  // continuous predictor names (error_feature_names())
  std::vector<uint8_t> active;        // 1 where the predictor varied in training and is used
  std::vector<double> mean, sd;       // standardisation of the active predictors
  std::vector<double> lo, hi;         // training range: predictors are clamped to it
  std::vector<int> classes;           // land-cover classes with their own term (not baseline)
  int baseline_class = 0;
  std::vector<double> beta;           // intercept, active predictors, classes
  // Range of beta'x over the training rows: each predictor clamped to its own range can still
  // combine into a point far outside the rows seen (few hidden dates, large coefficients), and
  // exp() of it would be a band of thousands of kelvin. Unbounded in files without it.
  double eta_lo = -std::numeric_limits<double>::infinity();
  double eta_hi = std::numeric_limits<double>::infinity();
  double noise_variance = 0.0;        // K^2, the fine observation's noise removed
  // K^2, the error shared by the pixels of a day: by all of them, or, when pixels predicted
  // otherwise have their own (the variances below, >= 0), by those with an observed coarse
  // value and a clear reference. < 0 below: that kind has none of its own (day_variance_for).
  double day_variance = 0.0;
  double day_variance_filled = -1.0;            // K^2, coarse value filled, reference clear
  double day_variance_reference_filled = -1.0;  // K^2, coarse observed, reference from a farther pair
  double day_variance_both_filled = -1.0;       // K^2, both
  double day_variance_whole_day_filled = -1.0;  // K^2, coarse filled on a day filled whole (< 2 % observed)
  // K^2, the filler's check it was built on (UncertaintyFit::whole_day_fill_variance); < 0: it
  // was learned from the hidden dates filled whole.
  double whole_day_fill_variance = -1.0;
  double day_variance_for(bool coarse_filled, bool reference_filled, bool whole_day = false) const;
  int days = 0;                       // days the day component was learned from (0: none)
  NearbyErrors nearby;                // the error level of the hidden dates, in time
  double scale = 1.0;                 // calibration factor on sigma
  // Per land-cover class, a factor on top of `scale` (classes not listed: 1).
  std::vector<std::pair<uint8_t, double>> class_scale;
  double class_factor(uint8_t cls) const;
  long long samples = 0;
  // Leave-one-out calibration, estimated for the truth (see docs/uncertainty.md).
  std::vector<double> calib_k, calib_expected, calib_estimated;
  std::vector<std::string> dates;     // pair dates predicted to learn it
  std::string method;
  nlohmann::json to_json() const;
  static UncertaintyModel from_json(const nlohmann::json& j);
  // 1-sigma error (K) of a pixel with predictors x (dims = features.size()) and class cls.
  double sigma(const float* x, uint8_t cls) const;
};

// Fits the variance model to the errors (prediction - observed fine) of the rows: with rows
// grouped by day, the variance of the day means, per fill status where both have enough days
// (day part) and a model of the deviations from
// them (pixel part, every day weighing the same); removes the observation noise
// `noise_variance` from the pixel part and calibrates the scale. Throws Error when there are
// too few rows.
UncertaintyModel fit_uncertainty(const FeatureRows& rows, const std::vector<float>& errors,
                                 double noise_variance, const UncertaintyFit& opts = {});

// Sigma (K) for every valid pixel of ctx.fused; invalid elsewhere.
Raster predict_uncertainty(const UncertaintyModel& model, const ErrorContext& ctx);

// Share of |error| <= k sigma for each k (pairs with a non-finite or non-positive sigma skipped).
std::vector<double> share_within(const std::vector<float>& errors, const std::vector<float>& sigmas,
                                 const std::vector<double>& ks);
// 2 Phi(k) - 1: the share a Gaussian error has within k sigma.
double gaussian_share(double k);

}  // namespace lstfuse::eval
