#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/fuse.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/kill_point.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"
#include "lstfuse/pipeline/fuse_cube.hpp"
#include "lstfuse/pipeline/fuse_work.hpp"
#include "lstfuse/pipeline/fuse_resume.hpp"
#include "lstfuse/pipeline/fuse_tiles.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/reference_fill.hpp"
#include "lstfuse/pipeline/registry.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

std::string join_dates(const std::vector<Date>& ds, const char* sep) {
  std::string s;
  for (const auto& d : ds) s += (s.empty() ? "" : sep) + d.iso();
  return s;
}

nlohmann::json json_num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double num_of(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::numeric_limits<double>::quiet_NaN();
}
std::string csv_num(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : std::string(); }

nlohmann::json entry_json(const FuseEntry& e) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& d : e.pairs) pairs.push_back(d.iso());
  nlohmann::json j = {{"date", e.date.iso()}, {"status", e.status},     {"output", e.output},
                      {"quality", e.quality}, {"pairs", pairs},         {"model", e.model},
                      {"note", e.note},       {"seconds", e.seconds},   {"valid_fraction", e.valid_fraction},
                      {"consistency_ubrmse", json_num(e.consistency_ubrmse)},
                      {"consistency_bias", json_num(e.consistency_bias)},
                      {"mean_uncertainty", json_num(e.mean_uncertainty)}};
  stamp_to_json(e, j);
  return j;
}

FuseEntry entry_from_json(const nlohmann::json& j) {
  FuseEntry e;
  e.date = Date::parse(j.at("date").get<std::string>());
  e.status = j.value("status", "");
  e.output = j.value("output", "");
  e.quality = j.value("quality", "");
  for (const auto& p : j.value("pairs", nlohmann::json::array())) e.pairs.push_back(Date::parse(p.get<std::string>()));
  e.model = j.value("model", "");
  e.note = j.value("note", "");
  e.seconds = j.value("seconds", 0.0);
  e.valid_fraction = j.value("valid_fraction", 0.0);
  stamp_from_json(j, e);
  e.consistency_ubrmse = num_of(j, "consistency_ubrmse");
  e.consistency_bias = num_of(j, "consistency_bias");
  e.mean_uncertainty = num_of(j, "mean_uncertainty");
  return e;
}


// `pending`: files of an earlier run to remove once this run has succeeded, kept in the index
// so that a run killed before then leaves the task to the next one.
void write_index(const fs::path& dir, const Catalog& catalog, const Method& method,
                 const std::vector<FuseEntry>& entries, const FuseOptions& opts,
                 const std::set<std::string>& pending) {
  nlohmann::json j;
  j["format"] = "lstfuse-fuse-index";
  j["version"] = 1;
  j["lstfuse_version"] = LSTFUSE_VERSION;
  j["catalog"] = fs::absolute(catalog.root()).string();
  j["method"] = method.info().name;
  j["options"] = method.options().to_json();
  j["run"] = fuse_run_settings(opts);
  if (!pending.empty()) j["pending_removal"] = pending;
  j["entries"] = nlohmann::json::array();
  std::string csv = "date,status,output,quality,pairs,model,seconds,valid_fraction,"
                    "consistency_ubrmse,consistency_bias,mean_uncertainty,note\n";
  for (const auto& e : entries) {
    j["entries"].push_back(entry_json(e));
    std::string note = e.note;
    for (char& c : note)
      if (c == ',' || c == '\n') c = ';';
    csv += fmt::format("{},{},{},{},{},{},{:.3f},{:.4f},{},{},{},{}\n", e.date.iso(), e.status, e.output,
                       e.quality, join_dates(e.pairs, " "), e.model, e.seconds, e.valid_fraction,
                       csv_num(e.consistency_ubrmse), csv_num(e.consistency_bias),
                       csv_num(e.mean_uncertainty), note);
  }
  write_text_atomic(dir / "index.json", j.dump(2) + "\n");
  write_text_atomic(dir / "index.csv", csv);
}

// What fuse --fill asks of the filler: the period, and the pair dates whatever the period.
FillCatalogOptions fuse_fill_options(const Catalog& source, const FuseOptions& opts) {
  FillCatalogOptions fo;
  fo.fill = opts.fill_options;
  fo.from = opts.from;
  fo.to = opts.to;
  fo.extra_dates = source.pair_dates();
  fo.show_progress = opts.show_progress;
  return fo;
}

// The catalog the dates are predicted from: the source, or with --fill its filled copy inside the
// output folder (reused when made with the same settings; with --overwrite, filled again when
// not, and then `refilled` is set).
Catalog working_catalog(const Catalog& source, const FuseOptions& opts, bool catalog_changed, bool& refilled) {
  refilled = false;
  if (!opts.fill) return source;
  FillCatalogOptions fo = fuse_fill_options(source, opts);
  const fs::path dir = opts.out_dir / "filled-coarse";
  try {
    // The fill settings name the catalog's dates, not its data: a catalog whose files changed
    // since the earlier run (which --overwrite redoes) is filled again too.
    if (catalog_changed && opts.overwrite && fs::exists(dir / "fill.json"))
      throw FilledCatalogMismatch(dir.string() + ": filled from the catalog before its files changed");
    if (auto reused = reuse_filled_catalog(source, dir, fo)) return *reused;
  } catch (const FilledCatalogMismatch& e) {
    if (!opts.overwrite) throw;
    // Only a single process refills: ranks and shards would race on the folder.
    if (opts.work) {
      throw file_error(dir.string(), "holds coarse images filled with other settings; a shared run (MPI, --shard) "
                                     "cannot fill them again: use a new output folder, or run 'lstfuse fuse "
                                     "--overwrite' once without sharing");
    }
    spdlog::info("{}; filling it again (--overwrite)", e.what());
    fo.overwrite = true;
    refilled = true;
  }
  return fill_catalog(source, dir, fo);
}

// A run into a folder that did not exist (or was empty) and that fails before any date is
// written leaves nothing behind: the index it started, the filled catalog, models. Only those
// names of fuse's own are removed (a log file the user writes into the folder stays), and the
// folder itself only when this run made it and it is empty then. Once a date's files or a stored
// tile exist the folder is a resumable run and stays. An interruption (SIGINT) exits without
// unwinding, so an interrupted first run also stays ours to resume; a folder still empty then
// (interrupted while filling the coarse series) is removed by the signal's cleanup.
struct FolderBefore {
  bool fresh = false;    // absent, or an empty folder (not a link)
  bool existed = false;
  explicit FolderBefore(const fs::path& dir) {
    std::error_code ec;
    const auto st = fs::symlink_status(dir, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return;
    if (!fs::exists(st)) {
      fresh = true;
      return;
    }
    existed = true;
    fresh = fs::is_directory(st) && fs::is_empty(dir, ec) && !ec;
  }
};

class FreshFolderGuard {
 public:
  FreshFolderGuard(fs::path dir, const FolderBefore& before, bool armed)
      : dir_(std::move(dir)), existed_(before.existed), fresh_(before.fresh), armed_(armed && before.fresh) {
    if (armed_ && !existed_) register_new_folder(dir_);  // a signal while filling: no empty folder
  }
  // An MPI run's first rank, once every rank is done: the run's folder is as a single process's.
  void arm_after_every_process() { armed_ = fresh_; }
  ~FreshFolderGuard() {
    if (armed_ && !existed_) unregister_new_folder(dir_);
    if (armed_ && nothing_predicted()) clear();
  }
  FreshFolderGuard(const FreshFolderGuard&) = delete;
  FreshFolderGuard& operator=(const FreshFolderGuard&) = delete;

 private:
  void clear() const {
    std::error_code ec;
    for (const char* name : {"index.json", "index.csv", "filled-coarse", "models", kUncertaintyModelFile,
                             kItemsFolder, kTilesFolder})
      fs::remove_all(dir_ / name, ec);
    if (!existed_ && fs::is_empty(dir_, ec) && !ec) fs::remove(dir_, ec);
  }
  // False on any doubt (a folder that cannot be listed keeps everything).
  bool nothing_predicted() const {
    std::error_code ec;
    fs::directory_iterator it(dir_, ec), end;
    if (ec) return false;
    for (; it != end; it.increment(ec)) {
      if (ec) return false;
      const std::string name = it->path().filename().string();
      if (name.rfind("lst_", 0) == 0) return false;
      if (name == kTilesFolder && !fs::is_empty(it->path(), ec)) return false;
    }
    return !ec;
  }

  fs::path dir_;
  bool existed_ = false, fresh_ = false, armed_ = false;
};

}  // namespace

std::vector<Date> fuse_targets(const Catalog& catalog, const FuseOptions& opts, const Catalog* given_source) {
  std::vector<Date> out;
  if (opts.fill) {
    const Catalog& source = given_source ? *given_source : catalog;
    // The days the filler fills without a fine image. The filled catalog lacks the days the
    // filler could not fill: those are listed (no data) rather than left out.
    if (source.dates(Role::Coarse).empty()) return out;
    for (const Date& d : fill_days(source, fuse_fill_options(source, opts)))
      if (!source.find(d, Role::Fine)) out.push_back(d);
    return out;
  }
  for (const Date& d : catalog.coarse_only_dates()) {
    if (opts.from && d < *opts.from) continue;
    if (opts.to && d > *opts.to) continue;
    out.push_back(d);
  }
  return out;
}

FuseSummary fuse(const Catalog& source, Method& method, const FuseOptions& given) {
  FuseOptions opts = given;
  opts.catalog_fingerprint = catalog_fingerprint(source);
  method.check_options();
  const MethodInfo& info = method.info();
  // A given model that cannot predict on this catalog's grid failed every date, one warning
  // each, after the coarse series was filled: asked once, before any work, of a copy (the
  // method itself loads the model where the run's options are settled).
  if (!opts.model.empty()) {
    auto probe = method_registry().create(info.name);
    probe->load(opts.model);
    try {
      probe->check_grid(source.grid());
    } catch (const Error& e) {
      throw file_error(opts.model.string(), e.what());
    }
  }
  if (opts.from && opts.to && *opts.to < *opts.from) {
    throw Error(fmt::format("--to {} is before --from {}", opts.to->iso(), opts.from->iso()));
  }
  // The output folder is checked against the source catalog before anything is written into
  // it (the filled copy of the catalog lives inside it, as fuse's own).
  FuseWork* work = opts.work;  // null: this process does every date (fuse_work.hpp)
  {
    std::error_code ec;  // creating the folder through it failed with "File exists"
    if (fs::is_symlink(fs::symlink_status(opts.out_dir, ec)) && !fs::exists(opts.out_dir, ec))
      throw file_error(opts.out_dir.string(), "-o is a symbolic link to nothing: give a folder or a new path");
  }
  if (work) work->before_prepare(opts.out_dir);
  // A first run killed (SIGKILL, a cluster's time limit) while filling left only the hidden
  // build folder of OUT/filled-coarse: gone, the folder is new again. A single process only:
  // the process check is this machine's.
  if (opts.fill && !work) remove_stale_build_folders(opts.out_dir / "filled-coarse", "fill");
  const FolderBefore before(opts.out_dir);
  // The files of an earlier run that this one is to remove once it has succeeded: with
  // --overwrite, the per-date files and the cube its index lists (from other settings: the index
  // would call their dates undone while they stay under the usual names); always, what an
  // earlier run killed before its end had left pending.
  std::set<std::string> earlier_files;
  {
    std::ifstream in(opts.out_dir / "index.json");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    const auto add = [&](const nlohmann::json& name) {
      if (!name.is_string()) return;
      const fs::path rel = fs::path(name.get<std::string>()).lexically_normal();
      if (!rel.empty() && !rel.has_parent_path() && rel.is_relative() && rel.string() != "..")
        earlier_files.insert(rel.string());
    };
    if (j.is_object() && j.value("format", std::string()) == kFuseIndexFormat) {
      if (j.contains("pending_removal") && j["pending_removal"].is_array())
        for (const auto& name : j["pending_removal"]) add(name);
      if (opts.overwrite && !work && j.contains("entries") && j["entries"].is_array()) {
        for (const auto& e : j["entries"])
          for (const char* key : {"output", "quality"})
            if (e.is_object() && e.contains(key)) add(e[key]);
        if (j.contains("method") && j["method"].is_string())
          add(fmt::format("lst_{}.nc", j["method"].get<std::string>()));
      }
    }
  }
  bool learned_stale = false, catalog_changed = false;
  auto previous = read_resumable_index(source, method, opts, entry_from_json, learned_stale, &catalog_changed);
  // From here the folder is fuse's own (or new). Shared runs (ranks, shards) are left as they
  // are: other processes, perhaps on other machines, may be writing.
  FreshFolderGuard fresh_folder(opts.out_dir, before, !work);
  if (!work) remove_stale_temporaries_in(opts.out_dir);
  // Items finished by any process of an earlier run (MPI ranks, shards) count as done too.
  const std::string run_key = fuse_run_key(method, opts);
  for (const auto& [day, j] : read_item_records(opts.out_dir, run_key)) previous[day] = entry_from_json(j);
  // Files the earlier run's index lists: its own, redone when damaged.
  std::set<std::string> listed;
  for (const auto& [day, e] : previous) listed.insert({e.output, e.quality});
  // Too few pairs fails every date alike: said once, before filling or writing anything.
  if (const auto why = too_few_pairs(source, info, opts.fill)) throw Error(*why);
  // The cube is written over only when it is one fuse wrote: refused before any work.
  if (opts.format == "netCDF") {
    const fs::path cube = opts.out_dir / fmt::format("lst_{}.nc", info.name);
    std::error_code ec;
    const auto st = fs::symlink_status(cube, ec);
    if (fs::exists(st) && (fs::is_symlink(st) || !fs::is_regular_file(st) ||
                           io::raster_metadata_item(cube.string(), "NC_GLOBAL#source").rfind("lstfuse ", 0) != 0))
      throw file_error(cube.string(), "exists and is not a cube lstfuse fuse wrote; lstfuse does not write over it "
                                      "(move it away)");
  }
  // A file the manifest lists and that is gone fails every date that reads it, each with a
  // warning: named once, before any work.
  for (const Observation& o : source.observations())
    for (const std::string* rel : {&o.path, &o.quality_path})
      if (!rel->empty() && !fs::exists(source.absolute(*rel)))
        throw file_error(source.absolute(*rel).string(), "listed in the catalog but missing");
  catalog_landcover(source);  // a land-cover layer off the catalog grid: refused before any work
  if (opts.fill) fs::create_directories(opts.out_dir);
  bool refilled = false;
  const Catalog catalog = working_catalog(source, opts, catalog_changed, refilled);
  const auto targets = fuse_targets(catalog, opts, &source);
  if (targets.empty()) {
    throw Error(fmt::format("{}: no coarse-only date in the range {} .. {} (dates with a fine "
                            "image are observed, not predicted)",
                            source.root().string(), opts.from ? opts.from->iso() : "start",
                            opts.to ? opts.to->iso() : "end"));
  }
  // What the earlier run learned goes only now, once this run has passed its checks: a run
  // refused before here leaves the earlier one whole.
  if (learned_stale || refilled) discard_learned_products(opts.out_dir, opts.model);
  if (refilled) {  // every date and what was learned from the old filled catalog is redone
    previous.clear();
    // Tiles and item records carry a run key without the fill options: from the old filling.
    std::error_code ec;
    fs::remove_all(opts.out_dir / kTilesFolder, ec);
    fs::remove_all(opts.out_dir / kItemsFolder, ec);
  }
  fs::create_directories(opts.out_dir);
  // A fresh (or redone) folder gets its index at once: an interrupted first run stays ours.
  if (previous.empty() && (!work || work->prepares())) write_index(opts.out_dir, catalog, method, {}, opts, earlier_files);
  // Dates an earlier run finished outside this run's period (a run over part of the period, or
  // another part) stay in the index and the cube: their files stay, and the index lists them.
  std::vector<FuseEntry> kept;
  {
    std::set<long> now;
    for (const Date& d : targets) now.insert(d.days());
    for (const auto& [day, e] : previous)
      if (!now.count(day) && e.status == "done") kept.push_back(e);
  }
  const fs::path model_dir = opts.out_dir / "models";

  // Trainable methods: the model for a set of pair dates is trained once and saved; a re-run
  // loads it instead of training again.
  std::string loaded_key;
  if (!opts.model.empty()) {
    method.load(opts.model);
    loaded_key = "given";
  }
  auto ensure_model = [&](const std::vector<Date>& pair_dates) -> std::string {
    if (!info.trainable) return "";
    if (!opts.model.empty()) return opts.model.string();
    std::vector<Date> train_dates = pair_dates;
    std::string key;
    if (opts.series) {
      train_dates = catalog.pair_dates();
      key = "series";
    } else {
      key = join_dates(pair_dates, "_");
    }
    const fs::path rel = fs::path("models") / fmt::format("{}_{}.lstmodel", info.name, key);
    if (loaded_key == key) return rel.string();
    const fs::path path = opts.out_dir / rel;
    if (fs::exists(path)) {
      method.load(path);
    } else {
      fs::create_directories(model_dir);
      FitContext ctx;
      ctx.checkpoint_dir = model_dir / fmt::format("{}_{}.checkpoints", info.name, key);
      ctx.resume = true;
      ctx.show_progress = opts.show_progress;
      spdlog::info("training {} on pairs {}", info.name, join_dates(train_dates, ", "));
      method.fit(load_pairs(catalog, train_dates), ctx);
      // Unique per process: shards that train the same model at once never share a file.
      const fs::path tmp = fmt::format("{}.{}.part", path.string(), ::getpid());
      method.save(tmp);
      fs::rename(tmp, path);
      std::error_code ec;
      fs::remove_all(ctx.checkpoint_dir, ec);
      // Predict with the model as read back, as a resumed run or another process does.
      method.load(path);
    }
    loaded_key = key;
    return rel.string();
  };
  // Shared runs: every model is trained once, before any item, by the preparing process.
  if (work && work->prepares() && work->works()) pretrain_models(catalog, info, targets, previous, ensure_model);

  const bool bias_step = coarse_bias_enabled(opts.coarse_bias, info);
  const CoarseBiasStep bias(catalog);
  // A day's input as the method sees it (after the bias step). The pairs are read once for the
  // run of days that uses them.
  PairCache pair_cache(catalog);
  auto load_date = [&](const Date& date, const std::vector<Date>& pair_dates) {
    DatePrediction dp;
    dp.input = pair_cache.load_input(date, pair_dates);
    if (bias_step) dp.coarse_bias = bias.apply(dp.input, {date}).value;
    return dp;
  };
  // Holes the chosen pairs leave are predicted from farther pairs; then the fill flags.
  auto finish_prediction = [&](const Date& date, DatePrediction& dp) {
    const ReferenceFill rf = fill_reference_gaps(catalog, method, dp.input, dp.result, opts.max_reference_steps,
                                                 [&](const std::vector<Date>& d) { ensure_model(d); });
    append_quality_band(dp.result, "coarse_filled", coarse_filled_flags(catalog, date));
    dp.note = rf.note();
  };
  // One day as fuse predicts it; the uncertainty's leave-one-out predictions go through it too
  // (the bias model never sees the predicted date's own pair).
  auto predict_date = [&](const Date& date, const std::vector<Date>& pair_dates) {
    ensure_model(pair_dates);
    DatePrediction dp = load_date(date, pair_dates);
    dp.result = method.predict(dp.input);
    finish_prediction(date, dp);
    return dp;
  };
  FuseSummary summary;
  auto index_entries = [&]() {
    std::vector<FuseEntry> all = summary.entries;
    all.insert(all.end(), kept.begin(), kept.end());
    std::stable_sort(all.begin(), all.end(), [](const FuseEntry& a, const FuseEntry& b) { return a.date < b.date; });
    return all;
  };
  std::optional<eval::UncertaintyModel> uncertainty;
  // Processes that did not prepare the folder only read the model: where the preparing one
  // could not learn it, learning it again would fail the same way, at the same cost.
  const bool learns = !work || work->prepares() || fs::exists(opts.out_dir / kUncertaintyModelFile);
  if (opts.uncertainty && !learns) summary.uncertainty_note = "no uncertainty band (see the preparing process)";
  if (opts.uncertainty && learns) {
    UncertaintyOptions uo;
    uo.max_dates = opts.uncertainty_dates;
    uo.fine_noise_sd = opts.fine_noise_sd;
    uo.show_progress = opts.show_progress;
    uncertainty = uncertainty_for_fuse(catalog, info, predict_date, opts.out_dir, uo, summary.uncertainty_note);
  }
  if (work) work->after_prepare();
  auto record = [&](const FuseEntry& e) {
    if (work) write_item_record(opts.out_dir, e.date, run_key, entry_json(e));
  };
  const auto landcover = catalog_landcover(catalog);
  // The day's scores, its uncertainty band and its files, from its finished prediction.
  auto write_date = [&](FuseEntry& e, DatePrediction& dp, const PairChoice& choice) {
    const FusionResult& res = dp.result;
    if (bias_step) e.note += fmt::format("; coarse bias {:.2f} K removed", dp.coarse_bias);
    if (!dp.note.empty()) e.note += "; " + dp.note;
    const DayQuality dq = add_day_quality(dp.input, dp.result, uncertainty ? &*uncertainty : nullptr,
                                          landcover ? &*landcover : nullptr);
    e.consistency_ubrmse = dq.consistency.ubrmse;
    e.consistency_bias = dq.consistency.bias;
    e.mean_uncertainty = dq.mean_uncertainty;
    io::WriteOptions wo;
    wo.format = opts.format == "netCDF" ? "COG" : opts.format;
    wo.user_options = opts.creation_options;
    wo.metadata = {{"LSTFUSE_METHOD", info.name},
                   {"LSTFUSE_DATE", e.date.iso()},
                   {"LSTFUSE_PAIRS", join_dates(choice.dates, ",")},
                   {"UNITS", "K"}};
    // Only a file fuse wrote for this date and method (or one its index lists) is written over;
    // any other of that name (a user's, in this folder) is kept.
    // A file the index lists is redone when damaged (it does not open), but one that opens as a
    // raster without lstfuse's mark is someone else's, whatever a hand-edited index says.
    auto foreign_raster = [](const fs::path& p) {
      if (io::is_lstfuse_raster(p.string())) return false;
      try {
        io::read_grid(p.string(), false);
        return true;
      } catch (const Error&) {
        return false;
      }
    };
    for (const std::string& name : {e.output, res.quality.empty() ? std::string() : e.quality}) {
      const fs::path p = opts.out_dir / name;
      std::error_code ec;
      if (!name.empty() && fs::exists(p, ec) &&
          (listed.count(name) ? foreign_raster(p)
                              : (io::raster_metadata_item(p.string(), "LSTFUSE_DATE") != e.date.iso() ||
                                 io::raster_metadata_item(p.string(), "LSTFUSE_METHOD") != info.name))) {
        throw file_error(p.string(), fmt::format("exists and is not what lstfuse fuse wrote for {} with {}; "
                                                 "lstfuse does not write over it (move it away)",
                                                 e.date.iso(), info.name));
      }
    }
    // Quality first: the prediction's existence marks a finished date.
    if (!res.quality.empty()) {
      io::WriteOptions qo = wo;
      qo.deflate_level = 1;  // as every quality layer (quality_write_options)
      qo.metadata.emplace_back("LSTFUSE_QUALITY_BANDS", [&] {
        std::string s;
        for (const auto& b : res.quality.band_names) s += (s.empty() ? "" : ",") + b;
        return s;
      }());
      io::write_raster((opts.out_dir / e.quality).string(), res.quality, qo);
    } else {
      e.quality.clear();
    }
    io::write_raster((opts.out_dir / e.output).string(), res.fine, wo);
    e.valid_fraction = res.fine.valid_fraction();
    stamp_entry(opts.out_dir, e);
    e.status = "done";
  };
  auto new_entry = [&](const Date& date) {
    FuseEntry e;
    e.date = date;
    const std::string stem = fmt::format("lst_{}_{}", info.name, date.compact());
    e.output = stem + ".tif";
    e.quality = stem + "_quality.tif";
    return e;
  };
  auto seconds_since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // One date's entry, whether predicted whole or assembled from tiles: its pairs, note and model,
  // then `produce` (the prediction) and the files; an Error fails this date only.
  auto fuse_entry = [&](const Date& date, const std::function<DatePrediction(const PairChoice&)>& produce) {
    FuseEntry e = new_entry(date);
    try {
      const PairChoice choice = choose_pairs(catalog, date, info);
      e.pairs = choice.dates;
      e.note = choice.note;
      e.model = ensure_model(choice.dates);
      DatePrediction dp = produce(choice);
      write_date(e, dp, choice);
      ++summary.done;
    } catch (const Error& err) {
      e.status = "failed";
      e.note = err.what();
      e.output.clear();  // a failed date's files are not its result, whatever was written
      e.quality.clear();
      ++summary.failed;
      spdlog::warn("{}: {}", date.iso(), err.what());
    }
    return e;
  };

  // Spatial tiles as items (--work-tile): every date is cut the same way by every process.
  const std::vector<TileRect> tiles = work_tiles(catalog.grid(), method, opts.work_tile);
  const long n_tiles = static_cast<long>(tiles.size());
  const bool tiled = n_tiles > 1;
  // Shards or ranks given different --work-tile store their tiles under the same names and each
  // takes the other's for not done: said when a process starts, not only by --assemble at the end.
  // Said by each shard, and by rank 0 alone (its ranks share one command line).
  if (work && work->works() && work->prepares()) {
    const std::string other = other_tiling_note(opts.out_dir, run_key, tiles);
    if (!other.empty()) spdlog::warn("{}; those tiles are predicted again", other);
  }
  // The input of the date this process last predicted a tile of: the tiles of a date mostly
  // come to a process one after another (in order in a plain run, interleaved among ranks and
  // shards), and reading and correcting the whole input again for each would cost more than
  // many a tile's prediction.
  std::optional<DatePrediction> cached;
  std::vector<Date> cached_pairs;
  auto tile_input = [&](const Date& date, const std::vector<Date>& pair_dates) -> DatePrediction& {
    if (!cached || cached->input.date != date || cached_pairs != pair_dates) {
      cached.reset();  // the old one's memory first
      cached = load_date(date, pair_dates);
      // The whole scene's statistics once, as the tiled drivers pass them (methods would
      // otherwise compute them from the whole input again for every tile).
      cached->input.scene_stats = std::make_shared<const SceneStats>(compute_scene_stats(cached->input));
      cached_pairs = pair_dates;
    }
    return *cached;
  };
  std::set<long> assembled_here;  // dates this process assembled
  // Assembles `date` when every tile of it is stored (fuse_tiles.hpp); true when this call did.
  auto assemble_date = [&](const Date& date) -> bool {
    if (count_stored_tiles(opts.out_dir, date) < n_tiles) return false;
    const DateTilesLock lock(opts.out_dir, date);
    if (!lock.held()) return false;  // assembled by another process meanwhile
    std::vector<nlohmann::json> recs;
    for (long t = 0; t < n_tiles; ++t) {
      auto r = read_tile_record(opts.out_dir, date, static_cast<int>(t), tile_key(run_key, tiles[t]));
      if (!r) return false;
      recs.push_back(std::move(*r));
    }
    const auto t0 = std::chrono::steady_clock::now();
    FuseEntry e = fuse_entry(date, [&](const PairChoice& choice) {
      // A tile that failed fails its date, as the whole scene would have.
      for (const auto& r : recs)
        if (r.value("status", "") == "failed") throw Error(r.value("note", "a tile failed"));
      DatePrediction dp = std::move(tile_input(date, choice.dates));
      cached.reset();  // the date is done with
      dp.input.region = {};  // a tile that failed in predict() may have left its own
      dp.input.scene_stats.reset();  // the whole-date steps see the input as a whole-scene run
      const Grid& grid = dp.input.coarse.grid();
      FusionResult& res = dp.result;
      for (long t = 0; t < n_tiles; ++t) {
        const auto piece = read_tile_result(opts.out_dir, date, static_cast<int>(t));
        if (!piece) throw Error(fmt::format("{}: tile {} of {} stored no prediction", info.name, t, date.iso()));
        if (t == 0) {
          res.fine = Raster(grid, piece->fine.bands(), 0.0f, false);
          res.fine.units = piece->fine.units;
          res.fine.band_names = piece->fine.band_names;
          res.quality = Raster(grid, piece->quality.bands(), 0.0f, true);
          res.quality.units = piece->quality.units;
          res.quality.band_names = piece->quality.band_names;
        }
        res.fine.paste(piece->fine, tiles[t].x0, tiles[t].y0);
        res.quality.paste(piece->quality, tiles[t].x0, tiles[t].y0);
      }
      finish_prediction(date, dp);
      return dp;
    });
    assembled_here.insert(date.days());
    e.seconds = seconds_since(t0);
    for (const auto& r : recs) e.seconds += r.value("seconds", 0.0);
    summary.entries.push_back(e);
    record(e);
    if (!work) write_index(opts.out_dir, catalog, method, index_entries(), opts, earlier_files);
    std::error_code ec;
    fs::remove_all(date_tiles_dir(opts.out_dir, date), ec);
    return true;
  };
  // One tile of a date: the tile predicted as a region of the whole scene, and stored.
  auto predict_one_tile = [&](const Date& date, long t) {
    const auto t0 = std::chrono::steady_clock::now();
    nlohmann::json rec = {{"key", tile_key(run_key, tiles[t])}, {"date", date.iso()}};
    std::optional<FusionResult> piece;
    try {
      const PairChoice choice = choose_pairs(catalog, date, info);
      ensure_model(choice.dates);
      DatePrediction& dp = tile_input(date, choice.dates);
      // The whole scene with the tile as the region to predict: the method computes its scene
      // statistics from the whole scene and predicts the region's pixels as a whole-scene run
      // does (window methods read the window around them, the deep engine runs those of its own
      // tiles, laid from the scene's corner, that touch the region), so the tile is that run's
      // to the last bit, and errors are the whole scene's.
      const TileRect& r = tiles[t];
      dp.input.region = {r.x0, r.y0, r.w, r.h};
      const FusionResult whole = method.predict(dp.input);
      dp.input.region = {};
      piece = FusionResult{whole.fine.crop(r.x0, r.y0, r.w, r.h), whole.quality.crop(r.x0, r.y0, r.w, r.h)};
      rec["status"] = "done";
    } catch (const Error& err) {
      rec["status"] = "failed";
      rec["note"] = err.what();
      spdlog::warn("{} tile {}: {}", date.iso(), t, err.what());
    }
    rec["seconds"] = seconds_since(t0);
    write_tile(opts.out_dir, date, static_cast<int>(t), rec, piece ? &*piece : nullptr);
  };
  // Dates finished by an earlier run, looked at once per process (a check reads their files).
  std::map<long, bool> intact_before;
  auto done_before = [&](const Date& date) -> const FuseEntry* {
    const auto prev = previous.find(date.days());
    if (prev == previous.end()) return nullptr;
    auto [it, fresh] = intact_before.emplace(date.days(), false);
    if (fresh) it->second = entry_intact(opts.out_dir, prev->second);
    return it->second ? &prev->second : nullptr;
  };

  const long n_items = static_cast<long>(targets.size()) * n_tiles;
  ProgressBar bar("fuse " + info.name, n_items, opts.show_progress);
  long n = 0;
  if (work) work->begin(n_items);
  long sequential = 0;
  auto next_item = [&]() -> long {
    if (work) return work->next();
    return sequential < n_items ? sequential++ : -1;
  };
  for (long item; (item = next_item()) >= 0;) {
    const Date& date = targets[static_cast<size_t>(item / n_tiles)];
    const long tile = item % n_tiles;
    if (const FuseEntry* prev = done_before(date)) {
      // Finished in an earlier run, and its files are those the index recorded.
      if (tile == 0) {
        FuseEntry e = *prev;
        e.status = "done";
        e.note = e.note.empty() ? "from an earlier run" : e.note;
        summary.entries.push_back(e);
        ++summary.skipped;
      }
      bar.update(++n, date.iso() + " (already done)");
      continue;
    }
    const auto coarse_obs = catalog.find(date, Role::Coarse);
    if (!coarse_obs || coarse_obs->valid_fraction <= 0.0) {
      // A fully cloudy coarse day, or with --fill one the filler could not fill: nothing to
      // fuse, and not an error.
      if (tile == 0) {
        FuseEntry e = new_entry(date);
        e.status = "no-data";
        e.output.clear();
        e.quality.clear();
        e.note = coarse_obs ? "the coarse image has no valid pixel (cloud or fill)"
                            : "not filled: no clear coarse data within --fill-window days";
        summary.entries.push_back(e);
        record(e);
        ++summary.no_data;
      }
      bar.update(++n, date.iso() + " (no coarse data)");
      continue;
    }
    if (tiled) {
      // A date assembled during this run before all its items came round: its tiles were
      // stored by an earlier run (only then can a date be complete before its last item). A
      // record of another process counts when the date had none at the start (else it may be the
      // earlier run's, of files found damaged).
      const bool assembled =
          assembled_here.count(date.days()) ||
          (work && !previous.count(date.days()) && item_recorded_done(opts.out_dir, date, run_key));
      if (assembled ||
          read_tile_record(opts.out_dir, date, static_cast<int>(tile), tile_key(run_key, tiles[tile]))) {
        ++summary.tiles_found;  // stored by an earlier run
      } else {
        predict_one_tile(date, tile);
        ++summary.tiles_done;
      }
      if (!assembled) assemble_date(date);
      bar.update(++n, fmt::format("{} tile {}/{}", date.iso(), tile + 1, n_tiles));
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    FuseEntry e = fuse_entry(date, [&](const PairChoice& choice) { return predict_date(date, choice.dates); });
    e.seconds = seconds_since(t0);
    summary.entries.push_back(e);
    record(e);
    if (!work) write_index(opts.out_dir, catalog, method, index_entries(), opts, earlier_files);
    if (!work) kill_point("date-indexed");
    bar.update(++n, date.iso());
  }
  if (work) {
    int counts[kFuseCounts] = {summary.done,    summary.skipped,    summary.no_data,
                               summary.failed,  summary.tiles_done, summary.tiles_found};
    work->end(counts);
    if (!work->gathers()) {
      bar.finish(fmt::format("{}: {} predicted, {} already there, {} without coarse data, {} failed", work->who(),
                             summary.done, summary.skipped, summary.no_data, summary.failed));
      return summary;
    }
    summary.tiles_done = counts[4];
    summary.tiles_found = counts[5];
    if (tiled) {
      // Dates whose last tile was stored by a process that died before assembling them.
      const int done_before_gather = summary.done, failed_before_gather = summary.failed;
      const auto recorded = read_item_records(opts.out_dir, run_key);
      for (const Date& d : targets)
        if (!recorded.count(d.days())) assemble_date(d);
      // --assemble counts what the entries say (gather_entries); a run adds these to its counts.
      if (counts[0] + counts[1] + counts[2] + counts[3] > 0) {
        counts[0] += summary.done - done_before_gather;
        counts[3] += summary.failed - failed_before_gather;
      }
    }
    gather_entries(opts.out_dir, run_key, targets, previous, summary, counts, entry_from_json);
    if (summary.entries.size() < targets.size()) {
      write_index(opts.out_dir, catalog, method, index_entries(), opts, earlier_files);
      throw Error(missing_items_message(targets, summary.entries, opts.out_dir,
                                        other_tiling_note(opts.out_dir, run_key, tiles)));
    }
  }
  if (tiled) {
    // Every date is recorded: tile folders left by a process killed after recording its date.
    std::error_code ec;
    fs::remove_all(opts.out_dir / kTilesFolder, ec);
  }
  write_index(opts.out_dir, catalog, method, index_entries(), opts, earlier_files);
  bar.finish(fmt::format("{} predicted, {} already there, {} without coarse data, {} failed",
                         summary.done, summary.skipped, summary.no_data, summary.failed));
  if (summary.done + summary.skipped == 0) {
    // The first failure, rather than a day without coarse data, says what went wrong.
    std::string first = summary.entries.front().note;
    for (const auto& e : summary.entries)
      if (e.status == "failed") {
        first = e.note;
        break;
      }
    // Under MPI every rank has ended by now (FuseWork::end): the first may clear the folder the
    // run made, as a single process does (shards cannot tell that the others made nothing).
    if (work && work->works() && work->gathers()) fresh_folder.arm_after_every_process();
    throw Error(fmt::format("fuse: no date could be predicted with {} (first problem: {})", info.name, first));
  }
  if (opts.format == "netCDF") write_fuse_cube(opts.out_dir, info.name, index_entries());
  if (!earlier_files.empty() && !work) {
    for (const auto& e : index_entries()) {
      earlier_files.erase(e.output);
      earlier_files.erase(e.quality);
    }
    if (opts.format == "netCDF") earlier_files.erase(fmt::format("lst_{}.nc", info.name));
    std::error_code ec;
    for (const std::string& name : earlier_files) {
      const fs::path f = opts.out_dir / name;
      const auto st = fs::symlink_status(f, ec);
      if (!fs::is_regular_file(st) || fs::is_symlink(st)) continue;
      const bool cube = f.extension() == ".nc";
      try {
        if (cube ? io::raster_metadata_item(f.string(), "NC_GLOBAL#source").rfind("lstfuse ", 0) == 0
                 : io::is_lstfuse_raster(f.string())) {
          fs::remove(f, ec);
          io::remove_stale_sidecar(f.string());
        }
      } catch (const Error& e) {  // the run has succeeded: an unreadable leftover stays, said
        spdlog::warn("fuse: left {} of an earlier run in place: {}", f.string(), e.what());
      }
    }
    earlier_files.clear();
    write_index(opts.out_dir, catalog, method, index_entries(), opts, earlier_files);
  }
  return summary;
}

}  // namespace lstfuse::pipeline
