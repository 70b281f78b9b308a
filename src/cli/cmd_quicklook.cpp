// `lstfuse quicklook RASTER -o PNG`: an LST map, or with --diff an error map, as a PNG.
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/eval/quicklook.hpp"
#include "lstfuse/io/band_names.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace cmd_quicklook {

namespace {

struct QuicklookArgs {
  std::string raster, output, diff, title, units = "K";
  std::vector<double> range;
  int band = 1;
  int max_side = 1200;
};

std::string base(const std::string& p) { return std::filesystem::path(p).filename().string(); }

void run(const QuicklookArgs& a) {
  lstfuse::check_output_file(a.output, "-o", {a.raster, a.diff}, lstfuse::cli::png_file_kind());
  // The file is a PNG whatever its name: a name that says otherwise (map.tif) misleads every
  // program that opens it.
  if (lstfuse::cli::lower_extension(a.output) != ".png")
    throw lstfuse::file_error(a.output, "quicklook writes a PNG: name the output FILE.png");
  lstfuse::io::ReadOptions ro;
  ro.units = a.units;
  ro.require_crs = false;
  // LST is drawn in kelvin: a file in Celsius (or with --units C on kelvin) would be drawn as
  // 27 K or 573 K. The same plausibility rule as every other reader; a quality layer (flags,
  // weights, uncertainty in K) is not LST and is drawn as it is.
  // Quality layers name their bands: QUALITY_BANDS (predict), LSTFUSE_QUALITY_BANDS (fuse).
  auto is_quality = [](const std::string& path) {
    return !lstfuse::io::raster_metadata_item(path, "QUALITY_BANDS").empty() ||
           !lstfuse::io::raster_metadata_item(path, "LSTFUSE_QUALITY_BANDS").empty();
  };
  auto check_lst = [&](const lstfuse::Raster& r, const std::string& path) {
    if (!is_quality(path)) lstfuse::io::check_plausible_lst(r, path);
  };
  const int bands = lstfuse::io::read_band_count(a.raster);
  if (a.band < 1 || a.band > bands) {
    throw lstfuse::file_error(a.raster, fmt::format("has {} band{}; --band {} asked", bands, bands == 1 ? "" : "s", a.band));
  }
  // Only the band shown is read: a quality layer holds several bands of the scene's size.
  ro.bands = {a.band};
  const auto r = lstfuse::io::read_raster(a.raster, ro);
  check_lst(r, a.raster);
  const bool quality = is_quality(a.raster);
  lstfuse::eval::QuicklookOptions opts;
  opts.band = 0;
  // A quality band is labelled by its name (n_candidates, uncertainty), not as LST in kelvin.
  if (quality) {
    // The band's description, else the quality layer's band list (read_band_names).
    const std::vector<std::string> names = lstfuse::io::read_band_names(a.raster);
    const size_t b = static_cast<size_t>(a.band - 1);
    opts.label = b < names.size() && !names[b].empty() ? names[b] : fmt::format("band {}", a.band);
    // Of the quality bands only the uncertainty is in kelvin; counts, flags and weights have no unit.
    opts.units = opts.label == "uncertainty" ? "K" : "";
  }
  opts.title = a.title;
  opts.max_side = a.max_side;
  if (a.range.size() == 2) {
    opts.vmin = a.range[0];
    opts.vmax = a.range[1];
  }
  lstfuse::eval::QuicklookInfo info;
  if (!a.diff.empty()) {
    const lstfuse::Grid og = lstfuse::io::read_grid(a.diff, false);
    if (!lstfuse::io::same_grid(r.grid(), og)) {
      throw lstfuse::file_error(a.diff, "grid differs from " + a.raster + " (" + og.describe_vs(r.grid()) +
                                            "); nothing is resampled");
    }
    const int other_bands = lstfuse::io::read_band_count(a.diff);
    if (other_bands != bands) {
      throw lstfuse::file_error(a.diff, fmt::format("has {} bands, {} has {}", other_bands, a.raster, bands));
    }
    const auto other = lstfuse::io::read_raster(a.diff, ro);
    check_lst(other, a.diff);
    if (opts.title.empty()) opts.title = base(a.raster) + " - " + base(a.diff);
    // A difference has the unit of its bands: K for LST and the uncertainty, none for counts,
    // flags and weights.
    opts.label = opts.units.empty() && quality ? "difference of " + opts.label : "difference (K)";
    opts.units = quality ? opts.units : "K";
    info = lstfuse::eval::render_diff_png(r, other, a.output, opts);
  } else {
    if (opts.title.empty()) opts.title = base(a.raster);
    info = lstfuse::eval::render_png(r, a.output, opts);
  }
  std::cout << fmt::format("{}: {} x {} px, colour range {:.3f} .. {:.3f}{} ({})\n", a.output,
                           info.image_width, info.image_height, info.vmin, info.vmax,
                           opts.units.empty() ? "" : " " + opts.units, info.range_source);
}

void setup(CLI::App& app) {
  auto a = std::make_shared<QuicklookArgs>();
  auto* cmd = app.add_subcommand("quicklook", "PNG map of an LST raster, or of the error PRED - OTHER");
  cmd->footer(R"(
LST maps use a viridis-like perceptually uniform colour map over a robust range (2-98 %
percentiles of the valid pixels) unless --range is given. With --diff the map shows
RASTER - OTHER with a blue-white-red diverging colour map centred on 0 over a symmetric range
(default +- the 98 % percentile of |difference|). Invalid pixels are grey. Rasters larger
than --max-side are shown as block means. Title, colour bar (K) and range are on the image.)");
  cmd->add_option("RASTER", a->raster, "LST raster (prediction)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a->output, "Output PNG file")->required();
  cmd->add_option("--range", a->range, "Colour range MIN MAX in K")->expected(2);
  cmd->add_option("--diff", a->diff, "Show RASTER - OTHER (same grid)")->check(CLI::ExistingFile);
  cmd->add_option("--title", a->title, "Title (default: the file name(s))");
  cmd->add_option("--band", a->band, "Band to show (1-based)")->capture_default_str()->check(CLI::Range(1, 65535));
  cmd->add_option("--max-side", a->max_side, "Largest map side in pixels")
      ->capture_default_str()->check(CLI::Range(16, 20000));
  cmd->add_option("--units", a->units, "Units of the inputs: K or C (converted to K)")
      ->check(CLI::IsMember({"K", "C"}))
      ->capture_default_str();
  cmd->callback([a] { run(*a); });
}

}  // namespace

LSTFUSE_COMMAND(75, setup);

}  // namespace cmd_quicklook
