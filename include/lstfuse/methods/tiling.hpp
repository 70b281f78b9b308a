#pragma once
// The parallel driver that is not the algorithm's business: it cuts a scene into tiles, gives
// each tile a halo of the method's window (Method::halo_on), sets whole-scene statistics once
// (Method::set_scene_stats) and keeps only each tile's core. Pixels are computed in parallel
// inside the method (OpenMP over rows, static schedule), so the result is the same whatever the
// tile size and the thread count.
//
// Streaming mode reads each tile + halo from the files (io::read_window) and writes the core
// with io::RasterWriter, so memory is bounded by the tile size, not the scene size; the
// whole-scene statistics then come from a first pass over strips of rows.
#include <string>
#include <vector>

#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

// A tile's window: the tile plus `halo` on each side, clipped to the W x H scene (never padded
// beyond it, so an edge tile sees the scene's edge as the whole-scene run does), and where the
// tile lies inside the window. Shared by these drivers and the deep engine's own tiles.
struct TileWindow {
  int x0, y0, w, h;
  PixelRect region;
};
TileWindow tile_window(int tx, int ty, int tw, int th, int halo, int W, int H);
// `tile` rounded up to a multiple of `alignment` (a network's pooling/stride grid).
int align_tile(int tile, int alignment);

struct TilingOptions {
  int tile = 512;   // tile core size in pixels (square); <= 0: the whole scene as one tile
  int threads = 0;  // OpenMP threads; 0: the OpenMP default
};

// Whole scene in memory: statistics once, then tile by tile.
FusionResult predict_tiled(Method& method, const FusionInput& in, const TilingOptions& opts = {});

// A fusion input given as files on one grid (all Kelvin after io::ReadOptions).
struct StreamPair {
  Date date;
  std::string fine, coarse;
};
struct StreamInput {
  std::vector<StreamPair> pairs;  // sorted by date
  std::string coarse;             // target coarse image
  Date date;
  io::ReadOptions read;
};
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

}  // namespace lstfuse

namespace lstfuse {
// Dataset metadata naming the bands of a quality raster (QUALITY_BANDS=a,b,c; BAND_1=a, ...),
// added to `base`.
io::WriteOptions with_band_names(io::WriteOptions base, const std::vector<std::string>& names);
}  // namespace lstfuse
