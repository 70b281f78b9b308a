#include "lstfuse/pipeline/streamed.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/prep/coarse_bias.hpp"

namespace lstfuse {
namespace {

// Tile size on the method's grid (tile origins must keep a network's pooling/stride grid).
int aligned_tile(int tile, const Method& method) { return align_tile(tile, method.tile_alignment()); }

std::vector<BandStats> file_stats(const std::string& path, double shift, const Grid& grid, int bands,
                                  const io::ReadOptions& read, int strip_rows) {
  // BandStatsSum adds as band_stats() does, so streamed statistics equal the in-memory ones bit
  // for bit.
  std::vector<BandStatsSum> acc(bands);
  for (int y = 0; y < grid.height; y += strip_rows) {
    Raster strip = io::read_window(path, 0, y, grid.width, std::min(strip_rows, grid.height - y), read);
    // This pass reads every file whole before anything is written: the in-memory path's check
    // of each file's values (a Celsius file was fused into 34 K, exit 0), pixel for pixel.
    io::check_plausible_lst(strip, path, 0, y);
    if (shift != 0.0) prep::remove_bias(strip, shift);
    for (int b = 0; b < bands; ++b) acc[b].add(strip, b);
  }
  std::vector<BandStats> out;
  for (const auto& a : acc) out.push_back(a.result());
  return out;
}

// measure_coarse_bias() from strips: one running sum in row-major order, so the result equals
// the in-memory one bit for bit.
// Per pair and band, strip by strip: the coarse sensor's bias, mean(coarse - fine) over the pixels
// valid in both, and the mean coarse change to the target, mean(target - coarse) likewise. Each
// strip of the target is read once for all pairs.
void file_pair_bias_and_change(const StreamInput& in, const Grid& grid, int bands, int strip_rows,
                               std::vector<std::vector<prep::PairBias>>& bias,
                               std::vector<std::vector<double>>& change) {
  const size_t P = in.pairs.size();
  std::vector<std::vector<double>> bsum(P, std::vector<double>(bands, 0.0)), csum = bsum;
  std::vector<std::vector<long long>> bcount(P, std::vector<long long>(bands, 0)), ccount = bcount;
  for (int y = 0; y < grid.height; y += strip_rows) {
    const int rows = std::min(strip_rows, grid.height - y);
    const Raster t = read_coarse_window(in.coarse, in.coarse_shift, 0, y, grid.width, rows, in.read);
    for (size_t k = 0; k < P; ++k) {
      const Raster f = io::read_window(in.pairs[k].fine, 0, y, grid.width, rows, in.read);
      const Raster c = read_coarse_window(in.pairs[k].coarse, in.pairs[k].coarse_shift, 0, y, grid.width, rows, in.read);
      for (int b = 0; b < bands; ++b) {
        const float* l = f.band(b);
        const float* m = c.band(b);
        const float* m0 = t.band(b);
        const uint8_t* lv = f.mask(b);
        const uint8_t* mv = c.mask(b);
        const uint8_t* v0 = t.mask(b);
        for (size_t i = 0; i < f.band_size(); ++i) {
          if (!mv[i]) continue;
          if (lv[i]) {
            bsum[k][b] += static_cast<double>(m[i]) - l[i];
            ++bcount[k][b];
          }
          if (v0[i]) {
            csum[k][b] += static_cast<double>(m0[i]) - m[i];
            ++ccount[k][b];
          }
        }
      }
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  bias.assign(P, {});
  change.assign(P, {});
  for (size_t k = 0; k < P; ++k)
    for (int b = 0; b < bands; ++b) {
      bias[k].push_back({bcount[k][b] ? bsum[k][b] / static_cast<double>(bcount[k][b]) : nan, bcount[k][b]});
      change[k].push_back(ccount[k][b] ? csum[k][b] / static_cast<double>(ccount[k][b]) : nan);
    }
}

}  // namespace

Raster read_coarse_window(const std::string& path, double shift, int x0, int y0, int w, int h,
                          const io::ReadOptions& read) {
  Raster r = io::read_window(path, x0, y0, w, h, read);
  if (shift != 0.0) prep::remove_bias(r, shift);
  return r;
}

io::WriteOptions quality_write_options(io::WriteOptions base, const std::vector<std::string>& names) {
  base.deflate_level = 1;
  return with_band_names(std::move(base), names);
}

io::WriteOptions with_band_names(io::WriteOptions base, const std::vector<std::string>& names) {
  std::string all;
  for (size_t i = 0; i < names.size(); ++i) {
    all += (i ? "," : "") + names[i];
    base.metadata.emplace_back(fmt::format("BAND_{}", i + 1), names[i]);
  }
  base.metadata.emplace_back("QUALITY_BANDS", all);
  base.band_names = names;  // and as GDAL band descriptions
  return base;
}

Grid check_stream_input(const StreamInput& in, int* bands) {
  const Grid grid = io::read_grid(in.coarse, in.read.require_crs);
  const int nb = in.read.bands.empty() ? io::read_band_count(in.coarse)
                                       : static_cast<int>(in.read.bands.size());
  for (const auto& p : in.pairs) {
    for (const std::string* f : {&p.fine, &p.coarse}) {
      const Grid g = io::read_grid(*f, in.read.require_crs);
      if (!io::same_grid(g, grid)) {
        throw file_error(*f, fmt::format("its grid differs from the target coarse image {} ({}); "
                                         "align the inputs first with 'lstfuse ingest'",
                                         in.coarse, g.describe_vs(grid)));
      }
      if (in.read.bands.empty() && io::read_band_count(*f) != nb) {
        throw file_error(*f, fmt::format("has {} band(s), the target coarse image {} has {}",
                                         io::read_band_count(*f), in.coarse, nb));
      }
    }
  }
  if (bands) *bands = nb;
  return grid;
}

SceneStats streamed_scene_stats(const StreamInput& in, int strip_rows) {
  int nb = 0;
  const Grid grid = check_stream_input(in, &nb);
  SceneStats s;
  for (const auto& p : in.pairs) {
    s.dates.push_back(p.date);
    s.fine.push_back(file_stats(p.fine, 0.0, grid, nb, in.read, strip_rows));
    s.coarse.push_back(file_stats(p.coarse, p.coarse_shift, grid, nb, in.read, strip_rows));
  }
  file_pair_bias_and_change(in, grid, nb, strip_rows, s.coarse_bias, s.coarse_change);
  s.target = file_stats(in.coarse, in.coarse_shift, grid, nb, in.read, strip_rows);
  return s;
}

void predict_streamed(Method& method, const StreamInput& in, const StreamOutput& out,
                      const TilingOptions& opts) {
  ThreadScope threads(opts.threads);
  const MethodInfo& mi = method.info();
  check_pair_count(mi, static_cast<int>(in.pairs.size()));
  int nb = 0;
  const Grid grid = check_stream_input(in, &nb);
  const auto stats = std::make_shared<const SceneStats>(streamed_scene_stats(in));
  for (const auto& st : stats->target)
    if (st.count == 0) throw file_error(in.coarse, "has no valid pixel (all cloud or nodata)");
  for (size_t k = 0; k < in.pairs.size(); ++k)
    for (int b = 0; b < nb; ++b) {
      if (stats->fine[k][b].count == 0) throw file_error(in.pairs[k].fine, "has no valid pixel (all cloud or nodata)");
      if (stats->coarse[k][b].count == 0) throw file_error(in.pairs[k].coarse, "has no valid pixel (all cloud or nodata)");
    }
  const int halo = method.halo_on(grid);

  io::RasterWriter fine_writer(out.fine_path, grid, nb, out.write);
  std::unique_ptr<io::RasterWriter> quality_writer;
  int quality_bands = 0;
  std::vector<TileRect> unwritten_quality;  // skipped tiles before the quality layer existed
  const int tile = aligned_tile(opts.tile > 0 ? opts.tile : 512, method);
  for (const TileRect& t : tile_rects(grid.width, grid.height, tile)) {
    const TileWindow win = tile_window(t.x0, t.y0, t.w, t.h, halo, grid.width, grid.height);
    const int x0 = win.x0, y0 = win.y0, w = win.w, h = win.h;
    FusionInput sub;
    sub.date = in.date;
    sub.coarse = read_coarse_window(in.coarse, in.coarse_shift, x0, y0, w, h, in.read);
    for (const auto& p : in.pairs) {
      sub.pairs.push_back({p.date, io::read_window(p.fine, x0, y0, w, h, in.read),
                           read_coarse_window(p.coarse, p.coarse_shift, x0, y0, w, h, in.read)});
    }
    sub.region = win.region;
    sub.scene_stats = stats;
    if (!prune_tile(mi, sub)) {
      fine_writer.write(Raster(grid.window(t.x0, t.y0, t.w, t.h), nb, 0.0f, false), t.x0, t.y0);
      unwritten_quality.push_back(t);
      continue;
    }
    const FusionResult r = method.predict(sub);
    fine_writer.write(r.fine.crop(win.region.x0, win.region.y0, t.w, t.h), t.x0, t.y0);
    if (!out.quality_path.empty()) {
      if (!quality_writer) {
        quality_bands = r.quality.bands();
        quality_writer = std::make_unique<io::RasterWriter>(
            out.quality_path, grid, r.quality.bands(), quality_write_options(out.write, r.quality.band_names));
      }
      quality_writer->write(r.quality.crop(win.region.x0, win.region.y0, t.w, t.h), t.x0, t.y0);
    }
  }
  if (!out.quality_path.empty()) {
    if (!quality_writer) throw Error(mi.name + ": no tile could be predicted");
    for (const TileRect& t : unwritten_quality) {
      // Zero diagnostics (valid) where nothing was predicted, like the in-memory driver.
      quality_writer->write(Raster(grid.window(t.x0, t.y0, t.w, t.h), quality_bands, 0.0f, true),
                            t.x0, t.y0);
    }
  }
  fine_writer.commit();
  if (quality_writer) {
    try {
      quality_writer->commit();
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(out.fine_path, ec);  // no half of the output set
      throw;
    }
  }
}

}  // namespace lstfuse
