#pragma once
// `fuse --work-tile N`: each date of a run cut into spatial tiles of N x N pixels, each tile a
// work item of its own (fuse_work.hpp). A tile is predicted by the method as the region of the
// whole day's input (FusionInput::region): the method's scene statistics come from the whole
// scene and each pixel of the region is computed as in a whole-scene run, so the tiles put
// together are that run's prediction to the last bit. A tile therefore splits the computing of a
// date, not the memory of its input. A finished tile is stored atomically in
// OUT/tiles/DATE/NNNNN.tile: a header (its record: settings key, status, note, seconds) and the
// tile's prediction and diagnostics. Once every tile of a date is stored, one process assembles
// the date under a lock on its folder (the one that stored the last tile, or the gathering
// process at the end): the whole-date steps (reference fill, fill flags, uncertainty band,
// consistency score) run on the assembled scene, the COG and quality layer are written as a
// whole-scene run writes them, the date is recorded, and its tile folder removed.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/date.hpp"
#include "lstfuse/methods/tiling.hpp"

namespace lstfuse::pipeline {

// Finished tiles of the dates not yet assembled, kept in OUT/tiles/DATE.
constexpr const char* kTilesFolder = "tiles";

// The tiles of a date: squares of `tile` pixels (rounded up to the method's tile alignment), row
// by row. One tile, the whole scene, when tile <= 0 or when one tile covers the scene.
std::vector<TileRect> work_tiles(const Grid& grid, const Method& method, int tile);

// A tile's record counts only with the key it was made with: the run's key (fuse_run_key) and the
// tile's place and size, so tiles of another tiling or other settings are done again.
std::string tile_key(const std::string& run_key, const TileRect& t);

std::filesystem::path date_tiles_dir(const std::filesystem::path& out_dir, const Date& date);

// Stores tile `index` of `date`: its record and, for a predicted tile, its result (null for a
// failed tile or one without any input there). Written under a temporary name, then renamed.
void write_tile(const std::filesystem::path& out_dir, const Date& date, int index, const nlohmann::json& record,
                const FusionResult* result);
// The record of tile `index` when it is stored with `key`; nullopt when missing, damaged, or made
// with another key.
std::optional<nlohmann::json> read_tile_record(const std::filesystem::path& out_dir, const Date& date, int index,
                                               const std::string& key);
// The stored result of tile `index`; nullopt when the tile stored none. Throws Error naming the
// file when it is damaged.
std::optional<FusionResult> read_tile_result(const std::filesystem::path& out_dir, const Date& date, int index);
// Stored tiles of a date (files, whatever their key).
int count_stored_tiles(const std::filesystem::path& out_dir, const Date& date);

// When tiles of this run's settings are stored under OUT/tiles with another tiling than `tiles`
// (shards or ranks given different --work-tile, or --assemble without the shards' --work-tile),
// what they were cut into and what this run cuts, as a clause for an error message; empty when
// none is. Reads stored tiles' headers (a few thousand at most) until a date folder holds one.
std::string other_tiling_note(const std::filesystem::path& out_dir, const std::string& run_key,
                              const std::vector<TileRect>& tiles);

// An exclusive lock on a date's tile folder for its assembly (flock, released when the process
// dies). held() is false when the folder is gone (another process assembled the date).
class DateTilesLock {
 public:
  DateTilesLock(const std::filesystem::path& out_dir, const Date& date);
  ~DateTilesLock();
  DateTilesLock(const DateTilesLock&) = delete;
  DateTilesLock& operator=(const DateTilesLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace lstfuse::pipeline
