#include "lstfuse/pipeline/fuse_tiles.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/kill_point.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

// Tile files live only while their date is being fused, on the machines of one run: the values
// are stored in this machine's byte order, and the magic names the layout.
constexpr char kMagic[8] = {'L', 'S', 'T', 'F', 'T', 'I', 'L', '1'};

fs::path tile_path(const fs::path& out_dir, const Date& date, int index) {
  return date_tiles_dir(out_dir, date) / fmt::format("{:05d}.tile", index);
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_string(std::string& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

void put_raster(std::string& out, const Raster& r) {
  put<std::int32_t>(out, r.width());
  put<std::int32_t>(out, r.height());
  put<std::int32_t>(out, r.bands());
  put_string(out, r.units);
  put<std::uint64_t>(out, r.band_names.size());
  for (const auto& n : r.band_names) put_string(out, n);
  const auto values = r.data();
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(r.mask_data().data()), r.mask_data().size());
}

// Reads what put_* wrote; any shortfall is a damaged file.
class Reader {
 public:
  Reader(const std::string& bytes, const fs::path& path) : b_(bytes), path_(path) {}
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    return std::string(take(n), n);
  }
  const char* take(std::uint64_t n) {
    if (n > b_.size() - pos_) throw file_error(path_.string(), "damaged tile file (too short)");
    const char* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }
  Raster get_raster() {
    const int w = get<std::int32_t>(), h = get<std::int32_t>(), bands = get<std::int32_t>();
    if (w < 0 || h < 0 || bands < 0) throw file_error(path_.string(), "damaged tile file (size)");
    Grid g;
    g.width = w;
    g.height = h;
    Raster r(g, bands, 0.0f, false);
    r.units = get_string();
    const auto names = get<std::uint64_t>();
    if (names > 4096) throw file_error(path_.string(), "damaged tile file (band names)");
    r.band_names.clear();
    for (std::uint64_t k = 0; k < names; ++k) r.band_names.push_back(get_string());
    auto& values = r.data();
    std::memcpy(values.data(), take(values.size() * sizeof(float)), values.size() * sizeof(float));
    std::memcpy(r.mask_data().data(), take(r.mask_data().size()), r.mask_data().size());
    return r;
  }
  bool at_end() const { return pos_ == b_.size(); }

 private:
  const std::string& b_;
  fs::path path_;
  std::uint64_t pos_ = 0;
};

// The record of a tile file (the header alone is read: the values are not needed to know that
// the tile is done).
std::optional<nlohmann::json> read_header(const fs::path& path, std::string* rest) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  char magic[8];
  std::uint64_t n = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return std::nullopt;
  if (!in.read(reinterpret_cast<char*>(&n), sizeof n) || n > (1u << 24)) return std::nullopt;
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) return std::nullopt;
  if (rest) rest->assign(std::istreambuf_iterator<char>(in), {});
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::vector<TileRect> work_tiles(const Grid& grid, const Method& method, int tile) {
  const int W = grid.width, H = grid.height;
  if (tile <= 0) return {{0, 0, W, H}};
  const int t = align_tile(tile, method.tile_alignment());
  if (t >= W && t >= H) return {{0, 0, W, H}};
  return tile_rects(W, H, t);
}

std::string tile_key(const std::string& run_key, const TileRect& t) {
  return fmt::format("{}:{}x{}+{}+{}", run_key, t.w, t.h, t.x0, t.y0);
}

fs::path date_tiles_dir(const fs::path& out_dir, const Date& date) { return out_dir / kTilesFolder / date.iso(); }

void write_tile(const fs::path& out_dir, const Date& date, int index, const nlohmann::json& record,
                const FusionResult* result) {
  std::string bytes(kMagic, 8);
  const std::string header = record.dump();
  put<std::uint64_t>(bytes, header.size());
  bytes += header;
  if (result) {
    put_raster(bytes, result->fine);
    put_raster(bytes, result->quality);
  }
  fs::create_directories(date_tiles_dir(out_dir, date));
  write_bytes_atomic(tile_path(out_dir, date, index), bytes);
  kill_point("tile-stored");
}

std::optional<nlohmann::json> read_tile_record(const fs::path& out_dir, const Date& date, int index,
                                               const std::string& key) {
  auto j = read_header(tile_path(out_dir, date, index), nullptr);
  if (!j || !j->is_object() || j->value("key", "") != key) return std::nullopt;
  return j;
}

std::optional<FusionResult> read_tile_result(const fs::path& out_dir, const Date& date, int index) {
  const fs::path path = tile_path(out_dir, date, index);
  std::string rest;
  if (!read_header(path, &rest)) throw file_error(path.string(), "damaged or missing tile file");
  if (rest.empty()) return std::nullopt;
  Reader r(rest, path);
  FusionResult out;
  out.fine = r.get_raster();
  out.quality = r.get_raster();
  if (!r.at_end()) throw file_error(path.string(), "damaged tile file (trailing bytes)");
  return out;
}

int count_stored_tiles(const fs::path& out_dir, const Date& date) {
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it(date_tiles_dir(out_dir, date), ec), end; !ec && it != end; it.increment(ec))
    n += it->path().extension() == ".tile";
  return n;
}

std::string other_tiling_note(const fs::path& out_dir, const std::string& run_key, const std::vector<TileRect>& tiles) {
  const std::string prefix = run_key + ":";
  const bool tiled = tiles.size() > 1;
  // Every process of a shared run calls this when it starts: a bounded look, not every header of
  // a large run's stored tiles.
  int budget = 4096;
  std::error_code ec;
  for (fs::directory_iterator d(out_dir / kTilesFolder, ec), end; !ec && d != end && budget > 0; d.increment(ec)) {
    // The largest tile of another tiling in the date's folder: its size (edge tiles are smaller).
    int w = 0, h = 0;
    std::error_code ec2;
    for (fs::directory_iterator f(d->path(), ec2); !ec2 && f != end; f.increment(ec2)) {
      int index = -1;
      if (f->path().extension() != ".tile" || std::sscanf(f->path().stem().c_str(), "%d", &index) != 1) continue;
      if (--budget < 0) break;
      const auto rec = read_header(f->path(), nullptr);
      if (!rec || !rec->is_object()) continue;
      const std::string key = rec->value("key", "");
      if (key.rfind(prefix, 0) != 0) continue;  // other settings: not this run's
      if (tiled && index >= 0 && static_cast<size_t>(index) < tiles.size() && key == tile_key(run_key, tiles[index]))
        continue;
      int tw = 0, th = 0, x = 0, y = 0;
      if (std::sscanf(key.c_str() + prefix.size(), "%dx%d+%d+%d", &tw, &th, &x, &y) != 4) continue;
      w = std::max(w, tw);
      h = std::max(h, th);
    }
    if (w == 0) continue;
    const std::string mine =
        tiled ? fmt::format("tiles of {} x {} px", tiles[0].w, tiles[0].h) : "whole dates (no --work-tile)";
    return fmt::format("{} holds tiles of up to {} x {} px, cut with another --work-tile than this run's {}: every "
                       "shard and rank, and --assemble, need the same --work-tile",
                       d->path().string(), w, h, mine);
  }
  return {};
}

DateTilesLock::DateTilesLock(const fs::path& out_dir, const Date& date) {
  fd_ = ::open(date_tiles_dir(out_dir, date).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return;
  if (::flock(fd_, LOCK_EX) != 0) {
    // Without folder locks two processes may assemble the same date: they write the same bytes.
    spdlog::debug("{}: no lock on the tile folder", date_tiles_dir(out_dir, date).string());
  }
}

DateTilesLock::~DateTilesLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace lstfuse::pipeline
