// `lstfuse metrics PRED REF`: accuracy of a prediction against a reference raster.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace cmd_metrics {

namespace {

struct MetricsArgs {
  std::string pred, ref, mask, units = "K";
  double data_range = 0.0;
  double coarse_res = 1000.0;
  double ergas_ratio = 0.0;
  bool json = false;
  bool has_data_range = false, has_ergas_ratio = false;
};

constexpr const char* kConventions = R"(
Conventions (docs/metrics.md); x = reference, y = prediction, Kelvin, only pixels valid in
both images (and non-zero in --mask):
  bias = mean(y - x); MAE = mean|y - x|; RMSE = sqrt(mean (y - x)^2);
  ubRMSE = sqrt(RMSE^2 - bias^2); CC = Pearson r(x, y);
  R2 = 1 - sum (y - x)^2 / sum (x - mean x)^2;
  SSIM: Wang et al. 2004, Gaussian 11 x 11 window, sigma 1.5, K1 0.01, K2 0.03, data range L
    (default max - min of the reference over valid pixels), mean over window centres whose
    whole window is valid; PSNR = 20 log10(L / RMSE) with the same L;
  SAM (degrees): one band = angle between the two whole images as vectors; several bands =
    mean per-pixel angle between band vectors (the output says which);
  ERGAS = 100 (h/l) sqrt(mean over bands (RMSE_k / mean x_k)^2), h = fine pixel size from the
    grid in metres, l = --coarse-res (or --ergas-ratio gives h/l);
  error distribution: share of pixels with |y - x| below 0.5, 1, 2, 3 K and a histogram.
Prediction, reference and mask must share one grid: nothing is resampled.)";

void run(const MetricsArgs& a) {
  // Checked before anything is read (benchmark bounds its --data-range alike).
  {
    lstfuse::eval::MetricsOptions bounds;
    if (a.has_data_range) bounds.data_range = a.data_range;
    if (a.has_ergas_ratio) bounds.ergas_ratio = a.ergas_ratio;
    bounds.coarse_res_m = a.coarse_res;
    lstfuse::eval::check_metrics_options(bounds, "metrics", {"--data-range (the data range L)", "--ergas-ratio", "--coarse-res"});
  }
  lstfuse::io::ReadOptions ro;
  ro.units = a.units;
  ro.require_crs = false;
  // The grids first: two rasters that cannot be compared are refused before either is read
  // (a large one ran out of memory before its grid was looked at).
  {
    const auto pg = lstfuse::io::read_grid(a.pred, false), rg = lstfuse::io::read_grid(a.ref, false);
    if (!lstfuse::io::same_grid(pg, rg)) {
      throw lstfuse::file_error(a.pred, "grid differs from the reference " + a.ref + " (" + pg.describe_vs(rg) +
                                            "); metrics never resample");
    }
    if (!a.mask.empty() && !lstfuse::io::same_grid(lstfuse::io::read_grid(a.mask, false), rg))
      throw lstfuse::file_error(a.mask, "mask grid differs from the reference " + a.ref);
  }
  // A quality layer (uncertainty, flags) next to a prediction is not LST: said so, rather than
  // "looks like degrees Celsius" from its small values.
  // Quality layers name their bands: QUALITY_BANDS (predict), LSTFUSE_QUALITY_BANDS (fuse).
  for (const std::string& f : {a.pred, a.ref}) {
    std::string bands = lstfuse::io::raster_metadata_item(f, "QUALITY_BANDS");
    if (bands.empty()) bands = lstfuse::io::raster_metadata_item(f, "LSTFUSE_QUALITY_BANDS");
    if (!bands.empty())
      throw lstfuse::file_error(f, fmt::format("is a quality layer written by lstfuse ({}), not LST: give the "
                                               "prediction or the reference image", bands.substr(0, 80)));
  }
  const auto pred = lstfuse::io::read_raster(a.pred, ro);
  const auto ref = lstfuse::io::read_raster(a.ref, ro);
  lstfuse::io::check_plausible_lst(pred, a.pred);
  lstfuse::io::check_plausible_lst(ref, a.ref);
  lstfuse::eval::MetricsOptions opts;
  std::unique_ptr<lstfuse::Raster> mask;
  if (!a.mask.empty()) {
    lstfuse::io::ReadOptions mo;
    mo.require_crs = false;
    mo.categorical = true;
    mask = std::make_unique<lstfuse::Raster>(lstfuse::io::read_raster(a.mask, mo));
    opts.mask = mask.get();
  }
  if (a.has_data_range) opts.data_range = a.data_range;
  if (a.has_ergas_ratio) opts.ergas_ratio = a.ergas_ratio;
  opts.coarse_res_m = a.coarse_res;
  const auto res = lstfuse::eval::compute_metrics(pred, ref, opts);
  if (a.json) {
    auto j = res.to_json();
    j["prediction"] = a.pred;
    j["reference"] = a.ref;
    if (!a.mask.empty()) j["mask"] = a.mask;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << fmt::format("prediction: {}\nreference:  {}\n", a.pred, a.ref);
    if (!a.mask.empty()) std::cout << fmt::format("mask:       {}\n", a.mask);
    std::cout << lstfuse::eval::format_metrics_table(res);
  }
}

void setup(CLI::App& app) {
  auto a = std::make_shared<MetricsArgs>();
  auto* cmd = app.add_subcommand("metrics", "Accuracy of a prediction against a reference (RMSE, SSIM, ...)");
  cmd->footer(kConventions);
  cmd->add_option("PRED", a->pred, "Predicted LST raster")->required()->check(CLI::ExistingFile);
  cmd->add_option("REF", a->ref, "Reference (true fine) LST raster on the same grid")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--mask", a->mask, "Raster on the same grid: only pixels valid and non-zero count");
  auto* dr = cmd->add_option("--data-range", a->data_range,
                             "SSIM/PSNR data range L in K (default: reference max - min over valid pixels)");
  cmd->add_option("--coarse-res", a->coarse_res, "Coarse pixel size in metres for ERGAS h/l")
      ->capture_default_str();
  auto* er = cmd->add_option("--ergas-ratio", a->ergas_ratio, "ERGAS h/l given directly (overrides --coarse-res)");
  cmd->add_option("--units", a->units, "Units of both inputs: K or C (converted to K)")
      ->check(CLI::IsMember({"K", "C"}))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object instead of the table");
  cmd->callback([a, dr, er] {
    a->has_data_range = dr->count() > 0;
    a->has_ergas_ratio = er->count() > 0;
    run(*a);
  });
}

}  // namespace

LSTFUSE_COMMAND(70, setup);

}  // namespace cmd_metrics
