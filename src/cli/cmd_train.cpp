// `lstfuse train`: fits a deep method on catalog pairs and writes one model file.
//   per target: --date D  (the pairs pipeline::choose_pairs picks for D: before and after)
//   series:     --series [--exclude D1,D2]  (every pair except the excluded dates)
// Method flags (--epochs, --sttfn.loss, ...) go to the method's OptionSet (method_flags.hpp).
#include <algorithm>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "command.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/inputs.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "common_flags.hpp"
#include "method_flags.hpp"

namespace cmd_train {

namespace {

struct TrainArgs {
  std::string method, catalog, date, output, exclude;
  bool series = false, resume = false;
};

namespace fs = std::filesystem;

// Entries of OUTPUT.ckpt/ that train writes: its checkpoint and that file's temporaries
// (checkpoint.pt.part-HOST-PID...). The checkpoint is a torch archive (zip, stored uncompressed)
// whose record names include the trainer's own state, "plateau_bad": another program's
// checkpoint.pt is not taken for it.
bool own_checkpoint_entry(const fs::directory_entry& e) {
  const std::string name = e.path().filename().string();
  std::error_code ec;
  if (!e.is_regular_file(ec) || e.is_symlink(ec)) return false;
  if (name.rfind("checkpoint.pt.part-", 0) == 0) return true;
  return name == "checkpoint.pt" && lstfuse::torch_archive_holds(e.path(), "plateau_bad");
}

// OUTPUT.ckpt/ is train's own folder: checkpoints go there and it is removed when training ends.
// A file or link of that name, or a folder holding anything else, is the user's: refused before
// any work, never trained into or removed.
void check_checkpoint_folder(const fs::path& ckpt) {
  using lstfuse::file_error;
  std::error_code ec;
  const auto st = fs::symlink_status(ckpt, ec);
  if (!fs::exists(st)) return;
  const std::string why = " ('lstfuse train' keeps its checkpoints in OUTPUT.ckpt/ and removes it when done): "
                          "choose another -o, or move it";
  if (!fs::is_directory(st)) throw file_error(ckpt.string(), "exists and is not a checkpoint folder" + why);
  for (const auto& e : fs::directory_iterator(ckpt, ec))
    if (!own_checkpoint_entry(e))
      throw file_error(ckpt.string(), "holds " + e.path().filename().string() + ", which train did not write" + why);
  if (ec) throw file_error(ckpt.string(), "cannot list its contents (" + ec.message() + ")");
}

// Removes what train wrote into OUTPUT.ckpt/, then the folder if nothing else is in it.
void remove_checkpoint_folder(const fs::path& ckpt) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(ckpt, ec))) return;
  std::vector<fs::path> own;
  for (const auto& e : fs::directory_iterator(ckpt, ec))
    if (own_checkpoint_entry(e)) own.push_back(e.path());
  for (const auto& p : own) fs::remove(p, ec);
  if (fs::is_empty(ckpt, ec) && !ec) fs::remove(ckpt, ec);
}

void run(const TrainArgs& a, const lstfuse::cli::MethodFlags& flags) {
  using namespace lstfuse;
  check_output_file(a.output, "-o", {flags.options_file(), (std::filesystem::path(a.catalog) / Catalog::kManifest).string()},
                    cli::model_file_kind());
  check_checkpoint_folder(a.output + ".ckpt");
  auto method = method_registry().create(a.method);
  if (!method->info().trainable)
    throw Error(fmt::format("method '{}' is not trained (it needs no `lstfuse train`)", a.method));
  flags.apply(*method);
  if (a.series == !a.date.empty()) throw Error("train: give either --date D (per target) or --series");
  const auto exclude = cli::parse_date_list(a.exclude, "--exclude");
  const std::optional<Date> target_date =
      a.date.empty() ? std::nullopt : std::optional<Date>(cli::parse_date_flag(a.date, "--date"));
  const Catalog catalog = Catalog::load(a.catalog);
  // A date that is not a pair date excludes nothing: a typo would leave the meant date in training.
  {
    const auto pairs = catalog.pair_dates();
    for (const Date& d : exclude)
      if (std::find(pairs.begin(), pairs.end(), d) == pairs.end())
        throw Error(fmt::format("train: --exclude {} is not a pair date of {} (nothing to exclude)", d.iso(), a.catalog));
  }
  FitContext ctx;
  ctx.checkpoint_dir = std::filesystem::path(a.output + ".ckpt");
  ctx.resume = a.resume;
  std::vector<Date> dates;
  if (a.series) {
    for (const Date& d : catalog.pair_dates())
      if (std::find(exclude.begin(), exclude.end(), d) == exclude.end()) dates.push_back(d);
    if (dates.size() < 2)
      throw Error(fmt::format("{}: series training needs at least two pairs, the catalog has {} (after --exclude)",
                              a.catalog, dates.size()));
  } else {
    const Date target = *target_date;
    auto choice = pipeline::choose_pairs(catalog, target, method->info(), exclude);
    dates = choice.dates;
    ctx.target_dates = {target};
    if (dates.size() < 2)
      throw Error(fmt::format("{}: training for {} needs two pairs, found {}", a.catalog, target.iso(), dates.size()));
    std::cerr << fmt::format("train: {} for {} from pairs {} and {} ({})\n", a.method, target.iso(),
                             dates[0].iso(), dates[1].iso(), choice.note);
  }
  const auto pairs = pipeline::load_pairs(catalog, dates);
  try {
    method->fit(pairs, ctx);
  } catch (...) {
    // A checkpoint folder is kept for --resume; one without a checkpoint is only clutter.
    std::error_code ec;
    if (std::filesystem::is_directory(ctx.checkpoint_dir, ec) && std::filesystem::is_empty(ctx.checkpoint_dir, ec))
      std::filesystem::remove(ctx.checkpoint_dir, ec);
    throw;
  }
  method->save(a.output);
  remove_checkpoint_folder(ctx.checkpoint_dir);  // the run finished; the model file is what counts
  std::cerr << fmt::format("train: wrote {}\n", a.output);
}

void setup(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a deep fusion method on catalog pairs and save the model");
  cmd->add_option("--method,-m", a->method, "Method name (see `lstfuse methods`)")->required();
  cmd->add_option("--catalog,-c", a->catalog, "Catalog folder")->required();
  cmd->add_option("--date,-d", a->date, "Target date (per-target training on the pairs around it)")->check(lstfuse::cli::non_empty());
  cmd->add_flag("--series", a->series, "Series training on all pairs of the catalog");
  cmd->add_option("--exclude", a->exclude, "Comma-separated dates never used for training")->check(lstfuse::cli::non_empty());
  cmd->add_option("--output,-o", a->output, "Model file to write")->required();
  cmd->add_flag("--resume", a->resume, "Continue from OUTPUT.ckpt/ after an interruption");
  // Unknown flags are collected and refused by MethodFlags with our one-line error.
  cmd->allow_extras();
  auto flags = lstfuse::cli::MethodFlags::bind(cmd, true, [](const lstfuse::MethodInfo& i) { return i.trainable; });
  cmd->callback([a, flags] { run(*a, *flags); });
}

}  // namespace

LSTFUSE_COMMAND(30, setup);

}  // namespace cmd_train
