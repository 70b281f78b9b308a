// `lstfuse fuse`: predict fine LST for every coarse-only date of a catalog in a date range.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "fill_flags.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/fuse_mpi.hpp"
#include "lstfuse/pipeline/fuse_work.hpp"
#include "lstfuse/pipeline/fuse_report.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/report.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "method_flags.hpp"

namespace cmd_fuse {

namespace {

struct Args {
  std::vector<std::string> catalogs;
  std::string method = "series", from, to, out, model, coarse_bias = "auto";
  lstfuse::cli::RasterOutput raster{"COG", {}, false};
  bool series = false, overwrite = false, no_uncertainty = false, report = false, fill = false;
  int uncertainty_dates = 0;
  double fine_noise = -1.0;
  int max_reference_steps = -1;  // -1: 6 with --fill, 0 without
  std::string shard;
  bool assemble = false;
  int rank_threads = -1;  // -1: not given
  int work_tile = 0;
  lstfuse::prep::FillOptions fill_options;
};

// One catalog: its outputs in OUT; several: each in OUT/NAME, NAME its folder's name.
std::vector<std::string> fuse_output_folders(const std::vector<std::string>& catalogs, const std::string& out) {
  if (catalogs.size() == 1) return {out};
  std::vector<std::string> outs;
  std::set<std::string> names;
  for (const auto& c : catalogs) {
    std::filesystem::path p = std::filesystem::absolute(c).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();  // "cat/"
    const std::string name = p.filename().string();
    if (name.empty() || !names.insert(name).second) {
      throw lstfuse::Error(fmt::format("--catalog {}: another catalog of this run has the folder name '{}', "
                                       "and outputs go to OUT/NAME; rename or link one of them", c, name));
    }
    outs.push_back((std::filesystem::path(out) / name).string());
  }
  return outs;
}

// Returns the number of dates that failed (each recorded in the index; the others go on).
int fuse_one(const Args& args, const lstfuse::cli::MethodFlags& flags, const std::string& catalog_dir,
             const std::string& out, lstfuse::pipeline::FuseWork* work, bool leader);

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "fuse",
      "Predict fine LST for every date with coarse data and no fine image, one COG per date plus "
      "a quality layer and an index (index.json, index.csv). Re-running skips finished dates.");
  cmd->add_option("--catalog", a->catalogs,
                  "Catalog folder made by 'lstfuse ingest'; give it more than once to fuse several "
                  "catalogs in one run (outputs in OUT/NAME, NAME the catalog folder's name)")
      ->required()
      ->check(lstfuse::cli::non_empty());
  cmd->add_option("--method", a->method,
                  "Fusion method (series, the default, uses every pair of the catalog and is the most "
                  "accurate in the README's benchmarks)")
      ->capture_default_str();
  cmd->add_option("--from", a->from, "First date (YYYY-MM-DD; default: first coarse date)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--to", a->to, "Last date (YYYY-MM-DD; default: last coarse date)")->check(lstfuse::cli::non_empty());
  lstfuse::cli::add_output(cmd, a->out, "Output folder (required)", true);
  lstfuse::cli::add_raster_output(cmd, a->raster, {"COG", "GTiff", "netCDF"}, true);
  cmd->get_option("--of")->description(
      "Output format; netCDF: the per-date COGs plus one CF netCDF cube of every date "
      "(lst_METHOD.nc: LST, coarse_filled, reference_filled, uncertainty)");
  cmd->add_flag("--fill", a->fill,
                "Gap-fill the coarse series first (as 'lstfuse fill', kept in OUT/filled-coarse) "
                "and fuse every day of the period, days without a coarse image included; filled "
                "pixels are flagged coarse_filled in the quality layer");
  cmd->add_option("--max-reference-steps", a->max_reference_steps,
                  "Where the chosen pairs are clouded, predict from pairs up to this many usable "
                  "pairs farther away (flagged reference_filled); default 6 with --fill, else 0")
      ->check(CLI::Range(0, 1000));
  lstfuse::cli::add_fill_options(cmd, a->fill_options, "Gap filling (with --fill)");
  cmd->add_flag("--series", a->series,
                "Deep methods: train one model on all pairs of the catalog instead of one per "
                "pair interval");
  cmd->add_option("--model", a->model, "Use this trained model instead of training")->check(lstfuse::cli::non_empty());
  cmd->add_option("--coarse-bias", a->coarse_bias,
                  "Correct the coarse images by the coarse sensor's bias (measured on pair dates, "
                  "modelled in time for the target) before the method sees them: auto (the "
                  "method's default), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_flag("--no-uncertainty", a->no_uncertainty,
                "No uncertainty band (it is learned by predicting the pair dates leave-one-out)");
  cmd->add_option("--uncertainty-dates", a->uncertainty_dates,
                  "Pair dates predicted to learn the uncertainty (evenly spread; 0 = all)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--fine-noise", a->fine_noise,
                  "Noise of the fine images, K (1 sigma), removed from the learned errors "
                  "(default: estimated from the images' nugget)")
      ->check(lstfuse::cli::finite_range(0, 100));
  cmd->add_flag("--report", a->report,
                "Also write OUT/report.html: coverage before and after fusion, the daily "
                "truth-free score, the uncertainty's calibration and a few pixels through time");
  cmd->add_flag("--overwrite", a->overwrite,
                "Redo every date when the folder holds a fuse run made with other options, and with "
                "--fill fill again when the fill options or dates changed (only a folder made by "
                "'lstfuse fuse' is ever reused)");
  cmd->add_option("--shard", a->shard,
                  "Do only the K-th of N disjoint parts of the run's dates (K/N, for job arrays); "
                  "then 'fuse --assemble' with the same options writes the index (docs/cluster.md)")
      ->check(lstfuse::cli::non_empty());
  cmd->add_flag("--assemble", a->assemble,
                "Predict nothing: build the index (and the netCDF cube) from the dates that "
                "--shard runs finished; fails naming what is still missing");
  cmd->add_option("--work-tile", a->work_tile,
                  "Cut each date into tiles of N x N pixels, each a work item of its own (for ranks, "
                  "shards and resuming); a date's files are assembled when its last tile is done and "
                  "equal a whole-scene run's; 0: a date is one item")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--rank-threads", a->rank_threads,
                  "OpenMP and torch threads of this process; 0: the cores it may use shared by the "
                  "MPI ranks on its node (the default under mpirun and with --shard)")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  // Unknown flags are collected and refused by MethodFlags with our one-line error.
  cmd->allow_extras();
  auto flags = lstfuse::cli::MethodFlags::bind(cmd, true);
  cmd->callback([a, flags] {
    namespace pl = lstfuse::pipeline;
    // With MPI, `mpirun -n 1` runs the shared way too (same files, index at the end); without
    // it, one copy is a plain run and only several copies are refused.
    const bool under_mpi = pl::launched_by_mpi(pl::built_with_mpi() ? 1 : 2);
    // Every rank reads the same command line and meets the refusals below alike: the first says
    // it (N copies of one line, none naming its rank, some run together, said no more). The
    // others leave with status 0, so that mpirun does not end the first before it has; mpirun's
    // status is still 1.
    const bool first = pl::rank_from_environment() <= 0;
    std::optional<pl::Shard> shard;
    std::vector<std::string> outs;
    try {
      lstfuse::cli::require_output(a->out);
      // Options checked before anything else runs: a bad value must not cost a run's first dates.
      lstfuse::cli::apply_raster_output(a->raster);
      const auto checked = lstfuse::method_registry().create(a->method);
      flags->apply(*checked);
      // Training flags mean nothing to a method that does not train; `--series` in particular
      // reads like the `series` method, which is the default anyway.
      if (!checked->info().trainable && (a->series || !a->model.empty())) {
        throw lstfuse::Error(fmt::format("{}: {} does not train (it is for the deep methods); leave it out",
                                         a->series ? "--series" : "--model", a->method));
      }
      if (!a->shard.empty() && a->assemble) throw lstfuse::Error("--shard and --assemble: give one of them");
      if (!a->shard.empty()) shard = pl::Shard::parse(a->shard);
      outs = fuse_output_folders(a->catalogs, a->out);
      if (under_mpi && (shard || a->assemble)) throw lstfuse::Error("--shard and --assemble are for runs without mpirun");
      if (under_mpi && !pl::built_with_mpi()) pl::MpiSession{};  // refuses, saying how to run instead
      for (const auto& [flag, text] : {std::pair<const char*, const std::string&>{"--from", a->from}, {"--to", a->to}})
        if (!text.empty()) lstfuse::cli::parse_date_flag(text, flag);
      // Tiles of a few pixels cost more in halos and records than they compute (1 px: minutes a date).
      if (a->work_tile > 0 && a->work_tile < 16) {
        throw lstfuse::Error(fmt::format("--work-tile {}: give 0 (a date is one item) or at least 16 pixels", a->work_tile));
      }
    } catch (...) {
      if (under_mpi && !first) std::exit(0);
      throw;
    }
    // Every catalog's manifest is read before the first catalog is fused: a bad second catalog
    // found after the first one's hours of work would leave half a run. Files may differ between
    // the nodes of a cluster: a rank other than the first that cannot read one says so with its
    // number and fails (silent, it would leave the others waiting for it in MPI's start).
    try {
      for (const auto& c : a->catalogs) lstfuse::Catalog::load(c);
    } catch (const std::exception& e) {
      if (!under_mpi || first) throw;
      // One write: the ranks share mpirun's stream.
      std::cerr << fmt::format("lstfuse: error: rank {}: {}\n", pl::rank_from_environment(), lstfuse::user_message(e));
      std::exit(1);
    }
    std::unique_ptr<pl::MpiSession> mpi;
    if (under_mpi) mpi = std::make_unique<pl::MpiSession>();
    if (mpi || shard || a->rank_threads >= 0) pl::set_process_threads(std::max(0, a->rank_threads));
    int failed = 0;
    try {
      for (size_t c = 0; c < a->catalogs.size(); ++c) {
        std::unique_ptr<pl::FuseWork> work;
        if (mpi) work = mpi->work();
        else if (shard) work = pl::shard_work(*shard, static_cast<int>(c));
        else if (a->assemble) work = pl::assemble_work();
        const bool leader = !mpi || mpi->rank() == 0;
        failed += fuse_one(*a, *flags, a->catalogs[c], outs[c], work.get(), leader);
      }
    } catch (const std::exception& e) {
      if (!mpi || mpi->size() == 1) throw;
      // The other ranks would wait for this one for ever: say why, then end them all.
      std::cerr << fmt::format("lstfuse: error: rank {}: {}\n", mpi->rank(), lstfuse::user_message(e));
      mpi->abort(1);
    }
    // Every other date is written; the exit status still says that the run is not complete, so
    // that a script or a batch job does not take a hole for a finished series.
    if (failed > 0) {
      throw lstfuse::Error(fmt::format("fuse: {} date{} failed, the others are written (each error is in the "
                                       "index's \"note\")", failed, failed == 1 ? "" : "s"));
    }
  });
}

int fuse_one(const Args& args, const lstfuse::cli::MethodFlags& flags, const std::string& catalog_dir,
             const std::string& out, lstfuse::pipeline::FuseWork* work, bool leader) {
  {
    const Args* a = &args;
    const auto catalog = lstfuse::Catalog::load(catalog_dir);
    if (a->assemble && !std::filesystem::exists(std::filesystem::path(out) / "index.json")) {
      throw lstfuse::Error(fmt::format("--assemble: {} holds no fuse run yet (run the --shard parts first)", out));
    }
    if (a->report) {
      // Rewritten at the end of the run: only a report this command wrote before.
      const auto report = std::filesystem::path(out) / "report.html";
      std::ifstream in(report);
      const std::string head = in ? std::string(std::istreambuf_iterator<char>(in), {}).substr(0, 400) : "";
      if (in && head.find("<title>lstfuse fuse</title>") == std::string::npos) {
        throw lstfuse::file_error(report.string(), "exists and was not written by 'lstfuse fuse --report'; lstfuse "
                                                   "does not write over it (move it away)");
      }
    }
    auto method = lstfuse::method_registry().create(a->method);  // a fresh one per catalog
    flags.apply(*method);
    lstfuse::pipeline::FuseOptions opts;
    if (!a->from.empty()) opts.from = lstfuse::Date::parse(a->from);
    if (!a->to.empty()) opts.to = lstfuse::Date::parse(a->to);
    opts.out_dir = out;
    opts.work = work;
    opts.format = a->raster.format;
    opts.creation_options = a->raster.creation_options;
    opts.work_tile = a->work_tile;
    opts.series = a->series;
    opts.model = a->model;
    opts.coarse_bias = a->coarse_bias;
    opts.show_progress = !a->raster.quiet && leader;
    opts.overwrite = a->overwrite;
    opts.uncertainty = !a->no_uncertainty;
    opts.uncertainty_dates = a->uncertainty_dates;
    if (a->fine_noise >= 0) opts.fine_noise_sd = a->fine_noise;
    opts.fill = a->fill;
    opts.fill_options = a->fill_options;
    opts.max_reference_steps = a->max_reference_steps >= 0 ? a->max_reference_steps : (a->fill ? 6 : 0);
    const auto s = lstfuse::pipeline::fuse(catalog, *method, opts);
    const std::string tiles =
        s.tiles_done + s.tiles_found > 0
            ? fmt::format("; tiles: {} predicted, {} found stored", s.tiles_done, s.tiles_found)
            : "";
    if (work && !work->gathers()) {
      std::cout << fmt::format("{} ({}): {} dates predicted, {} already done, {} without coarse data, {} "
                               "failed{}\n", out, work->who(), s.done, s.skipped, s.no_data, s.failed, tiles);
      return static_cast<int>(s.failed);
    }
    if (!s.uncertainty_note.empty()) std::cout << s.uncertainty_note << "\n";
    std::cout << fmt::format("{} dates predicted, {} already done, {} without coarse data, {} "
                             "failed{}; index: {}\n", s.done, s.skipped, s.no_data, s.failed, tiles,
                             (std::filesystem::path(out) / "index.json").string());
    // A simulated catalog knows the truth: say how well the uncertainty is calibrated.
    if (opts.uncertainty) {
      if (const auto c = lstfuse::pipeline::check_calibration(catalog, out)) {
        std::cout << c->to_text();
        lstfuse::write_text_atomic(std::filesystem::path(out) / "calibration_truth.json",
                                   c->to_json().dump(2) + "\n");
      }
    }
    if (a->report) {
      const auto path = std::filesystem::path(out) / "report.html";
      lstfuse::write_text_atomic(
          path, "<!DOCTYPE html><html><head><meta charset='utf-8'><title>lstfuse fuse</title><style>"
                "body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}"
                "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
                "font-size:13px}.note{color:#555;font-size:13px}</style></head><body>"
                "<h1>lstfuse fuse: " + lstfuse::pipeline::html_escape(a->method) + "</h1>" +
                    lstfuse::pipeline::fuse_quality_html(catalog, s, out) + "</body></html>\n");
      std::cout << "report: " << path.string() << "\n";
    }
    return static_cast<int>(s.failed);
  }
}

}  // namespace

LSTFUSE_COMMAND(70, setup);

}  // namespace cmd_fuse
