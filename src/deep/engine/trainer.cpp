// The training loop every deep method shares: seeded split and sampling order, LR schedules,
// early stop on the monitored loss, best-weights restore, per-epoch checkpoints and resume.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/stop.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/deep/archive.hpp"
#include "lstfuse/deep/engine.hpp"

namespace lstfuse::deep {
namespace {

std::string model_bytes(const DeepModel& model) {
  torch::serialize::OutputArchive a;
  model.save(a);
  std::ostringstream os;
  a.save_to(os);
  return os.str();
}

void load_model_bytes(DeepModel& model, const std::string& bytes) {
  torch::serialize::InputArchive a;
  std::istringstream is(bytes);
  a.load_from(is);
  model.load(a);
}

double lr_for_step_schedule(const CommonOptions& o, int epoch) {
  return o.lr * std::pow(o.lr_gamma, epoch / std::max(1, o.lr_step));
}

struct State {
  int next_epoch = 0;
  double best = INFINITY;
  int best_epoch = -1;
  int bad_epochs = 0;
  int plateau_bad = 0;
  double lr = 0;
  std::string best_bytes;
  std::vector<double> train_hist, val_hist;
};

std::vector<double> tensor_to_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

void save_checkpoint(const std::filesystem::path& dir, const DeepModel& model, const State& st,
                     const std::string& meta) {
  std::filesystem::create_directories(dir);
  torch::serialize::OutputArchive a, m;
  model.save(m);
  a.write("model", m);
  a.write("meta", c10::IValue(meta));
  a.write("next_epoch", c10::IValue(static_cast<int64_t>(st.next_epoch)));
  a.write("best", c10::IValue(st.best));
  a.write("best_epoch", c10::IValue(static_cast<int64_t>(st.best_epoch)));
  a.write("bad_epochs", c10::IValue(static_cast<int64_t>(st.bad_epochs)));
  a.write("plateau_bad", c10::IValue(static_cast<int64_t>(st.plateau_bad)));
  a.write("lr", c10::IValue(st.lr));
  a.write("best_bytes", c10::IValue(st.best_bytes));
  a.write("train_hist", torch::tensor(st.train_hist, torch::kDouble));
  a.write("val_hist", torch::tensor(st.val_hist, torch::kDouble));
  // The torch RNG is not used after model creation (no dropout), and the sampling order is a
  // pure function of (seed, epoch), so epoch + weights + optimiser restore the run exactly.
  // Serialised in memory, then written with every byte checked: torch's own file writer aborts
  // the process when the disk fills (its destructor throws while an error unwinds).
  std::ostringstream bytes;
  a.save_to(bytes);
  write_bytes_atomic(dir / "checkpoint.pt", bytes.str());
}

bool load_checkpoint(const std::filesystem::path& dir, DeepModel& model, State& st, const std::string& meta) {
  const auto path = dir / "checkpoint.pt";
  if (!std::filesystem::exists(path)) return false;
  std::istringstream bytes(read_checked_archive(path.string(), "checkpoint"));
  torch::serialize::InputArchive a, m;
  try {
    a.load_from(bytes);
  } catch (const c10::Error& e) {
    throw file_error(path.string(), "not a readable checkpoint");
  }
  c10::IValue v;
  a.read("meta", v);
  if (v.toStringRef() != meta)
    throw file_error(path.string(), "the checkpoint belongs to a different method, options or training data; "
                                    "remove it or train without --resume");
  a.read("model", m);
  model.load(m);
  a.read("next_epoch", v); st.next_epoch = static_cast<int>(v.toInt());
  a.read("best", v); st.best = v.toDouble();
  a.read("best_epoch", v); st.best_epoch = static_cast<int>(v.toInt());
  a.read("bad_epochs", v); st.bad_epochs = static_cast<int>(v.toInt());
  a.read("plateau_bad", v); st.plateau_bad = static_cast<int>(v.toInt());
  a.read("lr", v); st.lr = v.toDouble();
  a.read("best_bytes", v); st.best_bytes = v.toStringRef();
  torch::Tensor t;
  a.read("train_hist", t); st.train_hist = tensor_to_vec(t);
  a.read("val_hist", t); st.val_hist = tensor_to_vec(t);
  return true;
}

// Validation patches. When the samples have at least three target dates, whole target dates
// are held out: the validation loss then measures what prediction needs, unseen dates, and
// early stop keeps a network that fits its training dates at the expense of the others from
// being chosen. With fewer dates (per-target training), a seeded share of the patches.
void split_validation(std::vector<PatchRef> all, const std::vector<Sample>& samples, double fraction,
                      std::mt19937_64& rng, std::vector<PatchRef>& train, std::vector<PatchRef>& val) {
  train.clear();
  val.clear();
  std::shuffle(all.begin(), all.end(), rng);
  const size_t want = static_cast<size_t>(std::floor(fraction * all.size()));
  std::map<int, size_t> per_target;
  for (const auto& p : all) ++per_target[samples[static_cast<size_t>(p.sample)].target];
  if (want == 0) {
    train = std::move(all);
    return;
  }
  if (per_target.size() < 3) {
    if (want >= all.size()) {
      train = std::move(all);
      return;
    }
    val.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(want));
    train.assign(all.begin() + static_cast<std::ptrdiff_t>(want), all.end());
    return;
  }
  std::vector<int> order;
  for (const auto& kv : per_target) order.push_back(kv.first);
  std::shuffle(order.begin(), order.end(), rng);
  std::set<int> held;
  size_t n = 0;
  // Seeded order; a date that would make the validation set more than twice the wanted share is
  // passed over, and at least one date always stays for training.
  for (int t : order) {
    if (n >= want || held.size() + 2 > per_target.size()) break;
    if (n + per_target[t] > 2 * want) continue;
    held.insert(t);
    n += per_target[t];
  }
  if (held.empty()) {
    held.insert(std::min_element(per_target.begin(), per_target.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; })->first);
  }
  for (const auto& p : all) (held.count(samples[static_cast<size_t>(p.sample)].target) ? val : train).push_back(p);
}

using Predictor = std::function<torch::Tensor(const Batch&)>;

// RMSE in kelvin of single-reference predictions over the valid pixels of `val`.
// A batch mixes references before and after their targets, and a model reads the side from a
// batch's first dt, so each side is predicted on its own.
double validation_rmse(const Predictor& predict, const PatchSet& data, const std::vector<PatchRef>& val, int bs,
                       torch::Device device) {
  const auto& k = data.kelvin_per_unit();
  double sq = 0, n = 0;
  for (size_t b = 0; b < val.size(); b += static_cast<size_t>(bs)) {
    std::vector<PatchRef> refs(val.begin() + b, val.begin() + std::min(val.size(), b + bs));
    const Batch batch = data.batch(refs, device);
    for (const bool before : {true, false}) {
      const auto idx = (before ? batch.dt > 0 : batch.dt <= 0).nonzero().view({-1});
      if (idx.numel() == 0) continue;
      const Batch side = select_samples(batch, idx);
      const auto err = (predict(side) - side.fine_target).to(torch::kCPU, torch::kDouble);
      const auto valid = side.mask.to(torch::kCPU).select(1, 0) > 0;
      for (int64_t c = 0; c < err.size(1); ++c) {
        const double kc = k.empty() ? 1.0 : k[std::min(static_cast<size_t>(c), k.size() - 1)];
        sq += err.select(1, c).pow(2).masked_select(valid).sum().item<double>() * kc * kc;
        n += valid.sum().item<double>();
      }
    }
  }
  return n > 0 ? std::sqrt(sq / n) : 0.0;
}

}  // namespace

TrainReport train(DeepModel& model, const PatchSet& data, const CommonOptions& opt, const FitContext& ctx,
                  torch::Device device, const std::string& checkpoint_meta, const std::function<double()>& elapsed_fn) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::function<double()> elapsed =
      elapsed_fn ? elapsed_fn : [t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  const auto out_of_budget = [&] { return opt.time_budget > 0 && elapsed() > opt.time_budget; };
  std::vector<PatchRef> all = data.patches();
  if (all.empty())
    throw Error(fmt::format("no training patch of {} x {} px has enough valid pixels in all four images of a pair "
                            "({} patch(es) tried, a patch as large as the images at most; see --min-valid, --patch)",
                            data.patch(), data.patch(), data.skipped()));
  std::mt19937_64 split_rng(static_cast<uint64_t>(opt.seed));
  std::vector<PatchRef> tr, val;
  split_validation(all, data.samples(), opt.val_fraction, split_rng, tr, val);
  // Validation runs before training and after every epoch: a bounded, seeded subset (the split
  // shuffled the patches, so the first ones are a random draw over the held-out dates).
  if (opt.val_patches > 0 && val.size() > static_cast<size_t>(opt.val_patches))
    val.resize(static_cast<size_t>(opt.val_patches));
  const int bs = std::max(1, opt.batch_size);

  State st;
  st.lr = opt.lr;
  if (ctx.resume && !ctx.checkpoint_dir.empty()) load_checkpoint(ctx.checkpoint_dir, model, st, checkpoint_meta);
  model.set_learning_rate(st.lr);
  // Terminals only: logs get the one-line summary DeepMethod prints after training.
  const bool progress = ctx.show_progress && !opt.quiet && isatty(fileno(stderr));

  TrainReport rep;
  rep.train_patches = static_cast<long long>(tr.size());
  rep.val_patches = static_cast<long long>(val.size());
  // Batches per epoch are the same every epoch (the seeded subset has a fixed size).
  size_t per_epoch = tr.size();
  if (opt.patches_per_epoch > 0) per_epoch = std::min(per_epoch, static_cast<size_t>(opt.patches_per_epoch));
  const size_t nb_epoch = (per_epoch + bs - 1) / bs;
  ProgressBar bar(model.name(), static_cast<long>(nb_epoch) * std::max(0, opt.epochs - st.next_epoch), progress);
  const int first_epoch = st.next_epoch;
  if (opt.monitor != "rmse" && opt.monitor != "loss")
    throw Error("unknown --monitor '" + opt.monitor + "' (rmse or loss)");
  const bool by_rmse = opt.monitor == "rmse";
  auto validation_loss = [&] {
    model.set_training(false);
    torch::NoGradGuard ng;
    if (by_rmse) return validation_rmse([&](const Batch& b) { return model.predict({b}); }, data, val, bs, device);
    double vs = 0;
    for (size_t b = 0; b < val.size(); b += bs) {
      std::vector<PatchRef> refs(val.begin() + b, val.begin() + std::min(val.size(), b + bs));
      vs += model.evaluate_loss(data.batch(refs, device)) * refs.size();
    }
    return vs / val.size();
  };
  rep.monitored = val.empty() ? "training loss" : by_rmse ? "validation RMSE" : "validation loss";
  // The untrained network is a candidate too (for STTFN it is the additive prediction): training
  // that only makes unseen dates worse keeps it.
  if (!val.empty() && st.next_epoch == 0 && !std::isfinite(st.best)) {
    st.best = validation_loss();
    st.best_epoch = -1;
    st.best_bytes = model_bytes(model);
  }
  // The additive baseline needs no training: scored once, it is the bar the network must clear.
  if (!val.empty()) {
    torch::NoGradGuard ng;
    rep.baseline_rmse = validation_rmse([&](const Batch& b) { return model.predict_baseline({b}); }, data, val, bs, device);
  }
  bool out_of_time = false;
  for (int epoch = st.next_epoch; epoch < opt.epochs && !out_of_time; ++epoch) {
    if (opt.lr_schedule == "step") st.lr = lr_for_step_schedule(opt, epoch);
    model.set_learning_rate(st.lr);
    std::vector<PatchRef> order = tr;
    std::mt19937_64 rng(static_cast<uint64_t>(opt.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), rng);
    // A fixed budget of patches per epoch: a seeded subset, different every epoch.
    if (opt.patches_per_epoch > 0 && order.size() > static_cast<size_t>(opt.patches_per_epoch))
      order.resize(static_cast<size_t>(opt.patches_per_epoch));
    if (opt.augment) {
      std::uniform_int_distribution<int> orientation(0, 7);
      for (auto& r : order) r.orientation = orientation(rng);
    }
    model.set_training(true);
    double sum = 0;
    size_t seen = 0;
    const size_t nb = (order.size() + bs - 1) / bs;
    for (size_t b = 0; b < nb; ++b) {
      stop_point("training");
      std::vector<PatchRef> refs(order.begin() + b * bs, order.begin() + std::min(order.size(), (b + 1) * bs));
      auto losses = model.train_step(data.batch(refs, device));
      sum += losses.at("loss") * refs.size();
      seen += refs.size();
      if (out_of_budget()) {
        out_of_time = true;
        break;
      }
      if (progress) {
        bar.update(static_cast<long>((epoch - first_epoch) * nb + b + 1),
                   fmt::format("epoch {}/{} loss {:.5f} lr {:.2e}", epoch + 1, opt.epochs, sum / seen, st.lr));
      }
    }
    const double train_loss = seen ? sum / seen : 0.0;
    double monitored = train_loss;
    if (!val.empty()) {
      monitored = validation_loss();
      st.val_hist.push_back(monitored);
    }
    st.train_hist.push_back(train_loss);
    const bool improved = !std::isfinite(st.best) || monitored < st.best * (1.0 - opt.min_delta);
    if (improved) {
      st.best = monitored;
      st.best_epoch = epoch;
      st.bad_epochs = 0;
      st.plateau_bad = 0;
      st.best_bytes = model_bytes(model);
    } else {
      ++st.bad_epochs;
      if (opt.lr_schedule == "plateau" && ++st.plateau_bad >= std::max(1, opt.plateau_patience)) {
        st.lr *= opt.lr_gamma;
        st.plateau_bad = 0;
      }
    }
    st.next_epoch = epoch + 1;
    // Validation counts too: an epoch whose validation ends past the budget is the last.
    if (out_of_budget()) out_of_time = true;
    const bool stop = (opt.patience > 0 && st.bad_epochs >= opt.patience) || out_of_time;
    if (stop) st.next_epoch = opt.epochs;  // a resumed run after an early stop does nothing more
    if (!ctx.checkpoint_dir.empty()) save_checkpoint(ctx.checkpoint_dir, model, st, checkpoint_meta);
    if (stop) break;
  }
  if (progress) bar.finish(fmt::format("best {} {:.5f}", rep.monitored, st.best));
  if (!st.best_bytes.empty()) load_model_bytes(model, st.best_bytes);
  model.set_training(false);
  rep.epochs_run = static_cast<int>(st.train_hist.size());
  rep.best_epoch = st.best_epoch + 1;
  rep.best_loss = st.best;
  rep.final_train_loss = st.train_hist.empty() ? 0.0 : st.train_hist.back();
  rep.train_history = st.train_hist;
  rep.val_history = st.val_hist;
  if (!val.empty()) {
    if (by_rmse && std::isfinite(st.best)) {
      rep.network_rmse = st.best;  // the kept network's own score
    } else {
      torch::NoGradGuard ng;
      rep.network_rmse = validation_rmse([&](const Batch& b) { return model.predict({b}); }, data, val, bs, device);
    }
    // Better by more than --min-delta: a tie (STTFN's untrained network is the baseline) keeps the network.
    rep.kept_baseline = rep.baseline_rmse < rep.network_rmse * (1.0 - opt.min_delta);
  }
  rep.out_of_time = out_of_time;
  rep.seconds = elapsed();
  return rep;
}

}  // namespace lstfuse::deep
