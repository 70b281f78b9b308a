#include "lstfuse/deep/deep_method.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/json_number.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/deep/archive.hpp"
#include "lstfuse/methods/tiling.hpp"

namespace lstfuse::deep {

DeepMethod::DeepMethod(std::unique_ptr<DeepFamily> family)
    : family_(std::move(family)), info_(family_->info()), options_(family_->info().name) {
  info_.trainable = true;
  common_.apply(family_->train_defaults());
  common_.bind(options_);
  family_->bind(options_);
  defaults_ = options_.to_json();
  options_.forget_given();  // the family's defaults are not the user's
}

int DeepMethod::halo() const {
  if (!model_) return 0;
  sync_prediction_options();
  return model_->halo();
}

void DeepMethod::sync_prediction_options() const {
  if (!model_) return;
  OptionSet own(info_.name);
  model_->bind_options(own);
  for (const auto& o : options_.list())
    if (o.at_prediction && own.has(o.name)) own.set(o.name, o.get());
}
int DeepMethod::tile_alignment() const { return model_ ? model_->tile_alignment() : 1; }

torch::Device DeepMethod::device() const { return resolve_device(common_.device); }

std::string DeepMethod::meta_json() const {
  nlohmann::json dates = nlohmann::json::array();
  for (const auto& d : train_dates_) dates.push_back(d.iso());
  nlohmann::json j = {{"format", "lstfuse-deep-model"},
                      {"format_version", 1},
                      {"method", info_.name},
                      {"lstfuse_version", LSTFUSE_VERSION},
                      {"bands", bands_},
                      {"options", options_.to_json()},
                      {"normalisation", norm_.to_json()},
                      {"train_dates", dates}};
  if (!baseline_.is_null()) j["baseline"] = baseline_;
  if (context_.enabled()) j["series_context"] = context_.to_json();
  return j.dump();
}

void DeepMethod::fit(const std::vector<ImagePair>& pairs, const FitContext& ctx) {
  const auto t_fit = std::chrono::steady_clock::now();  // the time budget counts from here
  if (pairs.size() < 2) throw Error(fmt::format("{}: training needs at least two pairs, got {}", info_.name, pairs.size()));
  baseline_kept_ = false;
  baseline_ = nlohmann::json();
  baseline_note_.clear();
  std::vector<ImagePair> sorted = pairs;
  std::sort(sorted.begin(), sorted.end(), [](const ImagePair& a, const ImagePair& b) { return a.date < b.date; });
  const int bands = sorted.front().fine.bands();
  for (const auto& p : sorted) {
    if (p.fine.bands() != bands || p.coarse.bands() != bands)
      throw Error(fmt::format("{}: the pair of {} has a different band count", info_.name, p.date.iso()));
  }
  // From here the method's state changes: a fit that fails (or is stopped, core/stop.hpp) leaves
  // it unfitted, so that nothing predicts with a part-set normalisation or part-trained network.
  model_.reset();
  set_threads(common_.threads);
  const auto dev = device();
  torch::manual_seed(static_cast<uint64_t>(common_.seed));
  bands_ = bands;
  model_file_.clear();
  train_dates_.clear();
  for (const auto& p : sorted) train_dates_.push_back(p.date);
  norm_ = Normaliser::fit(common_.normalise, sorted);
  auto samples = make_samples(sorted, common_.neighbours, common_.max_gap);
  if (samples.empty()) throw Error(fmt::format("{}: no training sample (pairs farther apart than --max-gap?)", info_.name));
  if (common_.series_context != "none" && !family_->supports_series_context())
    throw Error(fmt::format("{}: --series-context is not available for this network", info_.name));
  context_ = SeriesContext::build(common_.series_context, sorted, norm_);
  family_->set_context_channels(context_.enabled() ? context_.channels() : 0);
  PatchSet data(sorted, norm_, samples, common_.patch, common_.stride, common_.min_valid,
                common_.frame == "relative", &context_);
  model_ = family_->create_model(bands, common_.lr);
  frame_ = common_.frame;
  model_->set_kelvin_per_unit(norm_.scale);
  model_->to(dev);
  // Resume only continues the same run: same data, options and normalisation; the epoch budget,
  // device, threads and display may change between the interrupted and the resumed run.
  auto ck = nlohmann::json::parse(meta_json());
  for (const char* k : {"epochs", "device", "threads", "quiet", "tile", "patience", "time-budget"}) ck["options"].erase(k);
  ck.erase("lstfuse_version");
  try {
    report_ = train(*model_, data, common_, ctx, dev, ck.dump(), [t_fit] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_fit).count();
    });
  } catch (...) {
    model_.reset();
    throw;
  }
  set_baseline_choice(*report_);
  // One summary line always (logs and CI see it); the per-batch bar is for terminals only.
  const std::string best_at = report_->best_epoch == 0
                                  ? std::string("the untrained network (training did not improve validation)")
                                  : fmt::format("epoch {}", report_->best_epoch);
  const std::string best = report_->monitored == "validation RMSE"
                               ? fmt::format("validation RMSE {:.3f} K", report_->best_loss)
                               : fmt::format("{} {:.5f}", report_->monitored, report_->best_loss);
  spdlog::info("{}: {} epoch(s){}, best {} at {}, {} training / {} validation patches, {:.1f} s",
               info_.name, report_->epochs_run, report_->out_of_time ? " (time budget reached)" : "", best, best_at,
               report_->train_patches, report_->val_patches, report_->seconds);
  if (baseline_kept_) spdlog::warn("{}: {}", info_.name, baseline_note_);
}

void DeepMethod::set_baseline_choice(const TrainReport& r) {
  baseline_kept_ = r.kept_baseline;
  baseline_ = nlohmann::json::object();
  baseline_["kept"] = r.kept_baseline;
  baseline_["candidate"] = "additive estimate L_ref + (M_0 - M_ref), combined by the family's weighting";
  if (std::isfinite(r.baseline_rmse)) baseline_["validation_rmse_baseline"] = r.baseline_rmse;
  if (std::isfinite(r.network_rmse)) baseline_["validation_rmse_network"] = r.network_rmse;
  baseline_note_ = r.kept_baseline ? baseline_message(r.network_rmse, r.baseline_rmse) : std::string();
}

std::string DeepMethod::baseline_message(double network_rmse, double baseline_rmse) {
  return fmt::format("the trained network scored worse than its additive baseline on validation "
                     "({:.3f} K against {:.3f} K): the model keeps the baseline",
                     network_rmse, baseline_rmse);
}

void DeepMethod::save(const std::filesystem::path& path) const {
  if (!model_) throw file_error(path.string(), info_.name + " has no trained model to save (train it first)");
  torch::serialize::OutputArchive a, m;
  model_->save(m);
  a.write("meta", c10::IValue(meta_json()));
  a.write("model", m);
  context_.save(a);
  std::ostringstream bytes;  // in memory first: see write_bytes_atomic
  a.save_to(bytes);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) throw file_error(path.string(), "cannot create its folder (" + ec.message() + ")");
  write_bytes_atomic(path, bytes.str());
}

void DeepMethod::check_grid(const Grid& scene) const {
  if (context_.enabled()) context_.locate(scene, info_.name);
}

void DeepMethod::load(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw file_error(path.string(), "no such model file");
  // Checked before torch parses it: torch's reader crashes on some damaged records.
  std::istringstream bytes(read_checked_archive(path.string(), "model file"));
  torch::serialize::InputArchive a, m;
  nlohmann::json meta;
  try {
    a.load_from(bytes);
    c10::IValue v;
    a.read("meta", v);
    meta = nlohmann::json::parse(v.toStringRef());
  } catch (const std::exception& e) {
    throw file_error(path.string(), "not an lstfuse deep model file");
  }
  // A field of another JSON type reads as absent (json::value would throw its own type error).
  const auto text_field = [&meta](const char* key) {
    const auto it = meta.is_object() ? meta.find(key) : meta.end();
    return it != meta.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (text_field("format") != "lstfuse-deep-model")
    throw file_error(path.string(), "not an lstfuse deep model file");
  // A newer format may mean other fields than this version reads: refused rather than guessed.
  if (meta.contains("format_version") &&
      !(meta["format_version"].is_number_integer() && meta["format_version"].get<long long>() >= 1 &&
        meta["format_version"].get<long long>() <= 1))
    throw file_error(path.string(), fmt::format("model format version {} is not one this lstfuse reads (1)",
                                                meta["format_version"].dump().substr(0, 20)));
  const std::string method = text_field("method");
  if (method != info_.name)
    throw file_error(path.string(), fmt::format("the model was trained for '{}', not '{}'", method, info_.name));
  // Saved options apply except those the user set since construction (e.g. --device at predict).
  // One the user set that only acts in training (the network, its loss, its normalisation) and
  // that differs from the model's is refused: it was kept and ignored without a word.
  const auto current = options_.to_json();
  std::set<std::string> at_prediction;
  for (const auto& o : options_.list())
    if (o.at_prediction) at_prediction.insert(o.name);
  nlohmann::json restore = nlohmann::json::object();
  std::string conflict;
  try {
    for (const auto& [k, v] : meta.at("options").items()) {
      if (!options_.has(k)) continue;  // an option a newer version dropped
      // Set by the user: off its default, and not the value an earlier load() put there (fuse
      // loads several models into one method).
      const bool user_set = current.contains(k) && options_.was_given(k) &&
                            !(restored_.contains(k) && restored_.at(k) == current.at(k));
      if (user_set) {
        if (!at_prediction.count(k) && current.at(k) != v && conflict.empty())
          conflict = fmt::format("{} {} was given, but the model was trained with {} {}: only the options "
                                 "'lstfuse methods {}' marks (at prediction) act on a trained model",
                                 k, current.at(k).dump(), k, v.dump(), info_.name);
        continue;
      }
      restore[k] = v;
    }
    options_.from_json(restore);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path.string(), "damaged model file: " + json_problem(e));
  } catch (const Error& e) {
    throw file_error(path.string(), std::string("damaged model file: ") + e.what());
  }
  if (!conflict.empty()) throw file_error(path.string(), conflict);
  {
    const auto now = options_.to_json();
    for (const auto& [k, v] : restore.items()) restored_[k] = now.at(k);
  }
  // Options added after models were first saved take, in files that lack them, the values those
  // models were trained with: the engine's (the relative frame came later; models before it were
  // trained in the absolute one), then the family's.
  try {
    auto legacy = family_->legacy_options();
    legacy.emplace("frame", "absolute");
    for (const auto& [k, v] : legacy)
      if (!meta.at("options").contains(k)) {
        options_.set(k, v);
        restored_[k] = options_.to_json().at(k);
      }
    norm_ = Normaliser::from_json(meta.at("normalisation"));
    bands_ = json_int(meta.at("bands"), "bands");
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path.string(), "damaged model file: " + json_problem(e));
  } catch (const Error& e) {
    throw file_error(path.string(), std::string("damaged model file: ") + e.what());
  }
  // A zero or non-finite scale would turn every prediction into NaN or infinity.
  if (bands_ < 1 || norm_.mean.size() != static_cast<size_t>(bands_) || norm_.scale.size() != static_cast<size_t>(bands_))
    throw file_error(path.string(), "damaged model file: the normalisation does not match its band count");
  for (int b = 0; b < bands_; ++b) {
    if (!std::isfinite(norm_.mean[b]) || !std::isfinite(norm_.scale[b]) || !(norm_.scale[b] > 0)) {
      throw file_error(path.string(), fmt::format("damaged model file: normalisation of band {} has mean {} and "
                                                  "scale {} (the scale must be a positive number)",
                                                  b + 1, norm_.mean[b], norm_.scale[b]));
    }
  }
  try {
    train_dates_.clear();
    for (const auto& d : meta.at("train_dates")) train_dates_.push_back(Date::parse(d.get<std::string>()));
    // Models saved before the baseline existed predict with their network.
    baseline_ = meta.value("baseline", nlohmann::json());
    baseline_kept_ = baseline_.is_object() && baseline_.value("kept", false);
    baseline_note_ = baseline_kept_ ? baseline_message(baseline_.value("validation_rmse_network", NAN),
                                                       baseline_.value("validation_rmse_baseline", NAN))
                                    : std::string();
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path.string(), "damaged model file: " + json_problem(e));
  } catch (const Error& e) {
    throw file_error(path.string(), std::string("damaged model file: ") + e.what());
  }
  try {
    context_ = meta.contains("series_context") ? SeriesContext::load(meta.at("series_context"), a) : SeriesContext();
  } catch (const std::exception& e) {
    throw file_error(path.string(), std::string("the series context cannot be read: ") + e.what());
  }
  family_->set_context_channels(context_.enabled() ? context_.channels() : 0);
  auto model = family_->create_model(bands_, common_.lr);
  model->set_kelvin_per_unit(norm_.scale);
  try {
    a.read("model", m);
    model->load(m);
  } catch (const c10::Error& e) {
    throw file_error(path.string(), "the model weights do not match the network (corrupt or other version)");
  }
  model_ = std::move(model);
  model_file_ = path.string();
  frame_ = common_.frame;
  if (baseline_kept_) spdlog::info("{}: {}", info_.name, baseline_note_);
}

FusionResult DeepMethod::predict(const FusionInput& in) {
  validate(in);
  if (!model_) throw Error(info_.name + ": no trained model (run `lstfuse train` and pass --model)");
  if (in.coarse.bands() != bands_) {
    // Named by its file when it came from one: the images are the catalog's, the model the odd one.
    const std::string what = fmt::format("the model has {} band(s), the images {}", bands_, in.coarse.bands());
    if (!model_file_.empty()) throw file_error(model_file_, fmt::format("{} model: {}", info_.name, what));
    throw Error(fmt::format("{}: {}", info_.name, what));
  }
  sync_prediction_options();
  set_threads(common_.threads);
  const auto dev = device();
  model_->to(dev);
  model_->set_training(false);
  torch::NoGradGuard no_grad;

  const int W = in.coarse.width(), H = in.coarse.height(), B = bands_;
  const int R = static_cast<int>(in.pairs.size());
  auto* hooks = dynamic_cast<PredictionHooks*>(model_.get());
  if (hooks) {
    // Whole-scene coarse means (network units), so tiles see the scene's context: from the
    // tiled driver's scene statistics when this input is one of its tiles, else from the input.
    SceneContext sc;
    auto to_units = [&](const BandStats& s, int b) { return s.count ? (s.mean - norm_.mean[b]) / norm_.scale[b] : 0.0; };
    auto mean_of = [&](const Raster& r) {
      std::vector<double> out;
      for (int b = 0; b < B; ++b) out.push_back(to_units(band_stats(r, b), b));
      return out;
    };
    auto scene_mean = [&](const std::vector<BandStats>& st, const Raster& fallback) {
      if (static_cast<int>(st.size()) != B) return mean_of(fallback);
      std::vector<double> out;
      for (int b = 0; b < B; ++b) out.push_back(to_units(st[b], b));
      return out;
    };
    // Whole-scene means where the tiled driver gave the scene's statistics for these dates.
    const SceneStats* stats = in.scene_stats.get();
    bool scene = stats != nullptr;
    for (const auto& p : in.pairs) scene = scene && stats->index_of(p.date) >= 0;
    for (const auto& p : in.pairs)
      sc.coarse_ref_mean.push_back(scene ? scene_mean(stats->coarse[stats->index_of(p.date)], p.coarse)
                                         : mean_of(p.coarse));
    sc.coarse_target_mean = scene ? scene_mean(stats->target, in.coarse) : mean_of(in.coarse);
    hooks->set_scene_context(sc);
  }

  FusionResult res;
  res.fine = Raster(in.coarse.grid(), B, 0.0f, false);
  res.fine.units = "K";
  res.fine.band_names = in.coarse.band_names;
  res.quality = Raster(in.coarse.grid(), 2, 0.0f, true);
  res.quality.units = "";
  res.quality.band_names = {"references_used", "weight_first_reference"};

  // Tiles on the model's pooling/stride grid: otherwise a user's tile size would move the
  // pooling windows and change the result.
  const int halo = model_->halo();
  const int tile_w = prediction_tile(common_.tile, model_->tile_alignment(), halo, W, common_.merge_small_scenes);
  const int tile_h = prediction_tile(common_.tile, model_->tile_alignment(), halo, H, common_.merge_small_scenes);
  // Only tiles that touch the requested region (a tiled driver asks for its tile core).
  const PixelRect want = in.region.whole() ? PixelRect{0, 0, W, H} : in.region;
  const bool relative = frame_ == "relative";
  // Series features are per pixel of the training grid: find this input in it (or say why not).
  std::pair<int, int> ctx_at{0, 0};
  if (context_.enabled()) ctx_at = context_.locate(in.coarse.grid(), info_.name);
  for (int ty = 0; ty < H; ty += tile_h) {
    for (int tx = 0; tx < W; tx += tile_w) {
      const int tw = std::min(tile_w, W - tx), th = std::min(tile_h, H - ty);
      if (tx >= want.x0 + want.width || tx + tw <= want.x0 || ty >= want.y0 + want.height || ty + th <= want.y0)
        continue;
      // The window never leaves the scene: zero padding at scene edges then matches untiled runs.
      const TileWindow win = tile_window(tx, ty, tw, th, halo, W, H);
      const int x0 = win.x0, y0 = win.y0, w = win.w, h = win.h;
      const auto target = to_tensor(in.coarse, norm_, x0, y0, w, h);
      std::vector<Batch> refs;
      std::vector<torch::Tensor> ref_valid;
      torch::Tensor context;
      if (context_.enabled())
        context = context_.features(context_.window(ctx_at.first + x0, ctx_at.second + y0, w, h), target.values,
                                    target.valid).to(dev);
      for (const auto& p : in.pairs) {
        auto f = to_tensor(p.fine, norm_, x0, y0, w, h);
        auto c = to_tensor(p.coarse, norm_, x0, y0, w, h);
        Batch b;
        b.fine_ref = (relative ? relative_to(f, target) : f.values).to(dev);
        b.coarse_ref = (relative ? relative_to(c, target) : c.values).to(dev);
        b.coarse_target = (relative ? torch::zeros_like(target.values) : target.values).to(dev);
        b.mask = (f.valid * c.valid).to(dev);
        b.dt = torch::full({1}, static_cast<float>(in.date - p.date)).to(dev);
        b.relative = relative;
        b.context = context;
        ref_valid.push_back(f.valid * c.valid);
        refs.push_back(std::move(b));
      }
      // Where only one reference is valid (a cloud in the other), a family's two-reference
      // combination would mix in the neutral fill of the invalid one: the valid reference alone
      // predicts there, for every family alike. Families hand over the single predictions they
      // computed on the way, so a cloud does not make the networks run again.
      std::vector<torch::Tensor> only, singles;
      std::vector<bool> need_single(static_cast<size_t>(R), false);
      if (R == 2) {
        only = {ref_valid[0] * (1 - ref_valid[1]), ref_valid[1] * (1 - ref_valid[0])};
        for (int k = 0; k < 2; ++k) need_single[k] = only[k].sum().item<float>() > 0.0f;
      }
      torch::Tensor out, weights;
      if (baseline_kept_) {
        out = model_->predict_baseline(refs, &weights);
        singles.assign(refs.size(), torch::Tensor());
        for (int k = 0; k < R; ++k)
          if (need_single[k]) singles[k] = model_->predict_baseline({refs[k]});
      } else {
        out = model_->predict_with_singles(refs, need_single, singles);
        if (hooks) weights = hooks->last_reference_weights();
      }
      out = out.to(torch::kCPU).contiguous();
      if (weights.defined()) weights = weights.to(torch::kCPU).contiguous();
      if (R == 2) {
        for (int k = 0; k < 2; ++k) {
          if (!need_single[k]) continue;
          auto single = singles[k].to(torch::kCPU);
          out = torch::where(only[k] > 0, single, out).contiguous();
          if (weights.defined()) {
            // (1, R, h, w): all weight on reference k.
            const auto one = torch::ones_like(only[k]), zero = torch::zeros_like(only[k]);
            const auto w_k = k == 0 ? torch::cat({one, zero}, 1) : torch::cat({zero, one}, 1);
            weights = torch::where(only[k] > 0, w_k, weights).contiguous();
          }
        }
      }
      if (relative) out = (out + target.values).contiguous();  // back from the relative frame
      auto nvalid = torch::zeros({1, 1, h, w});
      for (const auto& v : ref_valid) nvalid += v;
      auto ok = (target.valid * (nvalid > 0).to(torch::kFloat)).contiguous();
      const float* po = out.data_ptr<float>();
      const float* pk = ok.data_ptr<float>();
      const float* pn = nvalid.data_ptr<float>();
      const float* pw = weights.defined() ? weights.data_ptr<float>() : nullptr;
      const int ox = win.region.x0, oy = win.region.y0;
#pragma omp parallel for schedule(static)
      for (int y = 0; y < th; ++y) {
        for (int x = 0; x < tw; ++x) {
          const size_t src = static_cast<size_t>(y + oy) * w + (x + ox);
          bool valid = pk[src] > 0;
          // A non-finite network output (corrupt weights) is never a valid pixel.
          for (int b = 0; b < B && valid; ++b)
            valid = std::isfinite(po[static_cast<size_t>(b) * h * w + src] * norm_.scale[b] + norm_.mean[b]);
          for (int b = 0; b < B; ++b) {
            res.fine.at(b, ty + y, tx + x) =
                valid ? static_cast<float>(po[static_cast<size_t>(b) * h * w + src] * norm_.scale[b] + norm_.mean[b]) : 0.0f;
            res.fine.set_valid(b, ty + y, tx + x, valid);
          }
          res.quality.at(0, ty + y, tx + x) = valid ? pn[src] : 0.0f;
          res.quality.at(1, ty + y, tx + x) = !valid ? 0.0f : pw ? pw[src] : (R == 1 ? 1.0f : 0.0f);
          res.quality.set_valid(1, ty + y, tx + x, valid && (pw || R == 1));
        }
      }
    }
  }
  return res;
}

}  // namespace lstfuse::deep
