// `lstfuse simulate`: a synthetic LST series with known truth (see lstfuse/sim/simulate.hpp).
#include <filesystem>
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
      if (const auto f = lstfuse::foreign_entry(args->out, lstfuse::simulation_own_files(args->out),
                                                {"landsat", "modis", "truth"})) {
        throw lstfuse::file_error(args->out, "holds " + f->string() +
                                                 ", which 'lstfuse simulate' did not write; move it out, or "
                                                 "choose another folder");
      }
    }
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
