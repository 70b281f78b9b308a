#include "lstfuse/pipeline/fill_catalog.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/kill_point.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fuse_resume.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFillJson = "fill.json";

fs::path canonical_dir(const fs::path& p) { return fs::weakly_canonical(fs::absolute(p)); }

// The files of a filled catalog in `dir` that lstfuse fill wrote.
std::vector<std::string> filled_catalog_own_files(const fs::path& dir) {
  std::vector<std::string> own = io::marked_own_files(dir, catalog_own_files(dir), {Catalog::kManifest});
  own.push_back(kFillJson);
  return own;
}

}  // namespace

std::vector<Date> fill_days(const Catalog& source, const FillCatalogOptions& opts) {
  const auto coarse = source.dates(Role::Coarse);
  if (coarse.empty()) throw file_error(source.root().string(), "the catalog has no coarse image to fill");
  const Date from = opts.from.value_or(coarse.front());
  const Date to = opts.to.value_or(coarse.back());
  if (to < from) throw Error(fmt::format("--to {} is before --from {}", to.iso(), from.iso()));
  if (to < coarse.front() || coarse.back() < from) {
    throw file_error(source.root().string(),
                     fmt::format("the period {} .. {} lies outside the catalog's coarse series ({} .. {})",
                                 from.iso(), to.iso(), coarse.front().iso(), coarse.back().iso()));
  }
  std::set<long> days;
  for (Date d = from; d <= to; d = d + 1) days.insert(d.days());
  for (const Date& d : opts.extra_dates) days.insert(d.days());
  std::vector<Date> out;
  for (long d : days) out.push_back(Date::from_days(d));
  return out;
}

nlohmann::json fill_settings(const Catalog& source, const FillCatalogOptions& opts) {
  const auto& f = opts.fill;
  nlohmann::json days = nlohmann::json::array();
  for (const Date& d : fill_days(source, opts)) days.push_back(d.iso());
  // The land-cover layer travels with the filled catalog: a layer changed since (re-ingested
  // with another --landcover) makes the filled copy stale too.
  nlohmann::json landcover = nullptr;
  if (const auto& lc = source.landcover()) {
    nlohmann::json classes = nlohmann::json::object();
    for (const auto& [code, name] : lc->classes) classes[std::to_string(code)] = name;
    std::error_code size_ec, time_ec;  // an unreadable layer fails later, where it is read
    const fs::path file = source.absolute(lc->path);
    const auto size = fs::file_size(file, size_ec);
    const auto time = fs::last_write_time(file, time_ec);
    landcover = {{"path", lc->path},
                 {"classes", classes},
                 {"bytes", size_ec ? 0 : static_cast<long long>(size)},
                 {"modified", time_ec ? 0 : static_cast<long long>(time.time_since_epoch().count())}};
  }
  return {{"source_catalog", canonical_dir(source.root()).string()},
          {"landcover", landcover},
          {"options",
           {{"harmonics", f.harmonics},
            {"min_clear_days", f.min_clear_days},
            {"cell", f.cell},
            {"sigma_cells", f.sigma_cells},
            {"window", f.window},
            {"min_clear_fraction", f.min_clear_fraction}}},
          {"days", days}};
}

std::optional<double> whole_day_fill_mean_square_error(const Catalog& catalog) {
  std::ifstream in(catalog.root() / kFillJson);
  if (!in) return std::nullopt;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    if (!j.contains("whole_day_check")) return std::nullopt;
    const double v = j.at("whole_day_check").at("mean_square_error").get<double>();
    if (!(std::isfinite(v) && v >= 0)) throw Error("not a variance");
    return v;
  } catch (const std::exception& e) {
    throw file_error((catalog.root() / kFillJson).string(), std::string("unreadable whole_day_check: ") + e.what());
  }
}

std::optional<Catalog> reuse_filled_catalog(const Catalog& source, const fs::path& out_dir,
                                            const FillCatalogOptions& opts) {
  if (!fs::exists(out_dir)) return std::nullopt;
  const fs::path fj = out_dir / kFillJson;
  std::ifstream in(fj);
  if (!in) throw file_error(out_dir.string(), "exists but was not made by lstfuse fill (no fill.json)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(fj.string(), std::string("malformed: ") + e.what());
  }
  nlohmann::json stored = j.value("settings", nlohmann::json());
  const nlohmann::json wanted = fill_settings(source, opts);
  // A catalog moved since (another disk, another mount point on a cluster's nodes) is the same
  // catalog when its manifest and file sizes are: the copy is self-contained, so only the path
  // it records differs.
  const std::string source_fingerprint = catalog_fingerprint(source);
  const bool same_source = j.contains("source_fingerprint") && j["source_fingerprint"] == source_fingerprint;
  if (same_source && stored.is_object() && stored.value("source_catalog", nlohmann::json()) != wanted["source_catalog"]) {
    spdlog::info("{}: filled from the catalog at {}; {} has the same manifest and file sizes, so the copy is reused",
                 out_dir.string(), stored.value("source_catalog", nlohmann::json()).dump(), source.root().string());
    stored["source_catalog"] = wanted["source_catalog"];
  }
  // A copy without -t (cp -r, rsync -r) changes the land-cover layer's time, not its size, which
  // the fingerprint holds.
  if (same_source && stored.is_object() && stored.contains("landcover") && stored["landcover"].is_object() &&
      wanted["landcover"].is_object())
    stored["landcover"]["modified"] = wanted["landcover"]["modified"];
  if (stored != wanted) {
    nlohmann::json a = stored, b = wanted;
    if (a.is_object()) a.erase("landcover");
    b.erase("landcover");
    const std::string why = a == b ? "was filled with another land-cover layer of the catalog (or none); "
                                     "use another output folder or --overwrite"
                                   : "holds coarse images filled from another catalog or with other fill "
                                     "options or dates; use another output folder or --overwrite";
    throw FilledCatalogMismatch(out_dir.string() + ": " + why);
  }
  // A folder filled before the catalog's files changed (re-ingested, an image replaced) holds
  // stale images under the same settings. Folders of older versions carry no fingerprint.
  if (j.contains("source_fingerprint") && !same_source) {
    throw FilledCatalogMismatch(out_dir.string() + ": filled from the catalog before its manifest.json or one of "
                                                   "its files changed; use another output folder or --overwrite");
  }
  Catalog filled = Catalog::load(out_dir);
  if (j.contains("fingerprint") && j["fingerprint"] != nlohmann::json(catalog_fingerprint(filled))) {
    throw FilledCatalogMismatch(out_dir.string() + ": its manifest.json or one of its files changed since it was "
                                                   "filled; use another output folder or --overwrite");
  }
  if (!j.contains("whole_day_check")) {
    spdlog::info("{}: filled by an earlier lstfuse, without the check of days filled whole; their uncertainty "
                 "follows the older rule (--overwrite fills it again with the check)", out_dir.string());
  }
  return filled;
}

Catalog fill_catalog(const Catalog& source, const fs::path& out_dir, const FillCatalogOptions& opts,
                     FillSummary* summary_out) {
  opts.fill.validate();
  // Filling it again would find nothing to fill and write every pixel as observed: the flags of
  // what was filled would be lost.
  if (fs::exists(source.root() / kFillJson)) {
    throw file_error(source.root().string(), "is already a filled catalog (made by 'lstfuse fill'); use it as it "
                                             "is, or fill the catalog it was made from");
  }
  const fs::path out = out_dir;
  if (fs::exists(out) && canonical_dir(out) == canonical_dir(source.root())) {
    throw file_error(out.string(), "is the source catalog; write the filled catalog to another folder");
  }
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out))) {
    if (!(opts.overwrite && fs::exists(out / kFillJson))) {
      throw file_error(out.string(), opts.overwrite
                                         ? "is not a folder made by lstfuse fill; not overwriting it"
                                         : "already exists and is not empty (choose another folder or use --overwrite)");
    }
  }
  if (fs::is_symlink(out)) {
    throw file_error(out.string(), "is a symbolic link; give the folder it leads to or a new folder");
  }
  // --overwrite replaces the filled catalog, not what the user put beside its files.
  if (fs::is_directory(out) && !fs::is_empty(out)) {
    if (const auto f = foreign_entry(out, filled_catalog_own_files(out))) {
      throw file_error(out.string(), "holds " + f->string() + ", which 'lstfuse fill' did not make; --overwrite "
                                     "replaces only a filled catalog's own files: move it out or choose another folder");
    }
  }
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) throw file_error(out.string(), "its parent folder does not exist");
  const std::vector<Date> days = fill_days(source, opts);
  const std::string source_fingerprint = catalog_fingerprint(source);

  // The files the filled catalog takes over from the source, checked before the fit: a missing
  // or broken one is named as the catalog's file, at once, not found later in the filled copy.
  {
    auto check = [&](const std::string& rel) {
      const std::string path = source.absolute(rel).string();
      if (!fs::exists(source.absolute(rel))) throw file_error(path, "listed in the catalog but missing");
      const Grid g = io::read_grid(path, false);
      if (g.width != source.grid().width || g.height != source.grid().height) {
        throw file_error(path, fmt::format("is {} x {} pixels, the catalog's grid {} x {}", g.width, g.height,
                                           source.grid().width, source.grid().height));
      }
    };
    std::set<long> written;
    for (const Date& d : days) written.insert(d.days());
    if (const auto& lc = source.landcover()) check(lc->path);
    for (const Observation& o : source.observations()) {
      if (o.role == Role::Coarse && written.count(o.date.days())) continue;
      check(o.path);
      if (!o.quality_path.empty()) check(o.quality_path);
    }
  }

  // Fit on the whole coarse series, whatever the output period.
  prep::FillSource src;
  src.grid = source.grid();
  src.dates = source.dates(Role::Coarse);
  std::vector<Observation> obs;
  for (const Date& d : src.dates) obs.push_back(*source.find(d, Role::Coarse));
  src.read_window = [&](size_t i, int x0, int y0, int w, int h) {
    return io::load_observation_window(source, obs[i], x0, y0, w, h);
  };
  prep::FillOptions fo = opts.fill;
  fo.show_progress = opts.show_progress;
  spdlog::info("fill: fitting the temperature cycles of {} coarse images", src.dates.size());
  const prep::GapFiller filler(src, fo);

  FillSummary summary;
  // Built whole beside the folder and moved into place when complete (core/files.hpp): an
  // interruption leaves the earlier filled catalog, or nothing.
  build_folder_atomically(out, "fill", "the filled catalog", [&](const fs::path& tmp) {
    fs::create_directories(tmp / "coarse");
    Catalog cat(tmp);
    cat.set_grid(source.grid());
    // Fine and truth entries (and coarse images outside the written days) are the source's
    // files, linked into the new catalog (copied where links are not possible): a catalog's
    // paths stay inside its folder.
    auto bring = [&](const std::string& rel) {
      const fs::path dst = tmp / rel;
      fs::create_directories(dst.parent_path());
      std::error_code ec;
      fs::create_hard_link(source.absolute(rel), dst, ec);
      if (ec) fs::copy_file(source.absolute(rel), dst, fs::copy_options::overwrite_existing);
    };
    const std::set<long> written_days = [&] {
      std::set<long> s;
      for (const Date& d : days) s.insert(d.days());
      return s;
    }();
    // The land-cover layer too: the uncertainty of a filled run is learned on this catalog and
    // describes its errors per class.
    if (const auto& lc = source.landcover()) {
      bring(lc->path);
      cat.set_landcover(*lc);
    }
    for (Observation o : source.observations()) {
      if (o.role == Role::Coarse && written_days.count(o.date.days())) continue;
      bring(o.path);
      if (!o.quality_path.empty()) bring(o.quality_path);
      cat.add(o);
    }
    std::string sensor = obs.front().sensor;
    ProgressBar bar("fill: writing", static_cast<long>(days.size()), opts.show_progress);
    long n = 0;
    for (const Date& d : days) {
      FillDayRecord rec;
      rec.date = d;
      const auto o = source.find(d, Role::Coarse);
      rec.had_image = o.has_value();
      if (o) sensor = o->sensor;
      const auto kind = filler.residual_kind(d);
      rec.residual = prep::to_string(kind);
      if (!o && kind == prep::ResidualKind::None) {
        ++summary.not_fillable;
        summary.days.push_back(rec);
        bar.update(++n, d.iso() + " (no clear data within the window)");
        continue;
      }
      Raster observed;
      if (o) observed = io::load_observation(source, *o);
      const prep::FilledDay f = filler.fill(d, o ? &observed : nullptr);
      if (f.lst.valid_count(0) == 0) {  // a whole-scene cloud far from clear data: left out too
        rec.residual = prep::to_string(prep::ResidualKind::None);
        ++summary.not_fillable;
        summary.days.push_back(rec);
        bar.update(++n, d.iso() + " (no clear data within the window)");
        continue;
      }
      rec.observed_fraction = f.observed_fraction;
      rec.filled_fraction = f.filled_fraction;
      Observation fo_obs;
      fo_obs.date = d;
      fo_obs.role = Role::Coarse;
      fo_obs.sensor = sensor + "+filled";
      fo_obs.source = o ? source.absolute(o->path).string() : "";
      fo_obs.units = "K";
      fo_obs.path = "coarse/coarse_" + d.compact() + ".tif";
      fo_obs.quality_path = "coarse/coarse_" + d.compact() + "_filled.tif";
      fo_obs.valid_fraction = f.lst.valid_fraction();
      io::WriteOptions wo;
      wo.format = opts.format;
      wo.user_options = opts.creation_options;
      wo.metadata = {{"LSTFUSE_DATE", d.iso()},
                     {"LSTFUSE_GAP_FILL", fmt::format("ATC + {} residual", rec.residual)},
                     {"UNITS", "K"}};
      io::write_raster((tmp / fo_obs.path).string(), f.lst, wo);
      io::WriteOptions qo;
      qo.format = opts.format;
      qo.user_options = opts.creation_options;
      qo.data_type = "Byte";
      qo.nodata = 255;
      qo.metadata = {{"LSTFUSE_DATE", d.iso()}, {"LSTFUSE_QUALITY_BANDS", "coarse_filled"}};
      io::write_raster((tmp / fo_obs.quality_path).string(), f.filled, qo);
      cat.add(fo_obs);
      rec.written = true;
      ++summary.written;
      if (!o) ++summary.synthesized;
      summary.days.push_back(rec);
      kill_point("day-filled");
      bar.update(++n, d.iso());
    }
    bar.finish(fmt::format("{} coarse images ({} for days without one), {} days not fillable",
                           summary.written, summary.synthesized, summary.not_fillable));
    cat.save();
    nlohmann::json j;
    j["format"] = "lstfuse-fill";
    j["version"] = 1;
    j["lstfuse_version"] = LSTFUSE_VERSION;
    j["settings"] = fill_settings(source, opts);
    // The source's manifest and file sizes as filled: settings name the dates, not the data.
    j["source_fingerprint"] = source_fingerprint;
    // And its own (manifest and file sizes): a file of the copy replaced or cut short since.
    j["fingerprint"] = catalog_fingerprint(cat);
    j["method"] = "per-pixel annual temperature cycle + spatially interpolated daily residual "
                  "(docs/gap-filling.md)";
    j["model"] = filler.model().describe();
    nlohmann::json recs = nlohmann::json::array();
    for (const auto& r : summary.days) {
      recs.push_back({{"date", r.date.iso()}, {"had_image", r.had_image}, {"residual", r.residual},
                      {"observed_fraction", r.observed_fraction}, {"filled_fraction", r.filled_fraction}});
    }
    j["days"] = recs;
    // How well a day without any clear pixel is filled, checked on the days that had some: the
    // uncertainty of a fused day filled whole is built on it (docs/uncertainty.md).
    const double wd = filler.whole_day_mean_square_error();
    if (std::isfinite(wd)) {
      j["whole_day_check"] = {{"checks", filler.whole_day_checks().size()},
                              {"whole_days", filler.whole_days_checked()},
                              {"mean_square_error", wd}};
      if (filler.whole_days_checked()) {
        spdlog::info("fill: a day filled whole misses its scene mean by {:.2f} K rms ({} checks on days with clear "
                     "pixels, at the gaps of the {} days the series leaves without one)",
                     std::sqrt(wd), filler.whole_day_checks().size(), filler.whole_days_checked());
      } else {
        spdlog::info("fill: a day filled whole would miss its scene mean by {:.2f} K rms ({} days with clear pixels "
                     "filled again from their neighbours)", std::sqrt(wd), filler.whole_day_checks().size());
      }
    }
    write_text_atomic(tmp / kFillJson, j.dump(2) + "\n");
  });
  if (summary_out) *summary_out = summary;
  return Catalog::load(out);
}

}  // namespace lstfuse::pipeline
