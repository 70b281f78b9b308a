#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/benchmark.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/eval/quicklook.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/registry.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  const auto b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Sets the entry's own options, then the shared ones each method understands.
void configure(Method& m, const MethodEntry& e, const std::vector<std::string>& shared) {
  for (size_t i = 0; i + 1 < shared.size(); i += 2) {
    if (m.options().has(shared[i])) m.options().set(shared[i], shared[i + 1]);
  }
  for (const auto& [k, v] : e.options) m.options().set(k, v);
}

// The files an earlier run in this folder listed in its results.json (its rows' predictions
// and, since they are listed, its maps and an interrupted run's planned files), as relative
// paths within the folder. A missing or damaged file lists none.
std::vector<std::string> files_of_earlier_run(const fs::path& results) {
  std::vector<std::string> out;
  std::ifstream in(results);
  if (!in) return out;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object() || j.value("format", std::string()) != benchmark_kind().format) return out;
  auto add = [&](const nlohmann::json& v) {
    if (!v.is_string()) return;
    const fs::path rel = fs::path(v.get<std::string>()).lexically_normal();
    if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") return;
    out.push_back(rel.generic_string());
  };
  if (j.contains("files") && j["files"].is_array())
    for (const auto& v : j["files"]) add(v);
  for (const char* key : {"rows", "coarse_only_rows"})
    if (j.contains(key) && j[key].is_array())
      for (const auto& row : j[key])
        if (row.is_object() && row.contains("prediction")) add(row["prediction"]);
  return out;
}

std::string file_stem(const std::string& label) {
  std::string s = label;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return s;
}

void add_note(std::string& note, const std::string& more) {
  if (!more.empty()) note += (note.empty() ? "" : "; ") + more;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Up to n days without a fine image that have a truth image and a mostly clear coarse image,
// spread evenly over the candidates (so a year gives dates from every season).
std::vector<Date> pick_coarse_only_dates(const Catalog& catalog, int n) {
  std::vector<Date> cand;
  for (const Date& d : catalog.coarse_only_dates()) {
    const auto c = catalog.find(d, Role::Coarse);
    if (c && c->valid_fraction >= 0.5 && catalog.find(d, Role::Truth)) cand.push_back(d);
  }
  if (n <= 0 || cand.empty()) return {};
  if (static_cast<size_t>(n) >= cand.size()) return cand;
  std::vector<Date> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(cand[static_cast<size_t>((i + 0.5) * static_cast<double>(cand.size()) / n)]);
  }
  return out;
}

}  // namespace

std::vector<MethodEntry> parse_method_list(const std::string& text) {
  auto& reg = method_registry();
  std::vector<MethodEntry> out;
  for (const std::string& raw : split(text, ',')) {
    const std::string item = trim(raw);
    if (item.empty()) continue;
    if (item == "all" || item == "baseline" || item == "classic" || item == "deep") {
      for (const auto& n : reg.names()) {
        if (item == "all" || reg.create(n)->info().family == item) out.push_back({n, n, {}, {}});
      }
      continue;
    }
    const auto parts = split(item, ':');
    MethodEntry e;
    e.label = item;
    e.method = parts[0];
    auto probe = reg.create(e.method);  // throws with the known names
    std::vector<std::string> seen;
    for (size_t i = 1; i < parts.size(); ++i) {
      const auto eq = parts[i].find('=');
      if (eq == std::string::npos) {
        throw Error(fmt::format("benchmark entry '{}': '{}' is not name=value", item, parts[i]));
      }
      // "window=5:window=7" kept the last value without a word.
      const std::string key = OptionSet::normalise(parts[i].substr(0, eq));
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        throw Error(fmt::format("benchmark entry '{}': option '{}' is given twice", item, key));
      seen.push_back(key);
      if (OptionSet::normalise(parts[i].substr(0, eq)) == "coarse-bias" && !probe->options().has("coarse-bias")) {
        // The drivers' bias step (series methods have their own option of that name).
        e.coarse_bias = parts[i].substr(eq + 1);
        coarse_bias_enabled(e.coarse_bias, probe->info());  // validates
        continue;
      }
      e.options.emplace_back(parts[i].substr(0, eq), parts[i].substr(eq + 1));
      probe->options().set(e.options.back().first, e.options.back().second);  // validates
    }
    out.push_back(e);
  }
  if (out.empty()) throw Error("no method to benchmark");
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = i + 1; j < out.size(); ++j)
      if (out[i].label == out[j].label) throw Error("method '" + out[i].label + "' listed twice");
  return out;
}

BenchmarkResult run_benchmark(const Catalog& catalog, const BenchmarkOptions& opts) {
  if (opts.training != "per-target" && opts.training != "series") {
    throw Error("unknown training mode '" + opts.training + "' (per-target or series)");
  }
  if (opts.protocol != "loo" && opts.protocol != "split") {
    throw Error("unknown protocol '" + opts.protocol + "' (loo or split)");
  }
  if (opts.reference != "fine" && opts.reference != "truth") {
    throw Error("unknown reference '" + opts.reference + "' (fine or truth)");
  }
  if (opts.shared_args.size() % 2) throw Error("shared method options must come as --name value");
  {
    // Every shared option must mean something to at least one entry.
    for (size_t i = 0; i < opts.shared_args.size(); i += 2) {
      bool used = false;
      for (const auto& e : opts.entries)
        used = used || method_registry().create(e.method)->options().has(opts.shared_args[i]);
      if (!used) throw Error("option " + opts.shared_args[i] + " is known to none of the methods benchmarked");
    }
    // Options that constrain each other, per entry, before any prediction.
    for (const auto& e : opts.entries) {
      auto m = method_registry().create(e.method);
      configure(*m, e, opts.shared_args);
      try {
        m->check_options();
      } catch (const Error& err) {
        throw Error(fmt::format("benchmark entry '{}': {}", e.label, err.what()));
      }
      // Every row of such an entry would fail: said before any work.
      if (opts.single_pair && m->info().min_pairs > 1) {
        throw Error(fmt::format("benchmark entry '{}': {} needs {} pairs and --single-pair gives each prediction one",
                                e.label, m->info().name, m->info().min_pairs));
      }
      if (opts.single_pair && m->info().trainable && opts.training != "series") {
        throw Error(fmt::format("benchmark entry '{}': {} trains per target on the two pairs around it and "
                                "--single-pair gives each prediction one (--training series trains on the others)",
                                e.label, m->info().name));
      }
    }
  }
  BenchmarkResult res;
  res.protocol = opts.protocol;
  res.reference = opts.reference;
  res.common_mask = opts.common_mask;
  res.catalog = fs::absolute(catalog.root()).string();
  res.entries = opts.entries;

  // Usable pair dates (both images with some valid data).
  std::vector<Date> pairs;
  for (const Date& d : catalog.pair_dates()) {
    if (usable_pair(catalog, d)) pairs.push_back(d);
  }
  if (opts.protocol == "loo" && opts.single_pair) {
    if (pairs.size() >= 2) res.dates = pairs;
    if (res.dates.empty()) {
      throw Error(fmt::format("{}: a single-pair benchmark needs two usable pair dates; the "
                              "catalog has {}", catalog.root().string(), pairs.size()));
    }
  } else if (opts.protocol == "loo") {
    for (size_t i = 1; i + 1 < pairs.size(); ++i) res.dates.push_back(pairs[i]);
    if (res.dates.empty()) {
      throw Error(fmt::format("{}: the loo protocol needs a pair date with usable pairs before and "
                              "after it; the catalog has {} usable pair date(s)",
                              catalog.root().string(), pairs.size()));
    }
  } else {
    const size_t n_train = static_cast<size_t>(std::ceil(opts.train_fraction * pairs.size()));
    if (n_train < 2 || n_train >= pairs.size()) {
      throw Error(fmt::format("{}: the split protocol needs at least 2 training and 1 test pair "
                              "date; {} usable pair dates with train fraction {}",
                              catalog.root().string(), pairs.size(), opts.train_fraction));
    }
    res.dates.assign(pairs.begin() + n_train, pairs.end());
    // Training takes every pair date before the test part, cloudy ones too: the patch filter
    // (--min-valid) keeps their clear patches, as in `lstfuse train --series`.
    for (const Date& d : catalog.pair_dates())
      if (d < res.dates.front()) res.train_dates.push_back(d);
  }
  if (!opts.only_dates.empty()) {
    for (const Date& d : opts.only_dates) {
      if (std::find(res.dates.begin(), res.dates.end(), d) == res.dates.end()) {
        throw Error(fmt::format("{}: {} is not a date the {} protocol can predict (a usable pair "
                                "date{})", catalog.root().string(), d.iso(), opts.protocol,
                                opts.protocol == "loo" ? " with usable pairs on both sides" : " after the training part"));
      }
    }
    res.dates = opts.only_dates;
    std::sort(res.dates.begin(), res.dates.end());
  }
  if (opts.protocol == "loo" && opts.training == "series") {
    // Every pair date not predicted, cloudy ones too, as `lstfuse train --series --exclude`.
    for (const Date& d : catalog.pair_dates())
      if (std::find(res.dates.begin(), res.dates.end(), d) == res.dates.end()) res.train_dates.push_back(d);
    if (res.train_dates.size() < 2) {
      throw Error("series training needs at least two pair dates that are not predicted (use --dates)");
    }
  }
  if (opts.reference == "truth") {
    for (const Date& d : res.dates)
      if (!catalog.find(d, Role::Truth))
        throw Error(fmt::format("{}: no truth for {} (use --reference fine)", catalog.root().string(), d.iso()));
  }
  if (opts.coarse_only < -1) throw Error("benchmark: option --coarse-only: must be -1 (auto) or more");
  {
    const int n = opts.coarse_only >= 0 ? opts.coarse_only
                  : (opts.reference == "truth" && opts.only_dates.empty() ? 5 : 0);
    res.coarse_only_dates = pick_coarse_only_dates(catalog, n);
    // Asked for, and none can be scored: said, not dropped without a word.
    if (opts.coarse_only > 0 && res.coarse_only_dates.empty()) {
      if (catalog.dates(Role::Truth).empty())
        throw Error(fmt::format("benchmark: --coarse-only {}: {} has no simulated truth to score days without a fine "
                                "image against (give --coarse-only 0)",
                                opts.coarse_only, catalog.root().string()));
      spdlog::warn("benchmark: --coarse-only {}: no coarse-only date of {} has simulated truth and a mostly clear "
                   "coarse image; none is scored", opts.coarse_only, catalog.root().string());
    }
  }
  std::vector<Date> map_dates = opts.map_dates;
  if (map_dates.empty() && opts.maps) {
    map_dates.push_back(res.dates[res.dates.size() / 2]);
  }
  // Maps are drawn of predicted dates only (held out or coarse-only): another date would
  // silently give no map.
  for (const Date& d : map_dates)
    if (std::find(res.dates.begin(), res.dates.end(), d) == res.dates.end() &&
        std::find(res.coarse_only_dates.begin(), res.coarse_only_dates.end(), d) == res.coarse_only_dates.end()) {
      std::string coarse_only;
      for (const Date& c : res.coarse_only_dates) coarse_only += (coarse_only.empty() ? "" : ",") + c.iso();
      throw Error(fmt::format("benchmark: --map-dates {} is not one of the dates predicted ({} .. {}{})", d.iso(),
                              res.dates.front().iso(), res.dates.back().iso(),
                              coarse_only.empty() ? "" : "; coarse-only: " + coarse_only));
    }

  std::vector<std::string> planned_files, previous_files;
  // Every file this run will write that is already there must be lstfuse's (an earlier run's):
  // another program's file of such a name is refused before any work, not written over.
  {
    std::vector<std::string> planned;
    for (const auto& entry : opts.entries) {
      for (const auto* dates : {&res.dates, &res.coarse_only_dates})
        for (const Date& d : *dates) planned.push_back("predictions/" + file_stem(entry.label) + "_" + d.compact() + ".tif");
      for (const Date& d : map_dates)
        for (const char* tail : {".png", "_error.png"}) planned.push_back("maps/" + file_stem(entry.label) + "_" + d.compact() + tail);
    }
    for (const Date& d : map_dates) planned.push_back("maps/reference_" + d.compact() + ".png");
    // The subfolders are the benchmark's own: a link there would send its files, and the
    // removal of an earlier run's files, into a folder of the user's.
    for (const char* sub : {"predictions", "maps"}) {
      const fs::path f = opts.out_dir / sub;
      std::error_code ec;
      const auto st = fs::symlink_status(f, ec);
      if (!fs::exists(st)) continue;
      if (fs::is_symlink(st) || !fs::is_directory(st))
        throw file_error(f.string(), std::string(fs::is_symlink(st) ? "is a symbolic link" : "is not a folder") +
                                         "; the benchmark keeps its own " + sub + " there: move it out or choose another folder");
    }
    planned_files = planned;
    previous_files = files_of_earlier_run(opts.out_dir / benchmark_kind().marker);
    for (const auto& rel : planned) {
      const fs::path f = opts.out_dir / rel;
      std::error_code ec;
      if (!fs::exists(fs::symlink_status(f, ec))) continue;
      const bool ours = !fs::is_symlink(fs::symlink_status(f, ec)) && fs::is_regular_file(f, ec) &&
                        (f.extension() == ".png" ? eval::is_lstfuse_png(f.string()) : io::is_lstfuse_raster(f.string()));
      if (!ours)
        throw file_error(f.string(), "exists and is not a file lstfuse wrote; the benchmark would write over it: move "
                                     "it out or choose another folder");
    }
  }
  // The folder is marked as ours before the first prediction: an interrupted run leaves a
  // folder that the same command may run into again. The marker replaces an earlier run's
  // results, whose rows would name predictions this run is about to overwrite; results.json is
  // complete only at the end.
  fs::create_directories(opts.out_dir);
  // It lists the files this run may write, and those of the run before that are still there: an
  // interrupted run leaves them to the next, which removes only files a run of its own listed.
  {
    std::set<std::string> files(planned_files.begin(), planned_files.end());
    files.insert(previous_files.begin(), previous_files.end());
    write_text_atomic(opts.out_dir / benchmark_kind().marker,
                      nlohmann::json{{"format", benchmark_kind().format}, {"complete", false},
                                     {"lstfuse_version", LSTFUSE_VERSION}, {"rows", nlohmann::json::array()},
                                     {"files", files}}
                              .dump(2) + "\n");
  }
  if (opts.maps) fs::create_directories(opts.out_dir / "maps");
  fs::create_directories(opts.out_dir / "predictions");
  auto& reg = method_registry();
  const CoarseBiasStep bias(catalog);

  // Phase 1: every entry predicts every date; predictions go to disk (kept for the user), so
  // memory holds one scene at a time whatever the number of methods and dates.
  const long total = static_cast<long>(opts.entries.size() * (res.dates.size() + res.coarse_only_dates.size()));
  ProgressBar bar("benchmark", total, opts.show_progress);
  long n = 0;
  for (const auto& entry : opts.entries) {
    auto method = reg.create(entry.method);
    configure(*method, entry, opts.shared_args);
    MethodInfo info = method->info();
    if (opts.single_pair) {
      if (info.min_pairs > 1) {
        throw Error(fmt::format("{} needs {} pairs and cannot run in a single-pair benchmark",
                                entry.label, info.min_pairs));
      }
      info.max_pairs = 1;
      info.needs_pairs_both_sides = false;
      info.uses_series = false;
    }
    const bool bias_step = coarse_bias_enabled(entry.coarse_bias.empty() ? opts.coarse_bias : entry.coarse_bias, info);
    double train_total = 0.0;
    const bool per_target = info.trainable && opts.protocol == "loo" && opts.training == "per-target";
    if (info.trainable && !per_target) {
      const auto t0 = std::chrono::steady_clock::now();
      FitContext ctx;
      ctx.show_progress = opts.show_progress;
      method->fit(load_pairs(catalog, res.train_dates), ctx);
      train_total += seconds_since(t0);
    }
    // A held-out pair date is predicted without its own pair; a coarse-only date (no fine image)
    // from every pair.
    auto predict_date = [&](const Date& date, bool coarse_only) {
      const std::vector<Date> hidden = coarse_only ? std::vector<Date>{} : std::vector<Date>{date};
      BenchmarkRow row;
      row.label = entry.label;
      row.method = entry.method;
      row.date = date;
      try {
        const PairChoice choice = choose_pairs(catalog, date, info, hidden);
        row.pairs = choice.dates;
        row.note = choice.note;
        if (!per_target) add_note(row.note, method->fit_note());
        if (!per_target && !method->fit_note().empty()) res.fit_notes[entry.label] = method->fit_note();
        FusionInput in = load_input(catalog, date, choice.dates);
        if (bias_step) row.coarse_bias = bias.apply(in, hidden).value;
        if (per_target) {
          // A fresh model per hidden date, trained on that date's pairs only.
          method = reg.create(entry.method);
          configure(*method, entry, opts.shared_args);
          const auto t0 = std::chrono::steady_clock::now();
          FitContext ctx;
          ctx.show_progress = opts.show_progress;
          ctx.target_dates = {date};
          method->fit(in.pairs, ctx);
          row.train_seconds = seconds_since(t0);
          train_total += row.train_seconds;
          add_note(row.note, method->fit_note());
          if (!method->fit_note().empty()) add_note(res.fit_notes[entry.label], date.iso() + ": " + method->fit_note());
        }
        const auto t0 = std::chrono::steady_clock::now();
        const FusionResult out = method->predict(in);
        row.seconds = seconds_since(t0);
        row.prediction = "predictions/" + file_stem(entry.label) + "_" + date.compact() + ".tif";
        io::WriteOptions wo;
        wo.format = opts.format;
        wo.user_options = opts.creation_options;
        io::write_raster((opts.out_dir / row.prediction).string(), out.fine, wo);
        row.status = "ok";
      } catch (const Error& err) {
        row.status = "failed";
        row.note = err.what();
        spdlog::warn("{} on {}: {}", entry.label, date.iso(), err.what());
      }
      (coarse_only ? res.coarse_only_rows : res.rows).push_back(row);
      bar.update(++n, fmt::format("{} {}", entry.label, date.iso()));
    };
    for (const Date& date : res.dates) predict_date(date, false);
    for (const Date& date : res.coarse_only_dates) predict_date(date, true);
    res.train_seconds[entry.label] = train_total;
  }
  bar.finish();

  // Phase 2: score date by date. By default on the pixels every method predicted, so that no
  // method is scored on easier pixels than another; coverage says how much each predicted.
  eval::MetricsOptions mo;
  if (opts.data_range) mo.data_range = *opts.data_range;
  // Scores the rows of one date against `role`'s image; returns the reference (and fills the
  // predictions) for the maps.
  auto score_date = [&](const Date& date, std::vector<BenchmarkRow>& rows, Role role,
                        std::vector<BenchmarkRow*>& ok, std::vector<Raster>& preds) {
    const auto obs = catalog.find(date, role);
    const Raster ref = io::load_observation(catalog, *obs);
    for (auto& row : rows)
      if (row.date == date && row.status == "ok") ok.push_back(&row);
    for (auto* row : ok) preds.push_back(io::read_raster((opts.out_dir / row->prediction).string()));
    Raster common(ref.grid(), 1, 1.0f, true);
    for (size_t i = 0; i < common.band_size(); ++i) {
      bool all = true;
      for (int b = 0; b < ref.bands(); ++b) all = all && ref.mask(b)[i];
      if (opts.common_mask)
        for (const auto& p : preds)
          for (int b = 0; b < p.bands(); ++b) all = all && p.mask(b)[i];
      common.mask(0)[i] = all ? 1 : 0;
    }
    long long ref_valid = 0;
    for (size_t i = 0; i < ref.band_size(); ++i) ref_valid += ref.mask(0)[i];
    for (size_t k = 0; k < ok.size(); ++k) {
      BenchmarkRow& row = *ok[k];
      long long covered = 0;
      for (size_t i = 0; i < ref.band_size(); ++i) covered += ref.mask(0)[i] && preds[k].mask(0)[i];
      row.coverage = ref_valid ? static_cast<double>(covered) / ref_valid : 0.0;
      try {
        eval::MetricsOptions m = mo;
        m.mask = &common;
        row.metrics = eval::compute_metrics(preds[k], ref, m);
      } catch (const Error& err) {
        row.status = "failed";
        row.note = std::string("scoring: ") + err.what();
      }
    }
    return ref;
  };
  // The maps of a date: the reference, each prediction, and its error, in one colour range.
  auto draw_maps = [&](const Date& date, const Raster& ref, bool truth, const std::vector<BenchmarkRow*>& ok,
                       const std::vector<Raster>& preds) {
    const auto s = band_stats(ref);
    eval::QuicklookOptions q;
    // One colour range for every map of a date, so that maps compare.
    q.vmin = s.mean - 2.5 * s.stddev;
    q.vmax = s.mean + 2.5 * s.stddev;
    q.title = fmt::format("reference ({}) {}", truth ? "truth" : "observed fine", date.iso());
    const std::string rs = "maps/reference_" + date.compact() + ".png";
    eval::render_png(ref, (opts.out_dir / rs).string(), q);
    res.maps["reference|" + date.iso()] = rs;
    for (size_t k = 0; k < ok.size(); ++k) {
      const BenchmarkRow& row = *ok[k];
      const std::string stem = "maps/" + file_stem(row.label) + "_" + date.compact();
      q.title = fmt::format("{} {}", row.label, date.iso());
      eval::render_png(preds[k], (opts.out_dir / (stem + ".png")).string(), q);
      res.maps[row.label + "|" + date.iso()] = stem + ".png";
      eval::QuicklookOptions qd;
      qd.vmin = -5.0;
      qd.vmax = 5.0;
      qd.label = "prediction - reference (K)";
      qd.title = fmt::format("{} error {}", row.label, date.iso());
      eval::render_diff_png(preds[k], ref, (opts.out_dir / (stem + "_error.png")).string(), qd);
      res.maps[row.label + "|" + date.iso() + "|error"] = stem + "_error.png";
    }
  };
  auto mapped = [&](const Date& date) { return std::find(map_dates.begin(), map_dates.end(), date) != map_dates.end(); };
  for (const Date& date : res.coarse_only_dates) {
    std::vector<BenchmarkRow*> ok;
    std::vector<Raster> preds;
    const Raster ref = score_date(date, res.coarse_only_rows, Role::Truth, ok, preds);
    if (mapped(date)) draw_maps(date, ref, true, ok, preds);
  }
  for (const Date& date : res.dates) {
    std::vector<BenchmarkRow*> ok;
    std::vector<Raster> preds;
    const bool truth = opts.reference == "truth";
    const Raster ref = score_date(date, res.rows, truth ? Role::Truth : Role::Fine, ok, preds);
    if (mapped(date)) draw_maps(date, ref, truth, ok, preds);
  }
  // Truth-free score of every prediction, and how it ranks against the truth.
  score_consistency(catalog, res, opts.out_dir);
  // An earlier run's predictions and maps that this run did not write again go now that it has
  // succeeded (a failed rerun leaves them): the tables would not list them and the folder would
  // mix two runs. Only files an earlier run's results.json listed, named as a benchmark names
  // them and carrying lstfuse's mark: a file the user put there stays.
  {
    std::set<std::string> written;
    for (const auto* rows : {&res.rows, &res.coarse_only_rows})
      for (const auto& row : *rows)
        if (!row.prediction.empty()) written.insert(row.prediction);
    for (const auto& [key, rel] : res.maps) written.insert(rel);
    static const std::regex prediction_name(R"(predictions/[^/]+_\d{8}\.tif)"),
        map_name(R"(maps/[^/]+_\d{8}(_error)?\.png)");
    std::error_code ec;
    for (const std::string& rel : previous_files) {
      if (written.count(rel)) continue;
      const bool map = std::regex_match(rel, map_name);
      // Without maps (--no-report) an earlier run's maps stay with the earlier report they belong
      // to, and stay listed for the next run with maps.
      if (!map && !std::regex_match(rel, prediction_name)) continue;
      const fs::path f = opts.out_dir / rel;
      const auto st = fs::symlink_status(f, ec);
      if (!fs::is_regular_file(st) || fs::is_symlink(st)) continue;
      if (!(map ? eval::is_lstfuse_png(f.string()) : io::is_lstfuse_raster(f.string()))) continue;
      if (map && !opts.maps) {
        res.kept_files.push_back(rel);
      } else {
        fs::remove(f, ec);
        io::remove_stale_sidecar(f.string());
      }
    }
  }
  return res;
}

namespace {

double metric_of(const BenchmarkRow& r, const std::string& key) {
  return eval::metric_value(r.metrics.overall, key);
}

std::string num(double v, int prec = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : std::string("");
}

}  // namespace

void write_benchmark_tables(const BenchmarkResult& r, const fs::path& dir) {
  static const std::vector<std::string> keys = {"rmse", "ssim", "psnr", "cc",  "r2",
                                                "bias", "mae",  "ubrmse", "sam", "ergas"};
  fs::create_directories(dir);
  // CSV: one row per method and date.
  std::string csv = "method,date";
  for (const auto& k : keys) csv += "," + k;
  csv += ",seconds,train_seconds,valid_pixels,coverage,pairs,status,consistency_ubrmse,consistency_bias,truth_rmse,coarse_bias\n";
  nlohmann::json j;
  j["format"] = benchmark_kind().format;  // the folder's mark (core/outputs.hpp)
  j["complete"] = true;
  j["protocol"] = r.protocol;
  j["reference"] = r.reference;
  j["scored_on"] = r.common_mask ? "pixels every method predicted" : "each method's own pixels";
  j["catalog"] = r.catalog;
  j["lstfuse_version"] = LSTFUSE_VERSION;
  for (const auto& d : r.dates) j["dates"].push_back(d.iso());
  j["train_dates"] = nlohmann::json::array();
  for (const auto& d : r.train_dates) j["train_dates"].push_back(d.iso());
  auto csv_row = [&](const BenchmarkRow& row) {
    std::string pairs;
    for (const auto& d : row.pairs) pairs += (pairs.empty() ? "" : " ") + d.iso();
    std::string line = row.label + "," + row.date.iso();
    for (const auto& k : keys) line += "," + (row.status == "ok" ? num(metric_of(row, k), 6) : "");
    return line + fmt::format(",{:.4f},{:.3f},{},{:.4f},{},{},{},{},{},{}\n", row.seconds, row.train_seconds,
                              row.status == "ok" ? row.metrics.overall.valid_pixels : 0, row.coverage,
                              pairs, row.status, num(row.consistency.ubrmse), num(row.consistency.bias),
                              num(row.truth_rmse), num(row.coarse_bias, 4));
  };
  auto json_row = [&](const BenchmarkRow& row) {
    nlohmann::json jr = {{"method", row.label}, {"date", row.date.iso()}, {"status", row.status},
                         {"note", row.note},    {"seconds", row.seconds},
                         {"train_seconds", row.train_seconds}, {"coverage", row.coverage},
                         {"prediction", row.prediction}};
    if (std::isfinite(row.coarse_bias)) jr["coarse_bias"] = row.coarse_bias;
    jr["pairs"] = nlohmann::json::array();
    for (const auto& d : row.pairs) jr["pairs"].push_back(d.iso());
    if (row.status == "ok") jr["metrics"] = row.metrics.to_json();
    return jr;
  };
  const std::string csv_header = csv;
  j["rows"] = nlohmann::json::array();
  for (const auto& row : r.rows) {
    csv += csv_row(row);
    nlohmann::json jr = json_row(row);
    jr["consistency"] = consistency_json(row);
    j["rows"].push_back(jr);
  }
  std::string csv_coarse = csv_header;
  j["coarse_only_dates"] = nlohmann::json::array();
  for (const auto& d : r.coarse_only_dates) j["coarse_only_dates"].push_back(d.iso());
  j["coarse_only_rows"] = nlohmann::json::array();
  for (const auto& row : r.coarse_only_rows) {
    csv_coarse += csv_row(row);
    j["coarse_only_rows"].push_back(json_row(row));
  }
  // Every file of this run, for the next run's removal of what it does not write again.
  std::set<std::string> files;
  for (const auto* rows : {&r.rows, &r.coarse_only_rows})
    for (const auto& row : *rows)
      if (!row.prediction.empty()) files.insert(row.prediction);
  for (const auto& [key, rel] : r.maps) files.insert(rel);
  files.insert(r.kept_files.begin(), r.kept_files.end());
  j["files"] = files;
  j["train_seconds"] = r.train_seconds;
  if (r.ranking) j["score_ranking"] = ranking_json(*r.ranking);
  j["fit_notes"] = r.fit_notes;

  // Markdown: per-date tables for RMSE and SSIM (rows dates, columns methods) + averages.
  std::string md = fmt::format(
      "# lstfuse benchmark\n\nProtocol: {}; reference: {}; scored on {}; catalog: {}\n\n", r.protocol,
      r.reference == "truth" ? "simulated truth" : "observed fine image",
      r.common_mask ? "the pixels every method predicted" : "each method's own predicted pixels",
      r.catalog);
  // The per-date and average tables of one set of dates.
  auto tables = [&](const std::vector<Date>& dates, const std::vector<BenchmarkRow>& rows,
                    const std::string& title) {
    for (const std::string k : {"rmse", "ssim"}) {
      md += fmt::format("## {}{} per date\n\n| date |", title, k == "rmse" ? "RMSE (K)" : "SSIM");
      for (const auto& e : r.entries) md += " " + e.label + " |";
      md += "\n|---|";
      for (size_t i = 0; i < r.entries.size(); ++i) md += "---:|";
      md += "\n";
      for (const auto& d : dates) {
        md += "| " + d.iso() + " |";
        for (const auto& e : r.entries) {
          std::string cell = "n/a";
          for (const auto& row : rows)
            if (row.label == e.label && row.date == d && row.status == "ok") cell = num(metric_of(row, k), k == "rmse" ? 3 : 4);
          md += " " + cell + " |";
        }
        md += "\n";
      }
      md += "| **average** |";
      for (const auto& e : r.entries) {
        double s = 0;
        int c = 0;
        for (const auto& row : rows)
          if (row.label == e.label && row.status == "ok" && std::isfinite(metric_of(row, k))) {
            s += metric_of(row, k);
            ++c;
          }
        md += " " + (c ? num(s / c, k == "rmse" ? 3 : 4) : std::string("n/a")) + " |";
      }
      md += "\n\n";
    }
    md += "## " + title + "Averages over dates\n\n| method | dates |";
    for (const auto& k : keys) md += " " + k + " |";
    md += " coverage | predict s/date | train s |\n|---|---:|";
    for (size_t i = 0; i < keys.size() + 3; ++i) md += "---:|";
    md += "\n";
    for (const auto& e : r.entries) {
      int c = 0;
      std::vector<double> sums(keys.size(), 0.0);
      double secs = 0, cov = 0;
      for (const auto& row : rows) {
        if (row.label != e.label || row.status != "ok") continue;
        ++c;
        secs += row.seconds;
        cov += row.coverage;
        for (size_t i = 0; i < keys.size(); ++i) sums[i] += metric_of(row, keys[i]);
      }
      md += fmt::format("| {} | {} |", e.label, c);
      for (size_t i = 0; i < keys.size(); ++i) md += " " + (c ? num(sums[i] / c, 4) : std::string("n/a")) + " |";
      const auto ts = r.train_seconds.find(e.label);
      md += fmt::format(" {} | {} | {} |\n", c ? num(cov / c, 3) : "n/a", c ? num(secs / c, 3) : "n/a",
                        ts != r.train_seconds.end() ? num(ts->second, 1) : "0");
    }
    md += "\n";
  };
  tables(r.dates, r.rows, "");
  if (!r.coarse_only_dates.empty()) {
    md += "## Coarse-only dates\n\nDays with no fine image (MODIS only), each predicted from every "
          "pair of the catalog and scored against the simulated truth: the real use of fusion.\n\n";
    tables(r.coarse_only_dates, r.coarse_only_rows, "Coarse-only: ");
  }
  md += consistency_markdown(r);
  if (!r.fit_notes.empty()) {
    md += "\n## Notes\n\n";
    for (const auto& [label, note] : r.fit_notes) md += fmt::format("- {}: {}\n", label, note);
  }
  int failed = 0;
  for (const auto* rows : {&r.rows, &r.coarse_only_rows})
    for (const auto& row : *rows) failed += row.status != "ok";
  if (failed) {
    md += "\n## Failures\n\n";
    for (const auto* rows : {&r.rows, &r.coarse_only_rows})
      for (const auto& row : *rows)
        if (row.status != "ok") md += fmt::format("- {} {}: {}\n", row.label, row.date.iso(), row.note);
  }
  write_text_atomic(dir / "results.csv", csv);
  if (!r.coarse_only_dates.empty()) write_text_atomic(dir / "results_coarse_only.csv", csv_coarse);
  write_text_atomic(dir / "results.json", j.dump(2) + "\n");
  write_text_atomic(dir / "summary.md", md);
}

}  // namespace lstfuse::pipeline
