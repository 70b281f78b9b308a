// `lstfuse simulate`: a synthetic LST series with known truth (see lstfuse/sim/simulate.hpp).
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "command.hpp"
#include "lstfuse/sim/simulate.hpp"

namespace {

struct SimulateArgs {
  std::string out;
  lstfuse::sim::SimOptions opts;
  std::map<std::string, std::string> given;  // option name -> text, only those on the command line
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
  for (const auto& o : binding->list()) {
    std::string help = o.help + " (default: " + (o.default_value.empty() ? "none" : o.default_value) + ")";
    if (!o.choices.empty()) {
      help += "; one of";
      for (const auto& c : o.choices) help += " " + c;
    }
    const std::string name = o.name;
    cmd->add_option_function<std::string>(
        "--" + name, [args, name](const std::string& v) { args->given[name] = v; }, help);
  }
  cmd->callback([args, binding] {
    for (const auto& [name, value] : args->given) binding->set(name, value);
    const lstfuse::sim::Simulation sim(args->opts);
    std::cout << fmt::format("simulate: fine {}; coarse {}; {} days, {} Landsat dates, {} truth dates\n",
                             sim.fine_grid().describe(), sim.coarse_grid().describe(),
                             args->opts.days, sim.landsat_dates().size(), sim.truth_dates().size());
    const auto s = lstfuse::sim::write_simulation(sim, args->out);
    std::cout << fmt::format("simulate: wrote {} Landsat, {} MODIS and {} truth images to {} in {:.1f} s\n",
                             s.landsat, s.modis, s.truth, args->out, s.seconds);
  });
}

}  // namespace

LSTFUSE_COMMAND(10, setup);
