// `lstfuse fill`: gap-fill the coarse images of a catalog into a new catalog.
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "fill_flags.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"

namespace cmd_fill {

namespace {

struct Args {
  std::string catalog, out, from, to;
  bool overwrite = false;
  lstfuse::cli::RasterOutput raster{"GTiff", {}, false};
  lstfuse::prep::FillOptions fill;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "fill",
      "Fill the cloud gaps of a catalog's coarse images from the series itself (per-pixel annual "
      "temperature cycle + that day's residual interpolated from its clear pixels; "
      "docs/gap-filling.md). Writes a new catalog: every day of the period gets a coarse image "
      "(observed pixels unchanged) and a 0/1 coarse_filled layer; fine and truth images stay "
      "where they are. Keep day and night LST in separate catalogs.");
  cmd->add_option("--catalog", a->catalog, "Catalog folder made by 'lstfuse ingest'")->check(lstfuse::cli::non_empty())->required();
  lstfuse::cli::add_output(cmd, a->out, "Folder of the filled catalog (required)", true);
  cmd->add_option("--from", a->from, "First day written (YYYY-MM-DD; default: first coarse date)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--to", a->to, "Last day written (YYYY-MM-DD; default: last coarse date)")->check(lstfuse::cli::non_empty());
  cmd->add_flag("--overwrite", a->overwrite, "Replace an earlier 'lstfuse fill' output in that folder");
  lstfuse::cli::add_raster_output(cmd, a->raster, {"GTiff", "COG"}, false);
  lstfuse::cli::add_fill_options(cmd, a->fill, "Gap filling");
  cmd->callback([a] {
    lstfuse::cli::require_output(a->out);
    lstfuse::cli::apply_raster_output(a->raster);
    // Never the catalog or a folder holding it, inside a catalog, nor someone else's folder.
    lstfuse::check_output_folder(a->out, "-o", {a->catalog}, {"fill.json", "lstfuse-fill", "catalog made by 'lstfuse fill'"},
                                 lstfuse::FolderUse::Replace, a->overwrite);
    lstfuse::pipeline::FillCatalogOptions o;
    if (!a->from.empty()) o.from = lstfuse::cli::parse_date_flag(a->from, "--from");
    if (!a->to.empty()) o.to = lstfuse::cli::parse_date_flag(a->to, "--to");
    const auto catalog = lstfuse::Catalog::load(a->catalog);
    o.fill = a->fill;
    o.overwrite = a->overwrite;
    o.show_progress = !a->raster.quiet;
    o.format = a->raster.format;
    o.creation_options = a->raster.creation_options;
    lstfuse::pipeline::FillSummary s;
    lstfuse::pipeline::fill_catalog(catalog, a->out, o, &s);
    double filled = 0.0;
    int n = 0;
    for (const auto& d : s.days)
      if (d.written) {
        filled += d.filled_fraction;
        ++n;
      }
    std::cout << fmt::format("{} coarse images written ({} for days without one; {:.1f} % of their "
                             "pixels filled on average), {} days left out (no clear data within "
                             "--fill-window days); catalog: {}\n",
                             s.written, s.synthesized, n ? 100.0 * filled / n : 0.0, s.not_fillable,
                             a->out);
  });
}

}  // namespace

LSTFUSE_COMMAND(20, setup);

}  // namespace cmd_fill
