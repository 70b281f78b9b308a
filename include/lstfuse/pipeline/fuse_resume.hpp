#pragma once
// How `fuse` re-enters an output folder. A folder is resumed only when it is a fuse folder
// (index.json with format lstfuse-fuse-index, or empty) made with the same method, options and
// run settings; otherwise the run is refused, or with --overwrite redone from scratch. A date
// counts as done only when its files open as rasters and match the size and checksum the index
// recorded for them; anything else (truncated, replaced, garbage) is predicted again.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "lstfuse/pipeline/fuse.hpp"

namespace lstfuse::pipeline {

constexpr const char* kFuseIndexFormat = "lstfuse-fuse-index";

// What a fuse run records besides the method's options: settings that change the files (the
// write options: format, and --co when given).
nlohmann::json fuse_run_settings(const FuseOptions& opts);
// FNV-1a 64 of a string (keys of runs and records).
std::uint64_t fnv1a(const std::string& s);
// The catalog's manifest, parsed and hashed: equal for the same observations wherever the
// catalog lies, different once it is ingested again from other data.
std::string catalog_fingerprint(const Catalog& catalog);

// Removes what an earlier run in OUT_DIR learned from its inputs and options (the uncertainty
// model, trained models): a run that redoes every date (--overwrite with other method options or
// run settings, or a filled catalog filled again) must not predict with them. `models/` stays
// when it holds GIVEN_MODEL (--model).
void discard_learned_products(const std::filesystem::path& out_dir, const std::filesystem::path& given_model);

// Checks the output folder before any work (not the catalog itself, not a foreign folder) and
// reads the previous index. Throws Error naming index.json when the method, its options or the
// run settings differ (unless opts.overwrite: then no previous entry is kept). Returns the
// previous entries by day number. Removes nothing: `learned_stale` is set when what the earlier
// run learned must go (discard_learned_products), which the caller does once its own checks
// have passed, so that a run refused later leaves the earlier one whole.
// `parse` turns one entry of the index into a FuseEntry. `catalog_changed` (optional) is set
// when the earlier run read another catalog (its manifest or one of its files changed since).
std::map<long, FuseEntry> read_resumable_index(const Catalog& catalog, Method& method,
                                               const FuseOptions& opts,
                                               const std::function<FuseEntry(const nlohmann::json&)>& parse,
                                               bool& learned_stale, bool* catalog_changed = nullptr);
// Stamp fields of an entry in the index, and back.
void stamp_to_json(const FuseEntry& e, nlohmann::json& j);
void stamp_from_json(const nlohmann::json& j, FuseEntry& e);

// Size and checksum of a file (FNV-1a 64, hex), for the index.
struct FileStamp {
  std::uintmax_t bytes = 0;
  std::string checksum;
};
FileStamp stamp_file(const std::filesystem::path& path);

// Records the stamps of a finished entry's files (output and quality) in the entry.
void stamp_entry(const std::filesystem::path& dir, FuseEntry& e);

// True when the entry's files exist, open as rasters and match their recorded stamps.
bool entry_intact(const std::filesystem::path& dir, const FuseEntry& e);

}  // namespace lstfuse::pipeline
