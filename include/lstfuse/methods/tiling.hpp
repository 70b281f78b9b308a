#pragma once
// The parallel driver that is not the algorithm's business: it cuts a scene into tiles, gives
// each tile a halo of the method's window (Method::halo_on), passes the whole-scene statistics
// in every tile's input (FusionInput::scene_stats) and keeps only each tile's core. Pixels are computed in parallel
// inside the method (OpenMP over rows, static schedule), so the result is the same whatever the
// tile size and the thread count.
// Reading and writing files tile by tile is the pipeline's (pipeline/streamed.hpp).
#include <string>
#include <vector>

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

// The pieces the streamed driver shares with predict_tiled.
// Sets the OpenMP thread count for the scope of a call (0: leave it), then restores it.
class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;
};
// Throws Error naming the method when `n` pairs are too few or too many for it.
void check_pair_count(const MethodInfo& mi, int n);
// A tile's own input: pairs without any valid pixel in tile + halo contribute nothing to any
// method, so they are dropped (the method's own check would reject them); an empty target or
// too few pairs leave the tile unpredicted. Returns false in that case.
bool prune_tile(const MethodInfo& mi, FusionInput& tile);
struct TileRect {
  int x0, y0, w, h;
};
// The tiles of a W x H scene, row by row; tile <= 0: one tile.
std::vector<TileRect> tile_rects(int W, int H, int tile);

}  // namespace lstfuse
