// Engine data side: options, device/threads, normalisation, samples and masked patches, losses.
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/threads.hpp"
#include "lstfuse/deep/block_cache.hpp"
#include "lstfuse/deep/engine.hpp"
#include "lstfuse/methods/tiling.hpp"

namespace lstfuse::deep {

namespace {
// Process-wide, at load time: a network's activations are blocks of several MB (a 268 x 268
// tile of 32 channels is 9 MB) that are freed and allocated again for every layer and tile.
// glibc's default thresholds hand such blocks to mmap, or trim them from the heap top, so every
// block goes back to the OS and is page-faulted in again (millions of faults per scene, a third
// of prediction time). Keeping blocks up to 32 MB (glibc's maximum) in the heap and trimming
// only beyond 256 MB of free top reuses them; the price is that up to that much freed memory
// stays mapped until it is reused or the process ends. It has to be process-wide: LibTorch allocates with malloc.
const bool allocator_tuned = [] {
  install_block_cache();  // blocks over glibc's largest mmap threshold (block_cache.hpp)
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
}();
}  // namespace

bool allocator_tuned_for_networks() { return allocator_tuned; }

void CommonOptions::apply(const TrainDefaults& d) {
  epochs = d.epochs;
  batch_size = d.batch_size;
  lr = d.lr;
  patch = d.patch;
  stride = d.stride;
  lr_schedule = d.lr_schedule;
  lr_step = d.lr_step;
  lr_gamma = d.lr_gamma;
  plateau_patience = d.plateau_patience;
  normalise = d.normalise;
  frame = d.frame;
  tile = d.tile;
}

void CommonOptions::bind(OptionSet& o) {
  o.add("epochs", epochs, "Training epochs (upper bound; early stop may end sooner)");
  o.add("batch-size", batch_size, "Patches per training batch");
  o.add("lr", lr, "Initial Adam learning rate");
  o.add("patch", patch, "Training patch size in fine pixels");
  o.add("stride", stride, "Stride between training patches");
  o.add("seed", seed, "Random seed (weights, split, sampling order)");
  o.add_choice("device", device, {"auto", "cpu", "cuda"}, "Compute device (auto: CUDA when available)");
  o.add("threads", threads, "CPU threads for torch (0: all hardware threads)");
  o.add_choice("lr-schedule", lr_schedule, {"step", "plateau"}, "Learning-rate schedule");
  o.add("lr-step", lr_step, "Step schedule: epochs between decays");
  o.add("lr-gamma", lr_gamma, "Decay factor of the learning rate");
  o.add("plateau-patience", plateau_patience, "Plateau schedule: epochs without improvement before a decay");
  o.add("patience", patience, "Early stop after this many epochs without improvement (0: never)");
  o.add("min-delta", min_delta, "Relative loss improvement that counts for early stop");
  o.add("val-fraction", val_fraction, "Share of patches held out for validation");
  o.add_choice("monitor", monitor, {"rmse", "loss"},
               "Validation ranks epochs by the RMSE in kelvin of the predictions, or by the training loss");
  o.add("min-valid", min_valid, "Skip patches whose valid-pixel share is below this");
  o.add("neighbours", neighbours, "Series mode: pairs on each side each pair learns from");
  o.add("max-gap", max_gap, "Series mode: largest reference-target gap in days (0: any)");
  o.add_choice("normalise", normalise, {"std", "center", "none"},
               "Kelvin scaling: (x-mean)/std or x-mean of the training fine images, or none");
  o.add_choice("frame", frame, {"relative", "absolute"},
               "relative: images minus the target's coarse image, so the network never sees the "
               "season's level (generalises across dates); absolute: as published");
  o.add("augment", augment, "Train on randomly flipped and rotated patches (8 orientations, seeded)");
  o.add("tile", tile, "Prediction tile size in pixels (a halo is added around it)");
  o.add_choice("series-context", series_context, {"none", "mean", "fit"},
               "Per-pixel series features as extra network inputs, from the training pairs: the mean "
               "and spread of fine - coarse (mean), plus the anomaly of a per-pixel fit fine = a + b "
               "coarse at the target date (fit); predicts on the training grid only");
  o.add("patches-per-epoch", patches_per_epoch,
        "Training patches drawn (seeded) each epoch; 0: all of them");
  o.add("time-budget", time_budget,
        "Seconds for the whole fit, validation included; training stops within one epoch after "
        "(best weights kept); 0: no limit");
  o.add("val-patches", val_patches,
        "Largest number of validation patches (a seeded subset, the same every epoch); 0: all");
  o.add("quiet", quiet, "No progress bar");
  // Ranges, checked when an option is set (command line, config file or model file).
  o.limit("epochs", 1, 1000000);
  o.limit("batch-size", 1, 65536);
  o.limit("lr", 0, 10, true);
  o.limit("patch", 4, 4096);
  o.limit("stride", 1, 4096);
  o.limit("seed", 0, std::numeric_limits<int>::max());
  o.limit("threads", 0, std::numeric_limits<int>::max());
  o.limit("lr-step", 1, 1000000);
  o.limit("lr-gamma", 0, 1, true);
  o.limit("plateau-patience", 1, 1000000);
  o.limit("patience", 0, 1000000);
  o.limit("min-delta", 0, 1);
  o.limit("val-fraction", 0, 0.9);
  o.limit("min-valid", 0, 1);
  o.limit("neighbours", 1, 1000);
  o.limit("max-gap", 0, 100000);
  o.limit("tile", 0, 65536);  // 0: the whole scene in one piece
  o.limit("patches-per-epoch", 0, std::numeric_limits<int>::max());
  o.limit("time-budget", 0, 1e9);
  o.limit("val-patches", 0, std::numeric_limits<int>::max());
  // Where and how a trained model runs; everything else is training or the model itself.
  o.mark_at_prediction({"device", "threads", "tile", "quiet"});
}

int prediction_tile(int tile, int alignment, int halo, int length, bool balance) {
  if (tile <= 0) return length;
  const int t = align_tile(tile, alignment);
  if (!balance) return t;
  const int bound = t + 2 * halo;
  if (length <= bound) return length;
  for (int n = 2;; ++n) {
    const int side = align_tile((length + n - 1) / n, alignment);
    // Two tiles: each window has one halo (the other side is the scene's edge).
    const int window = side + (n == 2 ? halo : 2 * halo);
    if (window <= bound || side <= alignment) return side;
  }
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) throw Error("--device cuda: CUDA is not available in this build or machine");
    return torch::kCUDA;
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  throw Error("--device: unknown device '" + name + "' (cpu, cuda or auto)");
}

void set_threads(int threads) {
  torch::set_num_threads(usable_threads(threads));
}

Normaliser Normaliser::fit(const std::string& kind, const std::vector<ImagePair>& pairs) {
  if (pairs.empty()) throw Error("no training pairs");
  Normaliser n;
  n.kind = kind;
  const int bands = pairs.front().fine.bands();
  for (int b = 0; b < bands; ++b) {
    double sum = 0, sum2 = 0;
    long long count = 0;
    for (const auto& p : pairs) {
      const float* v = p.fine.band(b);
      const uint8_t* m = p.fine.mask(b);
      for (size_t i = 0; i < p.fine.band_size(); ++i)
        if (m[i]) { sum += v[i]; sum2 += double(v[i]) * v[i]; ++count; }
    }
    if (count < 2) throw Error(fmt::format("the training fine images have no valid pixel in band {}", b + 1));
    const double mean = sum / count;
    const double sd = std::sqrt(std::max(0.0, sum2 / count - mean * mean));
    n.mean.push_back(kind == "none" ? 0.0 : mean);
    n.scale.push_back(kind == "std" ? std::max(sd, 1e-3) : 1.0);
  }
  return n;
}

nlohmann::json Normaliser::to_json() const { return {{"kind", kind}, {"mean", mean}, {"scale", scale}}; }

Normaliser Normaliser::from_json(const nlohmann::json& j) {
  Normaliser n;
  n.kind = j.at("kind").get<std::string>();
  n.mean = j.at("mean").get<std::vector<double>>();
  n.scale = j.at("scale").get<std::vector<double>>();
  if (n.kind != "std" && n.kind != "center" && n.kind != "none")
    throw Error(fmt::format("unknown normalisation '{}'", n.kind));
  // What fit() can give for LST in kelvin: a mean of 0 or of the images, a scale of 1 or their
  // spread (at least 1e-3). Values far outside, finite though they are, turned every prediction
  // into nodata or a constant without a word.
  for (size_t b = 0; b < n.mean.size(); ++b)
    if (!(std::abs(n.mean[b]) <= 1000.0))
      throw Error(fmt::format("normalisation of band {} has mean {} K (|mean| must be at most 1000)", b + 1, n.mean[b]));
  for (size_t b = 0; b < n.scale.size(); ++b)
    if (!(n.scale[b] >= 1e-3 && n.scale[b] <= 1000.0))
      throw Error(fmt::format("normalisation of band {} has scale {} K (it must be within 0.001 .. 1000)", b + 1,
                              n.scale[b]));
  return n;
}

ImageTensor to_tensor(const Raster& r, const Normaliser& norm, int x0, int y0, int w, int h) {
  const int bands = r.bands();
  if (static_cast<int>(norm.mean.size()) != bands)
    throw Error(fmt::format("image has {} band(s), the model {}", bands, norm.mean.size()));
  auto values = torch::zeros({1, bands, h, w});
  auto valid = torch::ones({1, 1, h, w});
  float* v = values.data_ptr<float>();
  float* m = valid.data_ptr<float>();
  const int W = r.width();
#pragma omp parallel for schedule(static)
  for (int y = 0; y < h; ++y) {
    for (int b = 0; b < bands; ++b) {
      const float* src = r.band(b) + static_cast<size_t>(y0 + y) * W + x0;
      const uint8_t* ms = r.mask(b) + static_cast<size_t>(y0 + y) * W + x0;
      float* dst = v + (static_cast<size_t>(b) * h + y) * w;
      float* md = m + static_cast<size_t>(y) * w;
      const float mean = static_cast<float>(norm.mean[b]);
      const float inv = static_cast<float>(1.0 / norm.scale[b]);
      for (int x = 0; x < w; ++x) {
        if (ms[x] && std::isfinite(src[x])) {
          dst[x] = (src[x] - mean) * inv;
        } else {
          md[x] = 0.0f;  // stays 0 = the neutral value (the training mean)
        }
      }
    }
  }
  // A pixel invalid in any band is neutral in all bands, so masked inputs carry no values.
  values.mul_(valid);
  return {values, valid};
}

torch::Tensor relative_to(const ImageTensor& image, const ImageTensor& base) {
  return (image.values - base.values) * (image.valid * base.valid);
}

std::vector<Sample> make_samples(const std::vector<ImagePair>& pairs, int neighbours, int max_gap) {
  std::vector<Sample> out;
  const int n = static_cast<int>(pairs.size());
  const int k = std::max(1, neighbours);
  for (int i = 0; i < n; ++i) {
    for (int j = std::max(0, i - k); j <= std::min(n - 1, i + k); ++j) {
      if (j == i) continue;
      const double dt = static_cast<double>(pairs[j].date - pairs[i].date);
      if (dt == 0.0) continue;
      if (max_gap > 0 && std::abs(dt) > max_gap) continue;
      out.push_back({i, j, dt});
    }
  }
  return out;
}

PatchSet::PatchSet(const std::vector<ImagePair>& pairs, const Normaliser& norm, std::vector<Sample> samples,
                   int patch, int stride, double min_valid, bool relative, const SeriesContext* context)
    : samples_(std::move(samples)), kelvin_per_unit_(norm.scale), patch_(patch), relative_(relative) {
  if (context && context->enabled()) context_ = *context;
  if (pairs.empty()) throw Error("no training pairs");
  const Grid& g = pairs.front().fine.grid();
  for (const auto& p : pairs) {
    if (!p.fine.grid().same_geometry(g) || !p.coarse.grid().same_geometry(g))
      throw Error(fmt::format("the pair of {} is not on the grid of the first pair", p.date.iso()));
    fine_.push_back(to_tensor(p.fine, norm));
    coarse_.push_back(to_tensor(p.coarse, norm));
  }
  const int H = g.height, W = g.width;
  patch_ = std::min({patch, H, W});
  // Said once: the model's training then differs from what --patch asked for.
  if (patch_ < patch)
    spdlog::warn("training patches are {} x {} px: --patch {} is larger than the {} x {} px images", patch_, patch_,
                 patch, W, H);
  stride = std::max(1, stride);
  auto positions = [&](int size) {
    std::vector<int> pos;
    for (int p = 0; p + patch_ <= size; p += stride) pos.push_back(p);
    if (pos.empty() || pos.back() + patch_ < size) pos.push_back(size - patch_);  // cover the edge
    return pos;
  };
  const auto ys = positions(H), xs = positions(W);
  const double need = min_valid * patch_ * patch_;
  for (int s = 0; s < static_cast<int>(samples_.size()); ++s) {
    const auto& smp = samples_[s];
    auto m = (fine_[smp.ref].valid * coarse_[smp.ref].valid * coarse_[smp.target].valid *
              fine_[smp.target].valid)[0][0].to(torch::kDouble);
    // Integral image: valid count of any patch in O(1).
    auto integ = torch::zeros({H + 1, W + 1}, torch::kDouble);
    integ.narrow(0, 1, H).narrow(1, 1, W).copy_(m.cumsum(0).cumsum(1));
    auto a = integ.accessor<double, 2>();
    for (int y : ys)
      for (int x : xs) {
        const double c = a[y + patch_][x + patch_] - a[y][x + patch_] - a[y + patch_][x] + a[y][x];
        if (c >= std::max(need, 1.0)) patches_.push_back({s, y, x});
        else ++skipped_;
      }
  }
}

Batch PatchSet::batch(const std::vector<PatchRef>& refs, torch::Device device) const {
  std::vector<torch::Tensor> fr, cr, ct, ft, mk, cx;
  const bool with_context = context_.enabled();
  const torch::Tensor all_sums = with_context ? context_.window(0, 0, context_.grid().width, context_.grid().height)
                                              : torch::Tensor();
  std::vector<float> dts;
  const int p = patch_;
  auto cut = [p](const torch::Tensor& t, const PatchRef& r) {
    auto c = t.narrow(2, r.y, p).narrow(3, r.x, p);
    if (r.orientation & 1) c = c.flip({3});
    if (r.orientation & 2) c = c.flip({2});
    if (r.orientation & 4) c = c.transpose(2, 3);
    return c;
  };
  auto cut_image = [&](const ImageTensor& t, const PatchRef& r) {
    return ImageTensor{cut(t.values, r), cut(t.valid, r)};
  };
  for (const auto& r : refs) {
    const auto& s = samples_[r.sample];
    const auto base = cut_image(coarse_[s.target], r);
    auto in_frame = [&](const ImageTensor& t) {
      return relative_ ? relative_to(cut_image(t, r), base) : cut(t.values, r);
    };
    fr.push_back(in_frame(fine_[s.ref]));
    cr.push_back(in_frame(coarse_[s.ref]));
    ct.push_back(relative_ ? torch::zeros_like(base.values) : base.values);
    ft.push_back(in_frame(fine_[s.target]));
    // Cut before multiplying: the product of whole images per patch was the batch's main cost.
    mk.push_back(cut(fine_[s.ref].valid, r) * cut(coarse_[s.ref].valid, r) * base.valid * cut(fine_[s.target].valid, r));
    dts.push_back(static_cast<float>(s.dt));
    if (with_context) {
      // The sample's own target pair left out: its features must not contain the answer.
      const auto& tf = fine_[s.target];
      const auto& tc = coarse_[s.target];
      cx.push_back(context_.features(cut(all_sums, r), base.values, base.valid, cut(tf.values, r), cut(tc.values, r),
                                     cut(tf.valid, r) * cut(tc.valid, r)));
    }
  }
  Batch b;
  b.fine_ref = torch::cat(fr).to(device);
  b.coarse_ref = torch::cat(cr).to(device);
  b.coarse_target = torch::cat(ct).to(device);
  b.fine_target = torch::cat(ft).to(device);
  b.mask = torch::cat(mk).to(device);
  b.dt = torch::tensor(dts).to(device);
  if (with_context) b.context = torch::cat(cx).to(device);
  b.relative = relative_;
  return b;
}

torch::Tensor loss_map(const std::string& kind, const torch::Tensor& pred, const torch::Tensor& target,
                       double delta) {
  auto d = pred - target;
  if (kind == "mse") return d * d;
  if (kind == "l1") return d.abs();
  if (kind == "huber") {
    auto a = d.abs();
    return torch::where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta));
  }
  throw Error("unknown loss '" + kind + "' (huber, mse or l1)");
}

}  // namespace lstfuse::deep
