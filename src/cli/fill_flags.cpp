#include "fill_flags.hpp"

namespace lstfuse::cli {

void add_fill_options(CLI::App* cmd, prep::FillOptions& o, const std::string& group) {
  cmd->add_option("--fill-harmonics", o.harmonics,
                  "Harmonics of the annual temperature cycle: 1 (annual) or 2 (+ semi-annual)")
      ->group(group)->capture_default_str();
  cmd->add_option("--fill-min-clear-days", o.min_clear_days,
                  "Clear days a pixel needs for its own cycle (fewer: the cycle pooled over its cell)")
      ->group(group)->capture_default_str();
  cmd->add_option("--fill-cell", o.cell, "Residual cell size in pixels")->group(group)->capture_default_str();
  cmd->add_option("--fill-sigma", o.sigma_cells,
                  "Gaussian kernel of the spatial residual interpolation, in cells")
      ->group(group)->capture_default_str();
  cmd->add_option("--fill-window", o.window,
                  "Days a residual may be carried in time when a day has too few clear pixels; "
                  "days farther from clear data are not filled")
      ->group(group)->capture_default_str();
  cmd->add_option("--fill-min-clear", o.min_clear_fraction,
                  "Share of clear pixels a day needs for its own (spatial) residual field")
      ->group(group)->capture_default_str();
  cmd->add_option("--fill-tile", o.tile, "Pixels per side read at once while fitting (memory)")
      ->group(group)->capture_default_str();
}

}  // namespace lstfuse::cli
