// `lstfuse predict`: one fused image for one target date, from files on one grid or from a
// catalog, with any registered method.
#include <limits>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "command.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/pipeline/streamed.hpp"
#include "common_flags.hpp"
#include "method_flags.hpp"

namespace cmd_predict {

namespace {

using namespace lstfuse;

struct PredictArgs {
  std::string method;
  std::string fine1, coarse1, fine2, coarse2, coarse0;
  std::string date1, date2, date0;
  std::string catalog, date, pairs, coarse_bias = "auto";
  std::string output, quality;
  cli::RasterOutput raster{"GTiff", {}, false};
  std::string units = "K";
  double nodata = 0.0;
  bool has_nodata = false;
  std::string model;
  int tile = 512;
  int threads = 0;
  bool stream = false;
};

std::string default_quality_path(const std::string& out) {
  const std::filesystem::path p(out);
  return (p.parent_path() / (p.stem().string() + "_quality" + p.extension().string())).string();
}

// The date of an input: the flag when given, else from the file name.
Date input_date(const std::string& flag_value, const std::string& flag, const std::string& file) {
  if (!flag_value.empty()) return cli::parse_date_flag(flag_value, flag);
  const auto d = Date::from_filename(std::filesystem::path(file).filename().string());
  if (!d) {
    throw file_error(file, fmt::format("{}; give {}",
                                       Date::filename_date_problem(std::filesystem::path(file).filename().string()), flag));
  }
  return *d;
}

StreamInput files_input(const PredictArgs& a, const MethodInfo& info) {
  if (a.coarse0.empty()) throw Error("predict: --coarse0 (the coarse image of the target date) is required");
  StreamInput in;
  in.read.units = a.units;
  if (a.has_nodata) in.read.nodata = a.nodata;
  in.coarse = a.coarse0;
  in.date = input_date(a.date0, "--date0", a.coarse0);
  auto add_pair = [&](const std::string& fine, const std::string& coarse, const std::string& date,
                      int k) {
    if (fine.empty() != coarse.empty()) {
      throw Error(fmt::format("predict: pair {} needs both --fine{} and --coarse{}", k, k, k));
    }
    if (fine.empty()) return;
    Date d = input_date(date, fmt::format("--date{}", k), fine);
    if (date.empty()) {
      const auto dc = Date::from_filename(std::filesystem::path(coarse).filename().string());
      if (dc && *dc != d) {
        throw Error(fmt::format("predict: the file names of pair {} carry different dates ({}: {}, "
                                "{}: {}); give --date{}", k, fine, d.iso(), coarse, dc->iso(), k));
      }
    }
    in.pairs.push_back({d, fine, coarse});
  };
  add_pair(a.fine1, a.coarse1, a.date1, 1);
  add_pair(a.fine2, a.coarse2, a.date2, 2);
  if (!a.fine2.empty() && a.fine1.empty()) throw Error("predict: --fine2/--coarse2 given without --fine1/--coarse1");
  if (in.pairs.size() == 2 && in.pairs[0].date == in.pairs[1].date) {
    throw Error(fmt::format("predict: both pairs are dated {}", in.pairs[0].date.iso()));
  }
  {
    std::vector<Date> dates;
    for (const auto& p : in.pairs) dates.push_back(p.date);
    pipeline::check_pair_dates(in.date, dates, "predict: --date0/--date1/--date2");
  }
  std::sort(in.pairs.begin(), in.pairs.end(),
            [](const StreamPair& x, const StreamPair& y) { return x.date < y.date; });
  if (info.min_pairs == 0) in.pairs.clear();  // bilinear uses the target coarse image only
  return in;
}

StreamInput catalog_input(const PredictArgs& a, const MethodInfo& info) {
  if (a.date.empty()) throw Error("predict: --catalog needs --date YYYY-MM-DD (the target date)");
  const Date target = cli::parse_date_flag(a.date, "--date");
  const std::vector<Date> dates = cli::parse_date_list(a.pairs, "--pairs");
  const Catalog cat = Catalog::load(a.catalog);
  return pipeline::catalog_files(cat, target, dates, info);
}

void run(const PredictArgs& a, const cli::MethodFlags& flags) {
  flags.refuse_unknown();  // a misspelt flag first: "--method is required" named the wrong cause
  if (a.method.empty()) throw Error("predict: --method is required (see 'lstfuse methods')");
  if (a.output.empty()) throw Error("predict: -o/--output is required");
  cli::apply_raster_output(a.raster);
  // A GeoTIFF named as a picture (x.png) misleads every program that opens it.
  for (const std::string* out : {&a.output, &a.quality}) {
    const std::string ext = cli::lower_extension(*out);
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg")
      throw file_error(*out, "predict writes GeoTIFF (--of GTiff or COG): name it FILE.tif (quicklook draws a PNG of it)");
  }
  if (a.units != "K" && a.units != "C") throw Error("predict: --units must be K or C, got '" + a.units + "'");
  if (a.threads < 0) throw Error("predict: --threads must be >= 0");
  if (a.tile < 0) throw Error(fmt::format("predict: --tile must be >= 0 (0: whole scene), got {}", a.tile));
  // Outputs are never inputs, and the two outputs are two files.
  const std::string quality_path = a.quality.empty() ? default_quality_path(a.output) : a.quality;
  const std::vector<std::string> inputs{a.fine1, a.coarse1, a.fine2, a.coarse2, a.coarse0, flags.options_file(), a.model,
                                        a.catalog.empty() ? "" : (std::filesystem::path(a.catalog) / "manifest.json").string()};
  if (same_path(a.output, quality_path)) {
    throw file_error(a.output, "-o and --quality name the same file");
  }
  // Never an input, never inside a catalog or another output folder, never over a file that
  // lstfuse did not write (the implied OUT_quality.tif included).
  check_output_file(a.output, "-o", inputs, cli::raster_file_kind());
  check_output_file(quality_path, a.quality.empty() ? "the quality layer (OUT_quality.tif)" : "--quality", inputs,
                    cli::raster_file_kind());
  const bool from_catalog = !a.catalog.empty();
  if (from_catalog && (!a.fine1.empty() || !a.coarse0.empty() || !a.fine2.empty() || !a.coarse1.empty() ||
                       !a.coarse2.empty())) {
    throw Error("predict: give either --catalog or the input files (--fine1 ... --coarse0), not both");
  }
  // What describes input files has nothing to act on with --catalog: said, not ignored.
  if (from_catalog) {
    for (const auto& [given, flag] : {std::pair<bool, const char*>{!a.date0.empty(), "--date0 (use --date)"},
                                      {!a.date1.empty() || !a.date2.empty(), "--date1/--date2 (use --pairs)"},
                                      {a.units != "K", "--units (a catalog holds kelvin)"},
                                      {a.has_nodata, "--nodata (a catalog's files carry their own)"}})
      if (given) throw Error(fmt::format("predict: {} applies to input files, not to --catalog", flag));
  } else if (!a.date.empty() || !a.pairs.empty()) {
    throw Error("predict: --date and --pairs go with --catalog; with input files use --date0, --date1, --date2");
  } else if (a.coarse_bias != "auto") {
    // The bias is measured on a catalog's pairs: with input files there is nothing to measure it on.
    throw Error("predict: --coarse-bias goes with --catalog (the bias is measured on the catalog's pair dates)");
  }
  auto method = method_registry().create(a.method);
  flags.apply(*method);
  const MethodInfo& info = method->info();
  if (info.trainable) {
    if (a.model.empty()) {
      throw Error(fmt::format("predict: method '{}' is trained: run 'lstfuse train --method {}' "
                              "first and pass the model with --model PATH", info.name, info.name));
    }
    method->load(a.model);
  } else if (!a.model.empty()) {
    throw Error(fmt::format("predict: method '{}' has no trained model; drop --model", info.name));
  }
  StreamInput src = from_catalog ? catalog_input(a, info) : files_input(a, info);
  {
    std::vector<std::string> used{src.coarse};
    for (const auto& p : src.pairs) used.insert(used.end(), {p.fine, p.coarse});
    check_not_an_input(a.output, "-o", used);
    check_not_an_input(quality_path, "--quality", used);
  }
  const std::string& quality = quality_path;
  io::WriteOptions wo;
  wo.format = a.raster.format;
  wo.user_options = a.raster.creation_options;
  wo.metadata = {{"LSTFUSE_METHOD", info.name}, {"LSTFUSE_DATE", src.date.iso()}, {"UNITS", "K"}};
  TilingOptions to{a.tile, a.threads};

  const bool bias_step = from_catalog && pipeline::coarse_bias_enabled(a.coarse_bias, info);
  if (bias_step) {
    // Streamed, each pair's bias is measured from strips and each coarse window corrected as it
    // is read: the same values as in memory (--stream used to leave the step out without a word).
    const Catalog cat = Catalog::load(a.catalog);
    const auto est = pipeline::CoarseBiasStep(cat, a.stream).apply(src, {src.date});  // never the target's own fine image
    // One measured pair gives no spread: the sd is then not printed as "nan".
    spdlog::info("coarse bias {:.2f} K{} removed from the target's coarse image", est.value,
                 std::isfinite(est.sd) ? fmt::format(" (sd {:.2f})", est.sd) : std::string());
  }
  if (a.stream) {
    predict_streamed(*method, src, {a.output, quality, wo}, to);
  } else {
    FusionInput in = pipeline::read_files(src);
    const FusionResult r = predict_tiled(*method, in, to);
    io::write_raster(a.output, r.fine, wo);
    try {
      io::write_raster(quality, r.quality, quality_write_options(wo, r.quality.band_names));
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(a.output, ec);  // no half of the output set
      throw;
    }
  }
  std::cout << fmt::format("{}: {} prediction for {} from {} pair(s) -> {} (quality: {})\n", info.name,
                           a.stream ? "streamed" : "tiled", src.date.iso(), src.pairs.size(),
                           a.output, quality);
}

void setup(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand(
      "predict",
      "Predict the fine image of one date with a fusion method, from files on one grid or from a "
      "catalog.");
  // Unknown flags are collected and refused by MethodFlags with our one-line error.
  cmd->allow_extras();
  cmd->add_option("-m,--method", a->method, "Fusion method (see 'lstfuse methods')");
  cmd->add_option("--fine1", a->fine1, "Fine image of pair 1");
  cmd->add_option("--coarse1", a->coarse1, "Coarse image of pair 1 (on the fine grid)");
  cmd->add_option("--fine2", a->fine2, "Fine image of pair 2");
  cmd->add_option("--coarse2", a->coarse2, "Coarse image of pair 2 (on the fine grid)");
  cmd->add_option("--coarse0", a->coarse0, "Coarse image of the target date (on the fine grid)");
  cmd->add_option("--date1", a->date1, "Date of pair 1 (default: from the file name)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--date2", a->date2, "Date of pair 2 (default: from the file name)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--date0", a->date0, "Target date (default: from the --coarse0 file name)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--units", a->units, "Units of the input files: K or C")->capture_default_str();
  cmd->add_option_function<double>("--nodata", [a](double v) { a->nodata = v; a->has_nodata = true; },
                                   "Nodata value of the input files (default: the files' own)");
  cmd->add_option("--catalog", a->catalog, "Catalog folder (from 'lstfuse ingest')")->check(lstfuse::cli::non_empty());
  cmd->add_option("--date", a->date, "Target date with --catalog (YYYY-MM-DD)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--pairs", a->pairs, "Pair dates with --catalog, D1[,D2] (default: nearest usable)")->check(lstfuse::cli::non_empty());
  cmd->add_option("--coarse-bias", a->coarse_bias,
                  "With --catalog: correct the coarse images by the coarse sensor's bias (measured "
                  "on the catalog's pair dates, modelled in time for the target) before the method "
                  "sees them: auto (the method's default), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cli::add_output(cmd, a->output, "Output GeoTIFF/COG", true);
  cmd->add_option("--quality", a->quality, "Quality layer path (default: OUT_quality.tif)")->check(lstfuse::cli::non_empty());
  cli::add_raster_output(cmd, a->raster, {"GTiff", "COG"}, true, "No informational log lines");
  cmd->add_option("--model", a->model, "Trained model (for trainable methods; see 'lstfuse train')")->check(lstfuse::cli::non_empty());
  cmd->add_option("--tile", a->tile, "Tile size in pixels (0: whole scene)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--threads", a->threads, "Threads (0: all cores; more than the machine has are capped)")
      ->capture_default_str()->check(CLI::Range(0, std::numeric_limits<int>::max()));
  cmd->add_flag("--stream", a->stream,
                "Read tiles from the files and write them as they are done (scenes larger than memory)");
  // Last, so that predict's own flags (--tile, --threads) take their plain spellings.
  auto flags = cli::MethodFlags::bind(cmd, true);
  cmd->callback([a, flags] { run(*a, *flags); });
}

}  // namespace

LSTFUSE_COMMAND(30, setup);

}  // namespace cmd_predict
