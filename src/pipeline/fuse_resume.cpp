#include "lstfuse/pipeline/fuse_resume.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/quality.hpp"

namespace fs = std::filesystem;

namespace lstfuse::pipeline {
namespace {

// Options that change how fast a run is, not what it writes (results do not depend on threads
// or the progress display).
nlohmann::json comparable_options(nlohmann::json o) {
  if (!o.is_object()) return o;
  for (const char* k : {"threads", "quiet"}) o.erase(k);
  return o;
}

// The command-line flag a recorded setting comes from (`max_reference_steps` is
// --max-reference-steps, `format` is --of).
std::string flag_of(const std::string& key) {
  if (key == "format") return "of";
  std::string f = key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::string differences(const nlohmann::json& before, const nlohmann::json& now) {
  std::string out;
  for (const auto& [k, v] : now.items()) {
    if (k == "catalog" && before.contains(k) && before.at(k) != v) {
      out += fmt::format("{}the catalog (its manifest.json or one of its files is not the one the earlier run read)",
                         out.empty() ? "" : ", ");
    } else if (!before.contains(k)) {
      out += fmt::format("{}--{} {} (not recorded before)", out.empty() ? "" : ", ", flag_of(k), v.dump());
    } else if (before.at(k) != v) {
      out += fmt::format("{}--{} {} (was {})", out.empty() ? "" : ", ", flag_of(k), v.dump(), before.at(k).dump());
    }
  }
  for (const auto& [k, v] : before.items())
    if (!now.contains(k))
      out += fmt::format("{}--{} (recorded {}, unknown now)", out.empty() ? "" : ", ", flag_of(k), v.dump());
  return out;
}

// Run settings recorded only when set (fuse_run_settings) get their defaults, so that an index
// written before they were recorded compares equal to a run that leaves them unset. A catalog
// not recorded before cannot be checked: taken as the one given now.
void settings_with_defaults(nlohmann::json& before, nlohmann::json& now) {
  for (auto* r : {&before, &now}) {
    if (!r->is_object()) return;
    if (!r->contains("co")) (*r)["co"] = nlohmann::json::array();
    if (!r->contains("no_uncertainty")) (*r)["no_uncertainty"] = false;
    if (!r->contains("uncertainty_dates")) (*r)["uncertainty_dates"] = 0;
    if (!r->contains("fine_noise")) (*r)["fine_noise"] = nullptr;
  }
  if (!before.contains("catalog") && now.contains("catalog")) before["catalog"] = now["catalog"];
}

// What discard_learned_products would remove: the uncertainty model or trained models.
bool learned_products_exist(const fs::path& out_dir) {
  std::error_code ec;
  return fs::exists(out_dir / kUncertaintyModelFile, ec) || fs::exists(out_dir / "models", ec);
}

}  // namespace

void discard_learned_products(const fs::path& out_dir, const fs::path& given_model) {
  std::error_code ec;
  fs::remove(out_dir / kUncertaintyModelFile, ec);
  const fs::path models = out_dir / "models";
  // A model given with --model is the user's input wherever it lies: never removed.
  if (!given_model.empty()) {
    const fs::path m = fs::weakly_canonical(given_model, ec), d = fs::weakly_canonical(models, ec);
    const auto rel = m.lexically_relative(d);
    if (!rel.empty() && *rel.begin() != "..") return;
  }
  fs::remove_all(models, ec);
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string catalog_fingerprint(const Catalog& catalog) {
  const fs::path manifest = catalog.root() / Catalog::kManifest;
  std::ifstream in(manifest);
  if (!in) throw file_error(manifest.string(), "cannot be read");
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    // With each file's size: a catalog ingested again from other data under the same names has
    // other (compressed) files even where the manifest's fields happen to agree.
    if (j.contains("observations") && j["observations"].is_array()) {
      for (auto& o : j["observations"]) {
        if (!o.is_object()) continue;
        for (const char* key : {"path", "quality_path"}) {
          if (!o.contains(key) || !o[key].is_string() || o[key].get<std::string>().empty()) continue;
          std::error_code ec;
          const auto bytes = fs::file_size(catalog.root() / o[key].get<std::string>(), ec);
          o[std::string(key) + "_bytes"] = ec ? -1 : static_cast<long long>(bytes);
        }
      }
    }
    if (j.contains("landcover") && j["landcover"].is_object() && j["landcover"].value("path", "") != "") {
      std::error_code ec;
      const auto bytes = fs::file_size(catalog.root() / j["landcover"].value("path", ""), ec);
      j["landcover"]["path_bytes"] = ec ? -1 : static_cast<long long>(bytes);
    }
    return fmt::format("fnv1a64:{:016x}", fnv1a(j.dump()));
  } catch (const nlohmann::json::exception& e) {
    throw file_error(manifest.string(), "malformed: " + json_problem(e));
  }
}

nlohmann::json fuse_run_settings(const FuseOptions& opts) {
  nlohmann::json j = {{"format", opts.format},
                      {"series", opts.series},
                      {"coarse_bias", opts.coarse_bias},
                      {"fill", opts.fill},
                      {"max_reference_steps", opts.max_reference_steps},
                      {"model", opts.model.empty() ? std::string() : fs::absolute(opts.model).string()}};
  // The write options besides the format. Recorded only when given, so that the settings (and
  // the records' key) of a run without --co stay those of earlier versions.
  if (!opts.creation_options.empty()) j["co"] = opts.creation_options;
  // Likewise the uncertainty's settings and the catalog, recorded when set (settings_with_defaults).
  if (!opts.uncertainty) j["no_uncertainty"] = true;
  if (opts.uncertainty_dates != 0) j["uncertainty_dates"] = opts.uncertainty_dates;
  if (opts.fine_noise_sd) j["fine_noise"] = *opts.fine_noise_sd;
  if (!opts.catalog_fingerprint.empty()) j["catalog"] = opts.catalog_fingerprint;
  return j;
}

std::map<long, FuseEntry> read_resumable_index(const Catalog& catalog, Method& method, const FuseOptions& opts,
                                               const std::function<FuseEntry(const nlohmann::json&)>& parse,
                                               bool& discard_learned, bool* catalog_changed) {
  discard_learned = false;
  if (catalog_changed) *catalog_changed = false;
  const fs::path dir = opts.out_dir;
  check_output_folder(dir, "-o", {catalog.root().string()},
                      {"index.json", kFuseIndexFormat, "folder made by 'lstfuse fuse'"}, FolderUse::Reuse,
                      opts.overwrite);
  std::map<long, FuseEntry> out;
  const fs::path index = dir / "index.json";
  std::ifstream in(index);
  if (!in) return out;
  const std::string name = method.info().name;
  try {
    const auto j = nlohmann::json::parse(in);
    const std::string earlier = j.value("method", "");
    if (earlier != name) {
      const std::string hint = earlier.empty() ? "" : fmt::format("give --method {} to go on with it, or ", earlier);
      throw file_error(index.string(), fmt::format("this folder holds a fuse run of method '{}', not '{}'; {}use "
                                                   "another output folder", earlier, name, hint));
    }
    std::string diff = differences(comparable_options(j.value("options", nlohmann::json::object())),
                                   comparable_options(method.options().to_json()));
    if (j.contains("run")) {
      nlohmann::json before = j.at("run"), now = fuse_run_settings(opts);
      settings_with_defaults(before, now);
      const std::string run_diff = differences(before, now);
      if (!run_diff.empty()) diff += (diff.empty() ? "" : ", ") + run_diff;
    }
    // What the earlier run learned (models, uncertainty) depends on the method's options and the
    // run settings, not on how the files are written.
    bool learned_stale = !differences(comparable_options(j.value("options", nlohmann::json::object())),
                                      comparable_options(method.options().to_json())).empty();
    if (j.contains("run") && j.at("run").is_object()) {
      nlohmann::json before = j.at("run"), now = fuse_run_settings(opts);
      settings_with_defaults(before, now);
      for (auto* r : {&before, &now}) {
        r->erase("format");
        r->erase("co");
      }
      learned_stale = learned_stale || before != now;
    }
    if (catalog_changed && j.contains("run") && j.at("run").is_object() && j.at("run").contains("catalog"))
      *catalog_changed = j.at("run").at("catalog") != nlohmann::json(opts.catalog_fingerprint);
    if (!diff.empty()) {
      if (!opts.overwrite) {
        throw file_error(index.string(),
                         fmt::format("the earlier run in this folder used other settings ({}); its files would "
                                     "not match the new ones: use another folder, the same options, or "
                                     "--overwrite to redo every date", diff));
      }
      // A shared run cannot learn them again: its processes start at different times and may
      // be reading them (docs/cluster.md). Keeping them would band every new date with the old
      // settings' uncertainty, so such a run is refused while they exist.
      if (learned_stale && opts.work && learned_products_exist(dir)) {
        throw file_error(index.string(),
                         fmt::format("the earlier run in this folder learned its models or uncertainty with other "
                                     "settings ({}); a shared run (MPI, --shard) cannot learn them again: use a new "
                                     "output folder, or run 'lstfuse fuse --overwrite' once without sharing",
                                     diff));
      }
      spdlog::info("{}: other settings than the earlier run ({}); every date is redone", index.string(), diff);
      discard_learned = learned_stale && !opts.work;
      return out;  // nothing of the old run counts as done
    }
    for (const auto& e : j.at("entries")) {
      FuseEntry fe = parse(e);
      out[fe.date.days()] = fe;
    }
  } catch (const nlohmann::json::exception& e) {
    throw file_error(index.string(), "malformed fuse index: " + json_problem(e));
  }
  return out;
}

FileStamp stamp_file(const fs::path& path) {
  FileStamp st;
  std::FILE* f = std::fopen(path.string().c_str(), "rb");
  if (!f) throw file_error(path.string(), "cannot read back the written file");
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      h ^= buf[i];
      h *= 1099511628211ULL;
    }
    st.bytes += n;
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw file_error(path.string(), "cannot read back the written file");
  st.checksum = fmt::format("fnv1a64:{:016x}", h);
  return st;
}

void stamp_entry(const fs::path& dir, FuseEntry& e) {
  if (!e.output.empty()) {
    const auto s = stamp_file(dir / e.output);
    e.output_bytes = s.bytes;
    e.output_checksum = s.checksum;
  }
  if (!e.quality.empty()) {
    const auto s = stamp_file(dir / e.quality);
    e.quality_bytes = s.bytes;
    e.quality_checksum = s.checksum;
  }
}

bool entry_intact(const fs::path& dir, const FuseEntry& e) {
  if (e.status != "done" || e.output.empty() || e.output_checksum.empty()) return false;
  auto intact = [&](const std::string& rel, std::uintmax_t bytes, const std::string& sum) {
    const fs::path p = dir / rel;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec) || fs::file_size(p, ec) != bytes || ec) return false;
    try {
      if (stamp_file(p).checksum != sum) return false;
      io::read_grid(p.string(), false);  // opens as a raster
    } catch (const Error&) {
      return false;
    }
    return true;
  };
  if (!intact(e.output, e.output_bytes, e.output_checksum)) return false;
  if (!e.quality.empty() && !intact(e.quality, e.quality_bytes, e.quality_checksum)) return false;
  return true;
}

void stamp_to_json(const FuseEntry& e, nlohmann::json& j) {
  j["output_bytes"] = e.output_bytes;
  j["output_checksum"] = e.output_checksum;
  j["quality_bytes"] = e.quality_bytes;
  j["quality_checksum"] = e.quality_checksum;
}

void stamp_from_json(const nlohmann::json& j, FuseEntry& e) {
  e.output_bytes = j.value("output_bytes", std::uintmax_t{0});
  e.output_checksum = j.value("output_checksum", "");
  e.quality_bytes = j.value("quality_bytes", std::uintmax_t{0});
  e.quality_checksum = j.value("quality_checksum", "");
}

}  // namespace lstfuse::pipeline
