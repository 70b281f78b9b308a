#pragma once
// The stage that runs a method over scenes given as files: each tile + halo is read from the
// files (io::read_window) and its core written with io::RasterWriter, so memory is bounded by
// the tile size, not the scene size; the whole-scene statistics come from a first pass over
// strips of rows. The tiling itself (halo, pruning, whole-scene statistics) is methods/tiling.
#include <string>
#include <vector>

#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/tiling.hpp"

namespace lstfuse {

// A fusion input given as files on one grid (all Kelvin after io::ReadOptions).
// `coarse_shift` is subtracted from every value of the coarse image as it is read: the bias
// step's correction (pipeline::CoarseBiasStep), applied as that step applies it in memory.
struct StreamPair {
  Date date;
  std::string fine, coarse;
  double coarse_shift = 0.0;
};
struct StreamInput {
  std::vector<StreamPair> pairs;  // sorted by date
  std::string coarse;             // target coarse image
  Date date;
  io::ReadOptions read;
  double coarse_shift = 0.0;
};

// A window of a coarse image less `shift` (as CoarseBiasStep shifts an image in memory).
Raster read_coarse_window(const std::string& path, double shift, int x0, int y0, int w, int h,
                          const io::ReadOptions& read);
struct StreamOutput {
  std::string fine_path;
  std::string quality_path;  // empty: no quality layer
  io::WriteOptions write;    // for the prediction; the quality layer uses the same format
};

// Scene statistics exactly as compute_scene_stats() gives them for the whole rasters, from
// strips of rows read one at a time.
SceneStats streamed_scene_stats(const StreamInput& in, int strip_rows = 256);

// Checks grids and band counts of the files (error names the file and says to run
// `lstfuse ingest`), returns the common grid and band count.
Grid check_stream_input(const StreamInput& in, int* bands = nullptr);

// Streams the prediction to disk; both outputs appear only when everything succeeded.
void predict_streamed(Method& method, const StreamInput& in, const StreamOutput& out,
                      const TilingOptions& opts = {});

// Dataset metadata naming the bands of a quality raster (QUALITY_BANDS=a,b,c; BAND_1=a, ...),
// added to `base`.
io::WriteOptions with_band_names(io::WriteOptions base, const std::vector<std::string>& names);
// Options for writing a quality raster: `base` with its band names and the fastest DEFLATE level
// (diagnostics are read rarely; the prediction keeps the default level).
io::WriteOptions quality_write_options(io::WriteOptions base, const std::vector<std::string>& names);

}  // namespace lstfuse
