// `lstfuse benchmark`: every method on the same dates, the same metrics, tables and a report.
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/pipeline/benchmark.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/report.hpp"

namespace {

struct Args {
  std::string catalog, methods = "baseline,classic", protocol = "loo", out, reference = "fine",
                       training = "per-target", coarse_bias = "auto",
                       map_dates, dates;
  double train_fraction = 0.6;
  double data_range = 0.0;
  int coarse_only = -1;
  bool quiet = false, no_report = false, single_pair = false, own_mask = false;
};

std::vector<lstfuse::Date> parse_dates(const std::string& list) {
  std::vector<lstfuse::Date> out;
  std::string cur;
  for (char c : list + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(lstfuse::Date::parse(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "benchmark",
      "Compare methods on the same dates. loo: every pair date with pairs before and after is "
      "hidden and predicted (STTFN paper, Tables IV-V); split: early pairs train, later pair "
      "dates are predicted (survey). Writes results.csv (one row per method and date), "
      "results.json, summary.md and report.html with maps and charts. Extra --name value "
      "options go to every method that has them (e.g. --epochs 5 for the deep methods).");
  cmd->add_option("--catalog", a->catalog, "Catalog folder made by 'lstfuse ingest'")->required();
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
      ->check(CLI::Range(0.05, 0.95))
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
  cmd->add_option("--map-dates", a->map_dates, "Dates whose maps go into the report (comma-separated)");
  cmd->add_option("--dates", a->dates,
                  "Predict only these of the protocol's dates (comma-separated YYYY-MM-DD)");
  cmd->add_option("--data-range", a->data_range,
                  "SSIM/PSNR data range L in K (default: max-min of the reference)");
  cmd->add_option("-o,--out", a->out, "Output folder")->required();
  cmd->add_flag("--single-pair", a->single_pair,
                "Predict each pair date from the single nearest other pair (catalogs with only "
                "two pairs); methods needing two pairs are refused");
  cmd->add_flag("--own-mask", a->own_mask,
                "Score each method on its own predicted pixels (default: on the pixels every "
                "method predicted, so that none is scored on easier pixels)");
  cmd->add_flag("--no-report", a->no_report, "Tables only, no HTML report");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
  cmd->allow_extras();
  cmd->callback([a, cmd] {
    const auto catalog = lstfuse::Catalog::load(a->catalog);
    lstfuse::pipeline::BenchmarkOptions o;
    o.entries = lstfuse::pipeline::parse_method_list(a->methods);
    o.protocol = a->protocol;
    o.train_fraction = a->train_fraction;
    o.reference = a->reference;
    o.out_dir = a->out;
    o.show_progress = !a->quiet;
    o.single_pair = a->single_pair;
    o.common_mask = !a->own_mask;
    o.training = a->training;
    o.coarse_only = a->coarse_only;
    o.coarse_bias = a->coarse_bias;
    if (a->data_range > 0) o.data_range = a->data_range;
    o.map_dates = parse_dates(a->map_dates);
    o.only_dates = parse_dates(a->dates);
    const auto extras = cmd->remaining();
    for (size_t i = 0; i < extras.size(); ++i) {
      const auto& x = extras[i];
      if (x.rfind("--", 0) != 0 || i + 1 >= extras.size())
        throw lstfuse::Error("method options are given as --name value, got '" + x + "'");
      o.shared_args.push_back(x.substr(2));
      o.shared_args.push_back(extras[++i]);
    }
    const auto res = lstfuse::pipeline::run_benchmark(catalog, o);
    lstfuse::pipeline::write_benchmark_tables(res, a->out);
    std::cout << fmt::format("benchmark: {} method(s) x {} date(s); tables in {}\n",
                             res.entries.size(), res.dates.size(), a->out);
    if (res.ranking) std::cout << lstfuse::pipeline::ranking_text(*res.ranking);
    if (!a->no_report) {
      const auto path = lstfuse::pipeline::write_html_report(res, a->out);
      std::cout << "report: " << path.string() << "\n";
    }
  });
}

}  // namespace

LSTFUSE_COMMAND(80, setup);
