// `lstfuse fuse`: predict fine LST for every coarse-only date of a catalog in a date range.
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "fill_flags.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "method_flags.hpp"

namespace {

struct Args {
  std::string catalog, method = "estarfm", from, to, out, format = "COG", config, model;
  bool series = false, quiet = false, fill = false;
  int max_reference_steps = -1;  // -1: 6 with --fill, 0 without
  lstfuse::prep::FillOptions fill_options;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "fuse",
      "Predict fine LST for every date with coarse data and no fine image, one COG per date plus "
      "a quality layer and an index (index.json, index.csv). Re-running skips finished dates. "
      "Method options follow as --name value (see 'lstfuse methods NAME').");
  cmd->add_option("--catalog", a->catalog, "Catalog folder made by 'lstfuse ingest'")->required();
  cmd->add_option("--method", a->method, "Fusion method")->capture_default_str();
  cmd->add_option("--from", a->from, "First date (YYYY-MM-DD; default: first coarse date)");
  cmd->add_option("--to", a->to, "Last date (YYYY-MM-DD; default: last coarse date)");
  cmd->add_option("-o,--out", a->out, "Output folder")->required();
  cmd->add_option("--format,--of", a->format,
                  "Output format; netCDF: the per-date COGs plus one CF netCDF cube of every date "
                  "(lst_METHOD.nc: LST, coarse_filled, reference_filled, uncertainty)")
      ->check(CLI::IsMember({"COG", "GTiff", "netCDF"}))
      ->capture_default_str();
  cmd->add_flag("--fill", a->fill,
                "Gap-fill the coarse series first (as 'lstfuse fill', kept in OUT/filled-coarse) "
                "and fuse every day of the period, days without a coarse image included; filled "
                "pixels are flagged coarse_filled in the quality layer");
  cmd->add_option("--max-reference-steps", a->max_reference_steps,
                  "Where the chosen pairs are clouded, predict from pairs up to this many usable "
                  "pairs farther away (flagged reference_filled); default 6 with --fill, else 0");
  lstfuse::cli::add_fill_options(cmd, a->fill_options, "Gap filling (with --fill)");
  cmd->add_flag("--series", a->series,
                "Deep methods: train one model on all pairs of the catalog instead of one per "
                "pair interval");
  cmd->add_option("--model", a->model, "Use this trained model instead of training");
  cmd->add_option("--config", a->config, "JSON file with method options");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
  cmd->allow_extras();
  cmd->callback([a, cmd] {
    const auto catalog = lstfuse::Catalog::load(a->catalog);
    auto method = lstfuse::MethodRegistry::instance().create(a->method);
    lstfuse::cli::apply_method_options(*method, a->config, cmd->remaining());
    lstfuse::pipeline::FuseOptions opts;
    if (!a->from.empty()) opts.from = lstfuse::Date::parse(a->from);
    if (!a->to.empty()) opts.to = lstfuse::Date::parse(a->to);
    opts.out_dir = a->out;
    opts.format = a->format;
    opts.series = a->series;
    opts.model = a->model;
    opts.show_progress = !a->quiet;
    opts.fill = a->fill;
    opts.fill_options = a->fill_options;
    opts.max_reference_steps = a->max_reference_steps >= 0 ? a->max_reference_steps : (a->fill ? 6 : 0);
    const auto s = lstfuse::pipeline::fuse(catalog, *method, opts);
    std::cout << fmt::format("{} dates predicted, {} already done, {} without coarse data, {} "
                             "failed; index: {}\n", s.done, s.skipped, s.no_data, s.failed,
                             (std::filesystem::path(a->out) / "index.json").string());
  });
}

}  // namespace

LSTFUSE_COMMAND(70, setup);
