// Reading the real MOD11A1 granule and reprojecting it onto a 3000 x 3000 30 m UTM grid (the
// alignment step of `lstfuse ingest`), written tile by tile to a GeoTIFF: time and peak memory.
#include <cstdio>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "bench_support.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/prep/align.hpp"

using namespace lstfuse;

int main() {
  const std::string hdf = bench::shared_data_path("mod11a1/MOD11A1.A2019305.h14v09.006.hdf");
  if (hdf.empty() || !std::filesystem::exists(hdf)) {
    std::fprintf(stderr, "bench_ingest: the MOD11A1 sample is missing (../shared/data/mod11a1)\n");
    return 1;
  }
  const double rss0 = bench::current_rss_mib();
  std::printf("baseline RSS (libraries loaded): %.1f MiB\n", rss0);

  io::ProductOptions opts;
  opts.qc = "any";
  bench::Stopwatch sw;
  io::ProductReader reader(io::identify_product(hdf, opts), opts);
  std::printf("open granule: %.3f s\n", sw.seconds());
  // UTM 24S, 90 km x 90 km at 30 m, over the part of the tile with data.
  const Grid target = prep::make_grid("EPSG:32724", 30.0, {392000, 9515000, 482000, 9605000});
  const std::string out = (std::filesystem::temp_directory_path() / "bench_ingest_30m.tif").string();
  for (const char* rs : {"bilinear", "nearest", "bicubic"}) {
    sw.reset();
    prep::AlignSource src{reader.grid(), [&reader](int x0, int y0, int w, int h) { return reader.read(x0, y0, w, h); },
                          hdf};
    prep::AlignOptions ao;
    ao.resampling = prep::resampling_from_string(rs);
    io::RasterWriter writer(out, target, 1);
    long long valid = 0;
    prep::align_tiles(src, target, ao, [&](const Raster& tile, int x0, int y0) {
      writer.write(tile, x0, y0);
      valid += tile.valid_count(0);
    });
    writer.commit();
    std::printf("reproject onto %d x %d 30 m (%s, windowed read + warp + GeoTIFF write): %.3f s, valid %.2f %%\n",
                target.width, target.height, rs, sw.seconds(), 100.0 * valid / target.pixels());
    std::printf("  RSS now %.1f MiB, peak %.1f MiB\n", bench::current_rss_mib(), bench::peak_rss_mib());
  }
  std::filesystem::remove(out);
  std::printf("peak RSS of the windowed ingest path: %.1f MiB (%.1f MiB above baseline)\n", bench::peak_rss_mib(),
              bench::peak_rss_mib() - rss0);
  sw.reset();
  const Raster full = reader.read_all();
  std::printf("read + decode whole granule (1200 x 1200, QC applied): %.3f s, valid %.2f %%\n", sw.seconds(),
              100.0 * full.valid_fraction());
  std::printf("  RSS after reading: %.1f MiB\n", bench::current_rss_mib());

  std::printf("peak RSS overall: %.1f MiB (%.1f MiB above baseline)\n", bench::peak_rss_mib(), bench::peak_rss_mib() - rss0);
  return 0;
}
