#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/fuse.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"
#include "lstfuse/pipeline/fuse_cube.hpp"
#include "lstfuse/pipeline/fuse_work.hpp"
#include "lstfuse/pipeline/fuse_resume.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/reference_fill.hpp"

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


void write_index(const fs::path& dir, const Catalog& catalog, const Method& method,
                 const std::vector<FuseEntry>& entries, const FuseOptions& opts) {
  nlohmann::json j;
  j["format"] = "lstfuse-fuse-index";
  j["version"] = 1;
  j["lstfuse_version"] = LSTFUSE_VERSION;
  j["catalog"] = fs::absolute(catalog.root()).string();
  j["method"] = method.info().name;
  j["options"] = method.options().to_json();
  j["run"] = fuse_run_settings(opts);
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

// The catalog fuse works on: the source, or its gap-filled copy in out_dir/filled-coarse (made
// once, reused by a re-run with the same settings). Pair dates are filled too, whatever the period.
Catalog working_catalog(const Catalog& source, const FuseOptions& opts) {
  if (!opts.fill) return source;
  FillCatalogOptions fo;
  fo.fill = opts.fill_options;
  fo.from = opts.from;
  fo.to = opts.to;
  fo.extra_dates = source.pair_dates();
  fo.show_progress = opts.show_progress;
  const fs::path dir = opts.out_dir / "filled-coarse";
  if (auto reused = reuse_filled_catalog(source, dir, fo)) return *reused;
  return fill_catalog(source, dir, fo);
}

}  // namespace

std::vector<Date> fuse_targets(const Catalog& catalog, const FuseOptions& opts) {
  std::vector<Date> out;
  for (const Date& d : catalog.coarse_only_dates()) {
    if (opts.from && d < *opts.from) continue;
    if (opts.to && d > *opts.to) continue;
    out.push_back(d);
  }
  return out;
}

FuseSummary fuse(const Catalog& source, Method& method, const FuseOptions& opts) {
  const MethodInfo& info = method.info();
  if (opts.from && opts.to && *opts.to < *opts.from) {
    throw Error(fmt::format("--to {} is before --from {}", opts.to->iso(), opts.from->iso()));
  }
  // The output folder is checked against the source catalog before anything is written into
  // it (the filled copy of the catalog lives inside it, as fuse's own).
  FuseWork* work = opts.work;  // null: this process does every date (fuse_work.hpp)
  if (work) work->before_prepare(opts.out_dir);
  auto previous = read_resumable_index(source, method, opts, entry_from_json);
  // Items finished by any process of an earlier run (MPI ranks, shards) count as done too.
  const std::string run_key = fuse_run_key(method, opts);
  for (const auto& [day, j] : read_item_records(opts.out_dir, run_key)) previous[day] = entry_from_json(j);
  if (opts.fill) fs::create_directories(opts.out_dir);
  const Catalog catalog = working_catalog(source, opts);
  const auto targets = fuse_targets(catalog, opts);
  if (targets.empty()) {
    throw Error(fmt::format("{}: no coarse-only date in the range {} .. {} (dates with a fine "
                            "image are observed, not predicted)",
                            catalog.root().string(), opts.from ? opts.from->iso() : "start",
                            opts.to ? opts.to->iso() : "end"));
  }
  fs::create_directories(opts.out_dir);
  // A fresh (or redone) folder gets its index at once: an interrupted first run stays ours.
  if (previous.empty() && (!work || work->prepares())) write_index(opts.out_dir, catalog, method, {}, opts);
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
  // One day as fuse predicts it; the uncertainty's leave-one-out predictions go through it too
  // (the bias model never sees the predicted date's own pair).
  auto predict_date = [&](const Date& date, const std::vector<Date>& pair_dates) {
    ensure_model(pair_dates);
    DatePrediction dp;
    dp.input = load_input(catalog, date, pair_dates);
    if (bias_step) dp.coarse_bias = bias.apply(dp.input, {date}).value;
    dp.result = method.predict(dp.input);
    // Holes the chosen pairs leave are predicted from farther pairs; then the fill flags.
    const ReferenceFill rf = fill_reference_gaps(catalog, method, dp.input, dp.result, opts.max_reference_steps,
                                                 [&](const std::vector<Date>& d) { ensure_model(d); });
    append_quality_band(dp.result, "coarse_filled", coarse_filled_flags(catalog, date));
    dp.note = rf.note();
    return dp;
  };
  FuseSummary summary;
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
  ProgressBar bar("fuse " + info.name, static_cast<long>(targets.size()), opts.show_progress);
  long n = 0;
  if (work) work->begin(static_cast<long>(targets.size()));
  size_t sequential = 0;
  auto next_item = [&]() -> long {
    if (work) return work->next();
    return sequential < targets.size() ? static_cast<long>(sequential++) : -1;
  };
  for (long item; (item = next_item()) >= 0;) {
    const Date& date = targets[static_cast<size_t>(item)];
    FuseEntry e;
    e.date = date;
    const std::string stem = fmt::format("lst_{}_{}", info.name, date.compact());
    e.output = stem + ".tif";
    e.quality = stem + "_quality.tif";
    const fs::path out_path = opts.out_dir / e.output;
    const auto prev = previous.find(date.days());
    if (prev != previous.end() && entry_intact(opts.out_dir, prev->second)) {
      // Finished in an earlier run, and its files are those the index recorded.
      e = prev->second;
      e.status = "done";
      e.note = e.note.empty() ? "from an earlier run" : e.note;
      summary.entries.push_back(e);
      ++summary.skipped;
      bar.update(++n, date.iso() + " (already done)");
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (catalog.find(date, Role::Coarse)->valid_fraction <= 0.0) {
      // A fully cloudy coarse day: nothing to fuse, and not an error.
      e.status = "no-data";
      e.output.clear();
      e.quality.clear();
      e.note = "the coarse image has no valid pixel (cloud or fill)";
      summary.entries.push_back(e);
      record(e);
      ++summary.no_data;
      bar.update(++n, date.iso() + " (no coarse data)");
      continue;
    }
    try {
      const PairChoice choice = choose_pairs(catalog, date, info);
      e.pairs = choice.dates;
      e.note = choice.note;
      e.model = ensure_model(choice.dates);
      DatePrediction dp = predict_date(date, choice.dates);
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
      wo.metadata = {{"LSTFUSE_METHOD", info.name},
                     {"LSTFUSE_DATE", date.iso()},
                     {"LSTFUSE_PAIRS", join_dates(choice.dates, ",")},
                     {"UNITS", "K"}};
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
      io::write_raster(out_path.string(), res.fine, wo);
      e.valid_fraction = res.fine.valid_fraction();
      stamp_entry(opts.out_dir, e);
      e.status = "done";
      ++summary.done;
    } catch (const Error& err) {
      e.status = "failed";
      e.note = err.what();
      ++summary.failed;
      spdlog::warn("{}: {}", date.iso(), err.what());
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    summary.entries.push_back(e);
    record(e);
    if (!work) write_index(opts.out_dir, catalog, method, summary.entries, opts);
    bar.update(++n, date.iso());
  }
  if (work) {
    int counts[4] = {summary.done, summary.skipped, summary.no_data, summary.failed};
    work->end(counts);
    if (!work->gathers()) {
      bar.finish(fmt::format("{}: {} predicted, {} already there, {} without coarse data, {} failed", work->who(),
                             summary.done, summary.skipped, summary.no_data, summary.failed));
      return summary;
    }
    gather_entries(opts.out_dir, run_key, targets, previous, summary, counts, entry_from_json);
    if (summary.entries.size() < targets.size()) {
      write_index(opts.out_dir, catalog, method, summary.entries, opts);
      throw Error(missing_items_message(targets, summary.entries, opts.out_dir));
    }
  }
  write_index(opts.out_dir, catalog, method, summary.entries, opts);
  bar.finish(fmt::format("{} predicted, {} already there, {} without coarse data, {} failed",
                         summary.done, summary.skipped, summary.no_data, summary.failed));
  if (summary.done + summary.skipped == 0) {
    throw Error(fmt::format("fuse: no date could be predicted with {} (first problem: {})",
                            info.name, summary.entries.front().note));
  }
  if (opts.format == "netCDF") write_fuse_cube(opts.out_dir, info.name, summary.entries);
  return summary;
}

}  // namespace lstfuse::pipeline
