#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/fuse.hpp"

#include <chrono>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"
#include "lstfuse/pipeline/fuse_cube.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/reference_fill.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

std::string join_dates(const std::vector<Date>& ds, const char* sep) {
  std::string s;
  for (const auto& d : ds) s += (s.empty() ? "" : sep) + d.iso();
  return s;
}

nlohmann::json entry_json(const FuseEntry& e) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& d : e.pairs) pairs.push_back(d.iso());
  return {{"date", e.date.iso()}, {"status", e.status},     {"output", e.output},
          {"quality", e.quality}, {"pairs", pairs},         {"model", e.model},
          {"note", e.note},       {"seconds", e.seconds},   {"valid_fraction", e.valid_fraction}};
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
  return e;
}


void write_index(const fs::path& dir, const Catalog& catalog, const Method& method,
                 const std::vector<FuseEntry>& entries) {
  nlohmann::json j;
  j["format"] = "lstfuse-fuse-index";
  j["version"] = 1;
  j["lstfuse_version"] = LSTFUSE_VERSION;
  j["catalog"] = fs::absolute(catalog.root()).string();
  j["method"] = method.info().name;
  j["options"] = method.options().to_json();
  j["entries"] = nlohmann::json::array();
  std::string csv = "date,status,output,quality,pairs,model,seconds,valid_fraction,note\n";
  for (const auto& e : entries) {
    j["entries"].push_back(entry_json(e));
    std::string note = e.note;
    for (char& c : note)
      if (c == ',' || c == '\n') c = ';';
    csv += fmt::format("{},{},{},{},{},{},{:.3f},{:.4f},{}\n", e.date.iso(), e.status, e.output,
                       e.quality, join_dates(e.pairs, " "), e.model, e.seconds, e.valid_fraction,
                       note);
  }
  write_text_atomic(dir / "index.json", j.dump(2) + "\n");
  write_text_atomic(dir / "index.csv", csv);
}

std::map<long, FuseEntry> read_previous_index(const fs::path& dir, const std::string& method) {
  std::map<long, FuseEntry> out;
  std::ifstream in(dir / "index.json");
  if (!in) return out;
  try {
    const auto j = nlohmann::json::parse(in);
    if (j.value("method", "") != method) {
      throw file_error((dir / "index.json").string(),
                       fmt::format("this folder holds a fuse run of method '{}', not '{}'; use "
                                   "another output folder", j.value("method", ""), method));
    }
    for (const auto& e : j.at("entries")) {
      FuseEntry fe = entry_from_json(e);
      out[fe.date.days()] = fe;
    }
  } catch (const nlohmann::json::exception& e) {
    throw file_error((dir / "index.json").string(), std::string("malformed fuse index: ") + e.what());
  }
  return out;
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
  const auto previous = read_previous_index(opts.out_dir, info.name);
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
      const fs::path tmp = path.string() + ".part";
      method.save(tmp);
      fs::rename(tmp, path);
      std::error_code ec;
      fs::remove_all(ctx.checkpoint_dir, ec);
    }
    loaded_key = key;
    return rel.string();
  };

  FuseSummary summary;
  ProgressBar bar("fuse " + info.name, static_cast<long>(targets.size()), opts.show_progress);
  long n = 0;
  for (const Date& date : targets) {
    FuseEntry e;
    e.date = date;
    const std::string stem = fmt::format("lst_{}_{}", info.name, date.compact());
    e.output = stem + ".tif";
    e.quality = stem + "_quality.tif";
    const fs::path out_path = opts.out_dir / e.output;
    const auto prev = previous.find(date.days());
    if (fs::exists(out_path)) {
      // Finished in an earlier run: files appear only when complete, quality before prediction.
      if (prev != previous.end()) e = prev->second;
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
      ++summary.no_data;
      bar.update(++n, date.iso() + " (no coarse data)");
      continue;
    }
    try {
      const PairChoice choice = choose_pairs(catalog, date, info);
      e.pairs = choice.dates;
      e.note = choice.note;
      e.model = ensure_model(choice.dates);
      const FusionInput in = load_input(catalog, date, choice.dates);
      method.clear_scene_stats();
      FusionResult res = method.predict(in);
      const ReferenceFill rf = fill_reference_gaps(catalog, method, in, res, opts.max_reference_steps,
                                                   [&](const std::vector<Date>& d) { ensure_model(d); });
      append_quality_band(res, "coarse_filled", coarse_filled_flags(catalog, date));
      if (!rf.note().empty()) e.note += "; " + rf.note();
      io::WriteOptions wo;
      wo.format = opts.format == "netCDF" ? "COG" : opts.format;
      wo.metadata = {{"LSTFUSE_METHOD", info.name},
                     {"LSTFUSE_DATE", date.iso()},
                     {"LSTFUSE_PAIRS", join_dates(choice.dates, ",")},
                     {"UNITS", "K"}};
      // Quality first: the prediction's existence marks a finished date.
      if (!res.quality.empty()) {
        io::WriteOptions qo = wo;
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
    write_index(opts.out_dir, catalog, method, summary.entries);
    bar.update(++n, date.iso());
  }
  write_index(opts.out_dir, catalog, method, summary.entries);
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
