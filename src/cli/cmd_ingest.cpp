// `lstfuse ingest INPUTS... -o CATALOG_DIR`: products -> aligned Kelvin catalog.
#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/pipeline/ingest.hpp"

namespace cmd_ingest {

namespace {

struct Args {
  std::vector<std::string> inputs;
  std::string out;
  lstfuse::pipeline::IngestOptions opts;
  std::string date, resampling = "bilinear";
  std::vector<double> extent;
  double max_lst_error = -1;
  lstfuse::cli::RasterOutput raster{"GTiff", {}, false};
};

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "ingest", "Decode LST products (MOD11A1/MYD11A1 HDF, Landsat C2 ST_B10, GeoTIFF, simulation folders), "
                "align them onto one fine grid and write a catalog");
  cmd->add_option("inputs", a->inputs, "Product files or folders (a folder with simulation.json is read as a simulation), or GDAL "
                  "subdataset names of MOD11A1 LST layers (HDF4_EOS:EOS_GRID:\"F.hdf\":...:LST_Day_1km)");
  cmd->add_option("-o,--output", a->out, "Catalog folder to create")->required();
  cmd->add_option("--fine", a->opts.fine_files, "Treat this file as a fine observation (repeatable)");
  cmd->add_option("--coarse", a->opts.coarse_files, "Treat this file as a coarse observation (repeatable)");
  cmd->add_option("--landcover", a->opts.landcover,
                  "Land-cover raster (integer classes, 0 = none) carried into the catalog to "
                  "describe errors per class (a simulation folder brings its own)")
      ->check(lstfuse::cli::non_empty());
  cmd->add_option("--date", a->date, "Date of the inputs (YYYY-MM-DD), overriding the file names")->check(lstfuse::cli::non_empty());
  cmd->add_option("--units", a->opts.product.units, "Units of generic GeoTIFFs")
      ->check(CLI::IsMember({"K", "C"}))->capture_default_str();
  cmd->add_option_function<double>(
         "--scale",
         [a](double v) {
           if (!(std::abs(v) >= 1e-12 && std::abs(v) <= 1e6))
             throw lstfuse::Error(fmt::format("ingest: --scale must be a non-zero number of size 1e-12 to 1e6, got {}", v));
           a->opts.product.scale = v;
         },
         "Scale of generic GeoTIFFs (value = DN * scale + offset; default 1)");
  cmd->add_option("--offset", a->opts.product.offset, "Offset of generic GeoTIFFs")
      ->check(lstfuse::cli::finite_range(-1e6, 1e6))
      ->capture_default_str();
  cmd->add_option("--nodata", a->opts.product.nodata, "Nodata of generic GeoTIFFs (default: the file's)");
  cmd->add_option("--resampling", a->resampling, "Resampling onto the fine grid")
      ->check(CLI::IsMember({"nearest", "bilinear", "bicubic", "average"}))->capture_default_str();
  cmd->add_option("--qc", a->opts.product.qc, "MODIS QC: good (bits 0-1 = 00) or any (00 or 01)")
      ->check(CLI::IsMember({"good", "any"}))->capture_default_str();
  cmd->add_option("--max-lst-error", a->max_lst_error, "MODIS: drop pixels whose QC LST error class exceeds this (K: 1, 2, 3)")
      ->check(CLI::Range(1, 3));
  cmd->add_flag("--mask-snow", a->opts.product.mask_snow, "Landsat: mask QA_PIXEL snow (bit 5)");
  cmd->add_flag("--mask-water", a->opts.product.mask_water, "Landsat: mask QA_PIXEL water (bit 7)");
  cmd->add_flag("--night", a->opts.product.night, "MODIS HDF: use the night LST instead of the day LST");
  cmd->add_option("--crs", a->opts.crs, "CRS of an explicit fine grid (e.g. EPSG:32755)");
  cmd->add_option_function<double>(
      "--res",
      [a](double v) {
        if (!(v > 0) || !std::isfinite(v))
          throw lstfuse::Error(fmt::format("ingest: --res must be a positive pixel size in CRS units, got {}", v));
        a->opts.res = v;
      },
      "Pixel size of the explicit fine grid, in CRS units");
  cmd->add_option("--extent", a->extent, "Extent of the explicit fine grid: xmin ymin xmax ymax")->expected(4);
  cmd->add_flag("--overwrite", a->opts.overwrite, "Replace an existing catalog folder");
  lstfuse::cli::add_raster_output(cmd, a->raster, {"GTiff", "COG"}, false, "No informational log lines");
  cmd->callback([a] {
    lstfuse::cli::apply_raster_output(a->raster);
    auto& o = a->opts;
    o.format = a->raster.format;
    o.creation_options = a->raster.creation_options;
    if (!a->date.empty()) o.date = lstfuse::cli::parse_date_flag(a->date, "--date");
    o.resampling = lstfuse::prep::resampling_from_string(a->resampling);
    if (a->max_lst_error >= 0) o.product.max_lst_error = a->max_lst_error;
    if (!a->extent.empty()) o.extent = lstfuse::prep::Bounds{a->extent[0], a->extent[1], a->extent[2], a->extent[3]};
    const auto cat = lstfuse::pipeline::ingest(a->inputs, a->out, o);
    std::cout << fmt::format("catalog {}: {} observations, {} pairs, {} coarse-only dates\n", a->out,
                             cat.observations().size(), cat.pair_dates().size(), cat.coarse_only_dates().size());
  });
}

}  // namespace

LSTFUSE_COMMAND(10, setup);

}  // namespace cmd_ingest
