#include "lstfuse/methods/tiling.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>
#include <omp.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/stop.hpp"
#include "lstfuse/core/threads.hpp"

namespace lstfuse {
namespace {

bool any_valid(const Raster& r) {
  for (int b = 0; b < r.bands(); ++b)
    if (r.valid_count(b) == 0) return false;
  return true;
}

// Tile size on the method's grid (tile origins must keep a network's pooling/stride grid).
int aligned_tile(int tile, const Method& method) { return align_tile(tile, method.tile_alignment()); }

}  // namespace

ThreadScope::ThreadScope(int threads) : previous_(omp_get_max_threads()) {
  if (threads > 0) omp_set_num_threads(usable_threads(threads));
}
ThreadScope::~ThreadScope() { omp_set_num_threads(previous_); }

void check_pair_count(const MethodInfo& mi, int n) {
  if (n < mi.min_pairs || (mi.max_pairs >= 0 && n > mi.max_pairs)) {
    throw Error(fmt::format("{} needs {} pair(s){}, got {}", mi.name, mi.min_pairs,
                            mi.max_pairs < 0 ? " or more"
                            : mi.max_pairs != mi.min_pairs ? fmt::format(" to {}", mi.max_pairs)
                                                            : "",
                            n));
  }
}

bool prune_tile(const MethodInfo& mi, FusionInput& tile) {
  if (!any_valid(tile.coarse)) return false;
  std::vector<ImagePair> kept;
  for (auto& p : tile.pairs)
    if (any_valid(p.fine) && any_valid(p.coarse)) kept.push_back(std::move(p));
  tile.pairs = std::move(kept);
  return static_cast<int>(tile.pairs.size()) >= mi.min_pairs;
}

std::vector<TileRect> tile_rects(int W, int H, int tile) {
  if (tile <= 0) tile = std::max(W, H);
  std::vector<TileRect> out;
  for (int y = 0; y < H; y += tile)
    for (int x = 0; x < W; x += tile) out.push_back({x, y, std::min(tile, W - x), std::min(tile, H - y)});
  return out;
}

TileWindow tile_window(int tx, int ty, int tw, int th, int halo, int W, int H) {
  TileWindow win;
  win.x0 = std::max(0, tx - halo);
  win.y0 = std::max(0, ty - halo);
  win.w = std::min(W, tx + tw + halo) - win.x0;
  win.h = std::min(H, ty + th + halo) - win.y0;
  win.region = {tx - win.x0, ty - win.y0, tw, th};
  return win;
}

int align_tile(int tile, int alignment) {
  const int a = std::max(1, alignment);
  return (tile + a - 1) / a * a;
}

FusionResult predict_tiled(Method& method, const FusionInput& in, const TilingOptions& opts) {
  ThreadScope threads(opts.threads);
  const MethodInfo& mi = method.info();
  check_pair_count(mi, static_cast<int>(in.pairs.size()));
  const Grid& grid = in.coarse.grid();
  const int W = grid.width, H = grid.height;
  if (opts.tile <= 0 || (opts.tile >= W && opts.tile >= H)) {
    // One tile: the input is the whole scene, whose statistics the method computes itself.
    if (in.region.whole()) return method.predict(in);
    FusionInput whole = in;
    whole.region = {};
    return method.predict(whole);
  }
  // The whole scene must pass the method's checks (grids, bands, all-cloud target) before any
  // tile is cut, so errors do not depend on the tiling.
  if (!any_valid(in.coarse)) {
    throw Error(fmt::format("{}: the coarse image of the target date {} has no valid pixel "
                            "(all cloud or nodata)", mi.name, in.date.iso()));
  }
  for (const auto& p : in.pairs) {
    if (!p.fine.grid().same_geometry(grid) || !p.coarse.grid().same_geometry(grid)) {
      throw Error(fmt::format("{}: the images of {} are not on the target's grid; align them "
                              "first with 'lstfuse ingest'", mi.name, p.date.iso()));
    }
    if (p.fine.bands() != in.coarse.bands() || p.coarse.bands() != in.coarse.bands()) {
      throw Error(fmt::format("{}: the images of {} have {} band(s), the target coarse image {}",
                              mi.name, p.date.iso(), p.fine.bands(), in.coarse.bands()));
    }
    if (!any_valid(p.fine) || !any_valid(p.coarse)) {
      throw Error(fmt::format("{}: the pair of {} has no valid pixel (all cloud or nodata)",
                              mi.name, p.date.iso()));
    }
  }
  const std::shared_ptr<const SceneStats> stats =
      in.scene_stats ? in.scene_stats : std::make_shared<const SceneStats>(compute_scene_stats(in));
  const int halo = method.halo_on(grid);
  FusionResult out;
  out.fine = Raster(grid, in.coarse.bands(), 0.0f, false);
  out.fine.units = in.coarse.units;
  for (const TileRect& t : tile_rects(W, H, aligned_tile(opts.tile, method))) {
    stop_point(mi.name.c_str());
    const TileWindow win = tile_window(t.x0, t.y0, t.w, t.h, halo, W, H);
    FusionInput sub;
    sub.date = in.date;
    sub.coarse = in.coarse.crop(win.x0, win.y0, win.w, win.h);
    for (const auto& p : in.pairs)
      sub.pairs.push_back({p.date, p.fine.crop(win.x0, win.y0, win.w, win.h), p.coarse.crop(win.x0, win.y0, win.w, win.h)});
    sub.region = win.region;
    sub.scene_stats = stats;
    if (!prune_tile(mi, sub)) continue;
    FusionResult r = method.predict(sub);
    if (out.quality.empty()) {
      out.quality = Raster(grid, r.quality.bands(), 0.0f, true);
      out.quality.units = r.quality.units;
      out.quality.band_names = r.quality.band_names;
    }
    out.fine.paste(r.fine.crop(win.region.x0, win.region.y0, t.w, t.h), t.x0, t.y0);
    out.quality.paste(r.quality.crop(win.region.x0, win.region.y0, t.w, t.h), t.x0, t.y0);
  }
  if (out.quality.empty()) throw Error(mi.name + ": no tile could be predicted");
  return out;
}

}  // namespace lstfuse
