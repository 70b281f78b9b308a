// `lstfuse simulate`: a synthetic LST series with known truth (see lstfuse/sim/simulate.hpp).
#include <filesystem>
#include <algorithm>
#include <cmath>
#include <iostream>
#include <utility>
#include <vector>
#include <memory>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "method_flags.hpp"
#include "lstfuse/sim/simulate.hpp"

namespace cmd_simulate {

namespace {

struct SimulateArgs {
  std::string out;
  lstfuse::sim::SimOptions opts;
  std::vector<std::pair<std::string, CLI::Option*>> flags;  // option name, its flag
  lstfuse::cli::RasterOutput raster{"GTiff", {}, false};
};

// A size and length whose images cannot fit on the disk are refused before any work (20000 px
// over 10 years is terabytes: the run filled the disk after hours). The estimate counts the
// fine images (Landsat ST_B10 and QA, truth) at 0.4 of their raw bytes: DEFLATE leaves 0.42-0.6
// of simulated LST (Landsat and truth at 300 px, 0.58 for truth at 1000 px), so that only what
// surely cannot fit is refused.
void check_room(const lstfuse::sim::SimOptions& o, const std::string& out) {
  const double px = static_cast<double>(o.size) * o.size;
  const int revisit = o.landsat_satellites == 2 ? 8 : 16;
  const double landsat = o.days > o.landsat_first_day ? std::ceil((o.days - o.landsat_first_day) / double(revisit)) : 0;
  double truth = landsat + std::ceil(o.days / 4.0);
  if (o.truth_dates == "all") truth = o.days;
  else if (o.truth_dates == "landsat") truth = landsat;
  else if (o.truth_dates != "default") truth = 1 + static_cast<double>(std::count(o.truth_dates.begin(), o.truth_dates.end(), ','));
  const double raw = px * 4.0 * (landsat + truth);  // 2 x 16-bit Landsat layers, 32-bit truth
  std::filesystem::path where = std::filesystem::absolute(out);
  std::error_code ec;
  while (!where.empty() && !std::filesystem::exists(where, ec) && where != where.parent_path()) where = where.parent_path();
  const auto space = std::filesystem::space(where, ec);
  // A file system of no size (/proc, /sys) is no disk: writing there fails, and says why.
  if (ec || space.capacity == 0 || raw * 0.4 <= static_cast<double>(space.available)) return;
  const auto size = [](double bytes) {
    return bytes >= 1e9 ? fmt::format("{:.0f} GB", bytes / 1e9) : fmt::format("{:.0f} MB", bytes / 1e6);
  };
  throw lstfuse::Error(fmt::format(
      "simulate: --size {} over --days {} writes {:.0f} fine images of {} x {} px, at least {}, and the disk "
      "of {} has {} free: choose a smaller --size or fewer --days (or --truth-dates landsat)",
      o.size, o.days, landsat + truth, o.size, o.size, size(raw * 0.4), out,
      size(static_cast<double>(space.available))));
}

void setup(CLI::App& app) {
  auto args = std::make_shared<SimulateArgs>();
  auto* cmd = app.add_subcommand(
      "simulate",
      "Simulate a year of fine (Landsat-like) and daily coarse (MODIS-like) LST with known truth.\n"
      "Writes DIR/simulation.json, landcover.tif, landsat/, modis/ and truth/.");
  cmd->add_option("-o,--output", args->out, "Output folder")->required();
  // Every SimOptions field becomes a flag through its OptionSet binding (one definition).
  auto binding = std::make_shared<lstfuse::OptionSet>("simulate");
  args->opts.bind(*binding);
  for (const auto& o : binding->list())
    args->flags.emplace_back(o.name, lstfuse::cli::add_option_flag(cmd, "--" + o.name, o, "Simulation"));
  lstfuse::cli::add_raster_output(cmd, args->raster, {"GTiff", "COG"}, false, "No informational log lines");
  cmd->callback([args, binding] {
    lstfuse::cli::apply_raster_output(args->raster);
    for (const auto& [name, flag] : args->flags)
      if (const auto value = lstfuse::cli::option_flag_value(*flag)) binding->set(name, *value);
    // A new or empty folder, or an earlier simulation (rewritten); never someone else's files.
    lstfuse::check_output_folder(args->out, "-o", {}, lstfuse::simulation_kind(), lstfuse::FolderUse::Reuse, false);
    // The earlier simulation is replaced as a whole: files the user put beside its own would go
    // with it, so they are named instead.
    std::error_code ec;
    if (std::filesystem::is_directory(args->out, ec)) {
      const auto own = lstfuse::io::marked_own_files(args->out, lstfuse::simulation_own_files(args->out),
                                                     {"simulation.json"});
      if (const auto f = lstfuse::foreign_entry(args->out, own,
                                                {"landsat", "modis", "truth"})) {
        throw lstfuse::file_error(args->out, "holds " + f->string() +
                                                 ", which 'lstfuse simulate' did not write; move it out, or "
                                                 "choose another folder");
      }
    }
    check_room(args->opts, args->out);
    const lstfuse::sim::Simulation sim(args->opts);
    if (!args->raster.quiet)
      std::cout << fmt::format("simulate: fine {}; coarse {}; {} days, {} Landsat dates, {} truth dates\n",
                               sim.fine_grid().describe(), sim.coarse_grid().describe(),
                               args->opts.days, sim.landsat_dates().size(), sim.truth_dates().size());
    // Written whole beside the folder and moved into place: an interrupted run leaves nothing
    // half-written (ingest would read a simulation without its manifest's later images).
    lstfuse::sim::WriteSummary s;
    lstfuse::build_folder_atomically(args->out, "simulate", "the simulation", [&](const std::filesystem::path& dir) {
      s = lstfuse::sim::write_simulation(sim, dir.string(), args->raster.format, args->raster.creation_options);
    });
    if (!args->raster.quiet)
      std::cout << fmt::format("simulate: wrote {} Landsat, {} MODIS and {} truth images to {} in {:.1f} s\n",
                               s.landsat, s.modis, s.truth, args->out, s.seconds);
  });
}

}  // namespace

LSTFUSE_COMMAND(10, setup);

}  // namespace cmd_simulate
