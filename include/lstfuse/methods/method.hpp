#pragma once
// The one interface behind which every fusion method lives, classic or deep.
//
// Data flow: the caller brings every image onto the fine grid first (coarse images resampled,
// see prep/), gathers the dated pairs and the target coarse image into a FusionInput, calls
// fit() once (deep methods train, classic ones need nothing), then predict() per target date.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/options.hpp"
#include "lstfuse/core/raster.hpp"
#include "lstfuse/prep/coarse_bias.hpp"

namespace lstfuse {

// A fine and a coarse image of the same date, both on the fine grid.
struct ImagePair {
  Date date;
  Raster fine;
  Raster coarse;
};

// A pixel window of a raster; width 0 means "the whole raster".
struct PixelRect {
  int x0 = 0, y0 = 0, width = 0, height = 0;
  bool whole() const { return width <= 0 || height <= 0; }
};

struct SceneStats;

struct FusionInput {
  std::vector<ImagePair> pairs;  // sorted by date
  Raster coarse;                 // coarse image of the target date, on the fine grid
  Date date;                     // target date
  // Pixels that must be predicted. The tiled driver passes tile + halo and asks only for the
  // tile core, so window methods need not waste time on the halo; methods may skip (leave
  // invalid) pixels outside it.
  PixelRect region;
  // Statistics of the whole scene this input is a tile of (ESTARFM's and STARFM's thresholds,
  // the series' biases, the deep engine's scene means), set by the tiled drivers so that the
  // result does not depend on the tiling; null: a method computes them from this input.
  std::shared_ptr<const SceneStats> scene_stats;
};

struct FusionResult {
  Raster fine;     // the prediction; a pixel is invalid where it could not be predicted
  Raster quality;  // per-pixel diagnostics; band meaning in quality.band_names
};

// Scene-wide statistics that tile-local code cannot see (ESTARFM and STARFM thresholds use the
// standard deviation of the whole fine image). The tiled drivers compute them once on the whole
// scene and pass them in every tile's FusionInput, so the result does not depend on tile size.
struct SceneStats {
  std::vector<Date> dates;                     // [pair]
  std::vector<std::vector<BandStats>> fine;    // [pair][band]
  std::vector<std::vector<BandStats>> coarse;  // [pair][band]
  std::vector<BandStats> target;               // [band]
  // The coarse sensor's offset on each pair date, mean(coarse - fine) over the scene's pixels
  // valid in both (prep/coarse_bias.hpp).
  std::vector<std::vector<prep::PairBias>> coarse_bias;  // [pair][band]
  // Mean of (target coarse - pair coarse) over the scene's pixels valid in both, NaN where none
  // (`series`' event weights).
  std::vector<std::vector<double>> coarse_change;  // [pair][band]
  // The pair of this date, or -1. By date, not position: a tile drops the pairs that have no
  // valid pixel in it, so its k-th pair need not be the scene's k-th.
  int index_of(const Date& d) const;
};
SceneStats compute_scene_stats(const FusionInput& in);
// Mean of a - b (band `band`) over the pixels valid in both; NaN when there is none.
double mean_difference(const Raster& a, const Raster& b, int band);

struct MethodInfo {
  std::string name;     // registry key, e.g. "estarfm"
  std::string family;   // "baseline", "classic" or "deep"
  std::string summary;  // one line for `lstfuse methods`
  int min_pairs = 1;
  int max_pairs = 1;                 // -1: any number
  bool needs_pairs_both_sides = false;  // needs a pair before and a pair after the target
  bool trainable = false;            // fit() learns weights; save/load carry them
  // The drivers hand it every pair of the catalog (except the target date and the dates they
  // hold out), not only the nearest ones.
  bool uses_series = false;
  // The drivers' coarse-bias step (pipeline::CoarseBiasStep) is on by default for this method:
  // set where the benchmark measured that it helps.
  bool coarse_bias_step = false;
};

// Runtime context for fit(): where checkpoints go, whether to resume, progress reporting.
struct FitContext {
  std::filesystem::path checkpoint_dir;  // empty: no checkpoints
  bool resume = false;
  bool show_progress = true;
  // Dates to predict later (per-target mode); empty in series mode.
  std::vector<Date> target_dates;
};

class Method {
 public:
  virtual ~Method() = default;
  virtual const MethodInfo& info() const = 0;
  virtual OptionSet& options() = 0;
  const OptionSet& options() const { return const_cast<Method*>(this)->options(); }

  // Options that constrain each other (each one's range is checked as it is set): throws Error
  // naming them. The drivers call it once every option is set, before any work.
  virtual void check_options() const {}

  // Pixels of context a tile needs on each side so that tiled and untiled results agree.
  virtual int halo() const { return 0; }
  // The halo on a given grid, for methods whose window is set in metres (STARFM's search
  // distance); the tiled driver asks this one.
  virtual int halo_on(const Grid& grid) const { return halo(); }
  // Tile origins must lie on this grid (networks that pool or stride); the tiled drivers round
  // the tile size up to it. halo_on() is a multiple of it.
  virtual int tile_alignment() const { return 1; }
  // Learn from pairs (deep methods); classic methods accept the call and do nothing.
  virtual void fit(const std::vector<ImagePair>& pairs, const FitContext& ctx) {}
  virtual bool fitted() const { return !info().trainable; }
  // One line about the fitted model that reports should carry (a deep method that kept its
  // baseline because training did not beat it); empty when there is nothing to say.
  virtual std::string fit_note() const { return {}; }
  virtual void save(const std::filesystem::path& path) const;
  virtual void load(const std::filesystem::path& path);
  // Throws Error when the fitted or loaded method cannot predict on this scene grid (a deep
  // model whose series context belongs to its training grid): the drivers ask once, before
  // any work, rather than fail every date.
  virtual void check_grid(const Grid& scene) const {}

  // Throws Error when the input does not satisfy info() (pair count, grids, all-invalid).
  virtual FusionResult predict(const FusionInput& in) = 0;

 protected:
  // Checks grid agreement, pair count and side requirements; names the problem.
  void validate(const FusionInput& in) const;
};

class MethodRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Method>()>;
  // The registry with every built-in method, deep ones included, is assembled above this layer
  // and the deep one (pipeline/registry.hpp, method_registry()).
  void add(const std::string& name, Factory factory);
  bool has(const std::string& name) const;
  // Throws Error listing the known names when `name` is unknown.
  std::unique_ptr<Method> create(const std::string& name) const;
  std::vector<std::string> names() const;  // in registration order

 private:
  std::vector<std::pair<std::string, Factory>> factories_;
};

// Each family registers its methods in its own folder (the deep families: deep/register.hpp).
void register_baseline_methods(MethodRegistry& registry);  // methods/baseline
void register_classic_methods(MethodRegistry& registry);   // methods/classic

}  // namespace lstfuse
