// `lstfuse benchmark`: every method on the same dates, the same metrics, tables and a report.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/benchmark.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/report.hpp"
#include "method_flags.hpp"

namespace cmd_benchmark {

namespace {

struct Args {
  std::string catalog, methods = "baseline,classic", protocol = "loo", out, reference = "fine",
                       training = "per-target", coarse_bias = "auto",
                       map_dates, dates;
  double train_fraction = 0.6;
  double data_range = 0.0;
  int coarse_only = -1;
  lstfuse::cli::RasterOutput raster{"GTiff", {}, false};
  bool no_report = false, single_pair = false, own_mask = false;
};

// Plain --NAME VALUE flags are shared by every entry whose method has NAME; --METHOD.NAME VALUE
// joins the options of every entry of METHOD. An entry's own METHOD:NAME=VALUE wins over both:
// its label says it (the flag overrode it, and 'starfm:window=5' and 'starfm:window=7' were two
// rows of window 9 under their labels). A flag that no entry takes changes nothing and is
// refused. Every value is set on a fresh instance of each method it reaches, so that a bad one
// is refused here, naming the option, before the first method runs.
// Sets a shared option (--NAME VALUE, or an options file's) on a fresh instance of every entry's
// method that has it; false when none has it. A bad value throws, naming the option.
bool set_on_every_method(const lstfuse::pipeline::BenchmarkOptions& o, const std::string& name,
                         const std::string& value) {
  bool used = false;
  for (const auto& e : o.entries) {
    auto m = lstfuse::method_registry().create(e.method);
    if (!m->options().has(name)) continue;
    m->options().set(name, value);
    used = true;
  }
  return used;
}

// The labels of the entries that take a flag's NAME (their method has it) and, of those, the
// ones that set it themselves (and so keep their own value).
struct FlagReach {
  std::vector<std::string> taking, setting_it;
};
FlagReach reach_of(const lstfuse::pipeline::BenchmarkOptions& o, const std::vector<std::set<std::string>>& own,
                   const std::string& name, const std::string& only_method = {}) {
  FlagReach r;
  for (size_t i = 0; i < o.entries.size(); ++i) {
    const auto& e = o.entries[i];
    if (!only_method.empty() && e.method != only_method) continue;
    if (!lstfuse::method_registry().create(e.method)->options().has(name)) continue;
    (own[i].count(lstfuse::OptionSet::normalise(name)) ? r.setting_it : r.taking).push_back(e.label);
  }
  return r;
}

std::string joined(const std::vector<std::string>& labels) {
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : ", ") + l;
  return out;
}

void check_method_flags(const lstfuse::cli::MethodFlags& flags, lstfuse::pipeline::BenchmarkOptions& o) {
  // Each entry's own NAME=VALUE, before anything joins them.
  std::vector<std::set<std::string>> own;
  for (const auto& e : o.entries) {
    own.emplace_back();
    for (const auto& kv : e.options) own.back().insert(lstfuse::OptionSet::normalise(kv.first));
  }
  // --options FILE comes first: what flags and entries say wins over it. A file naming its method
  // ('lstfuse methods NAME --json') sets that method's entries; one without reaches, like a plain
  // flag, every benchmarked method that has the option.
  if (const auto file = flags.file_values()) {
    const std::string& path = flags.options_file();
    const auto plain = flags.plain();
    auto set_checked = [&](lstfuse::Method& m, const std::string& name, const std::string& value) {
      try {
        m.options().set(name, value);
      } catch (const lstfuse::Error& e) {
        throw lstfuse::file_error(path, e.what());
      }
    };
    if (!file->method.empty()) {
      bool used = false;
      for (auto& e : o.entries) {
        if (e.method != file->method) continue;
        auto m = lstfuse::method_registry().create(e.method);
        std::vector<std::pair<std::string, std::string>> mine;
        for (const auto& entry : file->values) {
          // Named copies: a lambda may not capture a structured binding before C++20.
          const std::string& name = entry.first;
          const std::string& value = entry.second;
          const bool flag_given = std::any_of(plain.begin(), plain.end(), [&](const auto& p) { return p.first == name; });
          if (flag_given && m->options().has(name)) continue;
          set_checked(*m, name, value);
          mine.emplace_back(name, value);
        }
        e.options.insert(e.options.begin(), mine.begin(), mine.end());
        used = true;
      }
      if (!used) throw lstfuse::file_error(path, "holds options of " + file->method + ", which is not benchmarked");
    } else {
      std::vector<std::string> front;
      for (const auto& [name, value] : file->values) {
        bool used = false;
        try {
          used = set_on_every_method(o, name, value);
        } catch (const lstfuse::Error& e) {
          throw lstfuse::file_error(path, e.what());
        }
        if (!used) throw lstfuse::file_error(path, "option " + name + " is known to none of the methods benchmarked");
        front.push_back(name);
        front.push_back(value);
      }
      o.shared_args.insert(o.shared_args.begin(), front.begin(), front.end());
    }
  }
  for (const auto& [name, value] : flags.plain()) {
    if (!set_on_every_method(o, name, value))
      throw lstfuse::Error("benchmark: option --" + name + " is known to none of the methods benchmarked");
    if (const auto r = reach_of(o, own, name); r.taking.empty())
      throw lstfuse::Error("benchmark: --" + name + " " + value + " changes nothing: every entry that has " + name +
                           " sets it itself (" + joined(r.setting_it) + ")");
    o.shared_args.push_back(name);
    o.shared_args.push_back(value);
  }
  for (const auto& method : flags.prefixed_methods()) {
    bool used = false;
    for (auto& e : o.entries) {
      if (e.method != method) continue;
      auto m = lstfuse::method_registry().create(e.method);
      const size_t at = static_cast<size_t>(&e - o.entries.data());
      for (const auto& [name, value] : flags.prefixed(method)) {
        m->options().set(name, value);
        if (!own[at].count(lstfuse::OptionSet::normalise(name))) e.options.emplace_back(name, value);
      }
      used = true;
    }
    if (!used) throw lstfuse::Error("benchmark: --" + method + ".* options given, but " + method + " is not benchmarked");
    for (const auto& [name, value] : flags.prefixed(method))
      if (const auto r = reach_of(o, own, name, method); r.taking.empty())
        throw lstfuse::Error("benchmark: --" + method + "." + name + " " + value + " changes nothing: every " + method +
                             " entry sets " + name + " itself (" + joined(r.setting_it) + ")");
  }
}

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "benchmark",
      "Compare methods on the same dates. loo: every pair date with pairs before and after is "
      "hidden and predicted (STTFN paper, Tables IV-V); split: early pairs train, later pair "
      "dates are predicted (survey). Writes results.csv (one row per method and date), "
      "results.json, summary.md and report.html with maps and charts. A method option given as "
      "--NAME VALUE goes to every benchmarked method that has it (e.g. --epochs 5 for the deep "
      "methods), as --METHOD.NAME VALUE to every entry of that method.");
  cmd->add_option("--catalog", a->catalog, "Catalog folder made by 'lstfuse ingest'")->check(lstfuse::cli::non_empty())->required();
  cmd->add_option("--methods", a->methods,
                  "Comma-separated methods; 'all', 'baseline', 'classic', 'deep' expand; a "
                  "variant is NAME:option=value[:option=value], e.g. sttfn:weighting=tc")
      ->capture_default_str();
  cmd->add_option("--protocol", a->protocol, "loo or split")
      ->check(CLI::IsMember({"loo", "split"}))
      ->capture_default_str();
  cmd->add_option("--training", a->training,
                  "Deep methods in loo: per-target (a model per hidden date from its two pairs, "
                  "STTFN paper) or series (one model on every pair except the predicted dates)")
      ->check(CLI::IsMember({"per-target", "series"}))
      ->capture_default_str();
  cmd->add_option("--coarse-bias", a->coarse_bias,
                  "Correct each input's coarse image by the coarse sensor's bias before the method "
                  "sees it (measured on pair dates, modelled in time for the target; the predicted "
                  "date never enters the model): auto (each method's default), on, off. Per entry: "
                  "METHOD:coarse-bias=on")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_option("--train-fraction", a->train_fraction, "split: share of pair dates that train")
      ->check(lstfuse::cli::finite_range(0.05, 0.95))
      ->capture_default_str();
  cmd->add_option("--reference", a->reference,
                  "Score against the observed fine image or the simulated truth")
      ->check(CLI::IsMember({"fine", "truth"}))
      ->capture_default_str();
  cmd->add_option("--coarse-only", a->coarse_only,
                  "Also predict up to N days with no fine image (from every pair) and score them "
                  "against the simulated truth, in their own table; -1: 5 with --reference truth "
                  "and no --dates, else none")
      ->check(CLI::Range(-1, 366))
      ->capture_default_str();
  cmd->add_option("--map-dates", a->map_dates, "Dates whose maps go into the report (comma-separated; held-out or coarse-only dates)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--dates", a->dates,
                  "Predict only these of the protocol's dates (comma-separated YYYY-MM-DD)")
      ->check(lstfuse::cli::non_empty());
  cmd->add_option("--data-range", a->data_range,
                  "SSIM/PSNR data range L in K (default: max-min of the reference)")
      ->check(lstfuse::cli::finite_range(1e-3, 1000));
  lstfuse::cli::add_output(cmd, a->out, "Output folder (required)", true);
  cmd->add_flag("--single-pair", a->single_pair,
                "Predict each pair date from the single nearest other pair (catalogs with only "
                "two pairs); methods needing two pairs are refused");
  cmd->add_flag("--own-mask", a->own_mask,
                "Score each method on its own predicted pixels (default: on the pixels every "
                "method predicted, so that none is scored on easier pixels)");
  cmd->add_flag("--no-report", a->no_report, "Tables only, no HTML report");
  lstfuse::cli::add_raster_output(cmd, a->raster, {"GTiff", "COG"}, false);
  cmd->get_option("--of")->description("Format of the predicted rasters written");
  // Unknown flags are collected and refused by MethodFlags with our one-line error.
  cmd->allow_extras();
  auto flags = lstfuse::cli::MethodFlags::bind(cmd, false, {}, "every benchmarked method that has it");
  cmd->callback([a, flags] {
    lstfuse::cli::require_output(a->out);
    lstfuse::cli::apply_raster_output(a->raster);
    flags->refuse_unknown();
    lstfuse::pipeline::BenchmarkOptions o;
    o.entries = lstfuse::pipeline::parse_method_list(a->methods);
    if (a->single_pair) {
      // A group (the default 'baseline,classic', 'all') drops the methods that need two pairs;
      // a method named on its own is refused by the benchmark's checks, as every row would fail.
      std::vector<std::string> named;
      for (size_t at = 0; at <= a->methods.size();) {
        const size_t comma = std::min(a->methods.find(',', at), a->methods.size());
        std::string item = a->methods.substr(at, comma - at);
        item = item.substr(0, item.find(':'));
        const auto first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
        named.push_back(first == std::string::npos ? std::string() : item.substr(first, last - first + 1));
        at = comma + 1;
      }
      auto& reg = lstfuse::method_registry();
      o.entries.erase(std::remove_if(o.entries.begin(), o.entries.end(),
                                     [&](const lstfuse::pipeline::MethodEntry& e) {
                                       const auto& info = reg.create(e.method)->info();
                                       const bool two = info.min_pairs > 1 || (info.trainable && a->training != "series");
                                       return two && std::find(named.begin(), named.end(), e.method) == named.end();
                                     }),
                      o.entries.end());
      if (o.entries.empty()) throw lstfuse::Error("benchmark: no method of --methods " + a->methods + " runs on one pair (--single-pair)");
    }
    check_method_flags(*flags, o);
    // Ours or new: never the catalog, a folder holding it, or a folder of someone else's files.
    lstfuse::check_output_folder(a->out, "-o", {a->catalog}, lstfuse::benchmark_kind(), lstfuse::FolderUse::Reuse,
                                 false);
    const auto catalog = lstfuse::Catalog::load(a->catalog);
    // What this run makes is removed again if it fails or is interrupted before its tables are
    // written: a new folder (with the parents it needed), or what it put into an empty folder of
    // the user's. An earlier run's folder is kept.
    std::vector<std::unique_ptr<lstfuse::TemporaryPath>> made_here;
    {
      namespace fs = std::filesystem;
      std::error_code ec;
      const fs::path out = fs::absolute(a->out).lexically_normal();
      const fs::path dir = out.has_filename() ? out : out.parent_path();
      if (fs::is_symlink(fs::symlink_status(dir, ec)))
        throw lstfuse::file_error(a->out, "is a symbolic link: give the folder itself");
      if (!fs::exists(fs::symlink_status(dir, ec))) {
        fs::path top = dir;
        while (top.has_parent_path() && top.parent_path() != top && !fs::exists(fs::symlink_status(top.parent_path(), ec)))
          top = top.parent_path();
        made_here.push_back(std::make_unique<lstfuse::TemporaryPath>(top, true));
      } else if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) {
        for (const char* entry : {"maps", "predictions", "results.json", "results.csv", "summary.md", "report.html"})
          made_here.push_back(std::make_unique<lstfuse::TemporaryPath>(dir / entry, true));
      }
    }
    o.protocol = a->protocol;
    o.train_fraction = a->train_fraction;
    o.reference = a->reference;
    o.out_dir = a->out;
    o.show_progress = !a->raster.quiet;
    o.format = a->raster.format;
    o.creation_options = a->raster.creation_options;
    o.single_pair = a->single_pair;
    o.common_mask = !a->own_mask;
    o.training = a->training;
    o.coarse_only = a->coarse_only;
    o.coarse_bias = a->coarse_bias;
    if (a->data_range > 0) o.data_range = a->data_range;
    o.map_dates = lstfuse::cli::parse_date_list(a->map_dates, "--map-dates");
    // Tables only: the maps are the report's (they were drawn all the same).
    if (a->no_report && !o.map_dates.empty())
      throw lstfuse::Error("benchmark: --map-dates draws maps for the report, and --no-report leaves it out: give one");
    o.maps = !a->no_report;
    o.only_dates = lstfuse::cli::parse_date_list(a->dates, "--dates");
    const auto res = lstfuse::pipeline::run_benchmark(catalog, o);
    lstfuse::pipeline::write_benchmark_tables(res, a->out);
    for (auto& path : made_here) path->release();
    made_here.clear();  // and off the list an interruption empties
    std::cout << fmt::format("benchmark: {} method(s) x {} date(s); tables in {}\n",
                             res.entries.size(), res.dates.size(), a->out);
    if (res.ranking) std::cout << lstfuse::pipeline::ranking_text(*res.ranking);
    if (!a->no_report) {
      const auto path = lstfuse::pipeline::write_html_report(res, a->out);
      std::cout << "report: " << path.string() << "\n";
    }
    // Failed rows are in the tables (summary.md lists why); a run where none succeeded is an
    // error, so that a script does not take an empty comparison for a result.
    int failed = 0, total = 0;
    const lstfuse::pipeline::BenchmarkRow* first = nullptr;
    for (const auto* rows : {&res.rows, &res.coarse_only_rows})
      for (const auto& row : *rows) {
        ++total;
        if (row.status == "ok") continue;
        ++failed;
        if (!first) first = &row;
      }
    if (total > 0 && failed == total) {
      throw lstfuse::Error(fmt::format("benchmark: every prediction failed ({}, {}: {}); the tables in {} list them",
                                       first->label, first->date.iso(), first->note, a->out));
    }
    if (failed) {
      std::cerr << fmt::format("benchmark: {} of {} predictions failed; {} lists why\n", failed, total,
                               (std::filesystem::path(a->out) / "summary.md").string());
    }
  });
}

}  // namespace

LSTFUSE_COMMAND(80, setup);

}  // namespace cmd_benchmark
