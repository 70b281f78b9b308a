#pragma once
// `lstfuse fill`: a catalog whose coarse images are gap-filled (prep/fill.hpp) and flagged.
// The new catalog lists, for every day of the period, the filled coarse image (observed pixels
// unchanged) with its 0/1 `coarse_filled` layer as quality layer, including days without any
// coarse image when the series has clear data within the filling window; its fine and truth
// entries point at the source catalog's files. Every command that takes a catalog takes it.
#include <filesystem>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/prep/fill.hpp"

namespace lstfuse::pipeline {

// reuse_filled_catalog's refusal of a filled folder made from another source, with other fill
// options or days, or another land-cover layer (fuse --overwrite fills such a folder again).
class FilledCatalogMismatch : public Error {
 public:
  using Error::Error;
};

struct FillCatalogOptions {
  prep::FillOptions fill;
  std::optional<Date> from;       // first day written (default: first coarse date)
  std::optional<Date> to;         // last day written (default: last coarse date)
  std::vector<Date> extra_dates;  // also written when outside the period (pair dates for fuse)
  bool overwrite = false;         // replace an earlier `lstfuse fill` output in that folder
  bool show_progress = true;
  std::string format = "GTiff";   // the filled catalog's rasters: GTiff or COG (--of)
  std::vector<std::string> creation_options;  // --co NAME=VALUE
};

struct FillDayRecord {
  Date date;
  bool had_image = false;
  bool written = false;  // a filled image was written (false: left out, nothing to fill it from)
  std::string residual;  // spatial | temporal | none
  double observed_fraction = 0.0;
  double filled_fraction = 0.0;
};

struct FillSummary {
  std::vector<FillDayRecord> days;  // every day of the period (and extra dates)
  int written = 0;                  // coarse images written
  int synthesized = 0;              // of which days without any coarse image
  int not_fillable = 0;             // days without image and without clear data in the window
};

// The days a fill writes: every day from `from` to `to` (each defaulting to an end of the coarse
// series), then the extra dates outside that period. Throws when the period is reversed or lies
// outside the coarse series.
std::vector<Date> fill_days(const Catalog& source, const FillCatalogOptions& opts);

// The settings that define a fill output (source, options, days), as stored in fill.json.
nlohmann::json fill_settings(const Catalog& source, const FillCatalogOptions& opts);

// Writes the filled catalog to `out_dir` (built beside it and renamed when complete) and
// returns it. Refuses to write into the source catalog or into a non-empty folder it did not
// make. `summary` (optional) receives the per-day record.
Catalog fill_catalog(const Catalog& source, const std::filesystem::path& out_dir,
                     const FillCatalogOptions& opts, FillSummary* summary = nullptr);

// The filler's check of days filled whole (mean squared error of their scene mean, K^2, from
// fill.json) when `catalog` is a filled catalog that has one; nullopt otherwise.
std::optional<double> whole_day_fill_mean_square_error(const Catalog& catalog);

// The filled catalog in `out_dir` when its fill.json has these settings and was filled from the
// catalog as it is now (its fingerprint); nullopt when the folder does not exist. Throws
// FilledCatalogMismatch when it was filled otherwise, Error when the folder holds something else.
std::optional<Catalog> reuse_filled_catalog(const Catalog& source, const std::filesystem::path& out_dir,
                                            const FillCatalogOptions& opts);

}  // namespace lstfuse::pipeline
