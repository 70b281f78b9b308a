#pragma once
// The deep-learning engine shared by every network family: common options, normalisation,
// single-reference training samples cut into masked patches, the trainer (schedules, early
// stop, checkpoints, resume) and seamless tiled inference. Generic over DeepFamily/DeepModel.
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "lstfuse/deep/family.hpp"
#include "lstfuse/deep/losses.hpp"
#include "lstfuse/deep/weighting.hpp"
#include "lstfuse/deep/model.hpp"
#include "lstfuse/deep/series_context.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::deep {

// Flags every deep method has; defaults come from the family's TrainDefaults.
struct CommonOptions {
  int epochs = 30;
  int batch_size = 16;
  double lr = 1e-4;
  int patch = 40;
  int stride = 20;
  int seed = 42;
  std::string device = "auto";  // cpu | cuda | auto
  int threads = 0;              // 0: all hardware threads
  std::string lr_schedule = "step";
  int lr_step = 10;
  double lr_gamma = 0.1;
  int plateau_patience = 5;
  int patience = 5;             // early stop after this many epochs without improvement (0: off)
  double min_delta = 1e-4;      // relative improvement that counts
  double val_fraction = 0.1;
  // What validation ranks epochs by (the best is kept, early stop watches it): "rmse", the RMSE
  // in kelvin of single-reference predictions, the figure users read; or "loss", the family's
  // training loss (Huber, or a GAN's adversarial sum), which can prefer a worse RMSE.
  std::string monitor = "rmse";
  double min_valid = 0.5;       // patches with a smaller valid share are skipped
  int neighbours = 1;           // series: each pair learns from its k nearest pairs each side
  int max_gap = 0;              // days; 0: no limit
  std::string normalise = "std";
  // "relative": every image enters the network minus the target date's coarse image, pixel by
  // pixel, and the output is added back. The networks then never see the season's absolute
  // level, which a series of a few dozen pairs cannot teach them to extrapolate.
  // "absolute": the images as they are (as the papers feed them).
  std::string frame = "relative";
  int tile = 256;               // prediction tile (without halo)
  int patches_per_epoch = 0;    // 0: every training patch each epoch; else a seeded subset
  std::string series_context = "none";  // none | mean | fit (deep/series_context.hpp)
  bool augment = true;          // random flips/rotations of training patches (seeded)
  // Seconds for the whole fit (data, validation, pretraining, epochs); 0: no limit. Training
  // stops after the batch that passes it, validates that epoch and ends: the fit takes at most
  // the budget plus one epoch.
  double time_budget = 0.0;
  // Validation patches: at most this many (a seeded subset of the held-out ones, the same every
  // epoch); 0: all. Validation runs before training and after every epoch.
  int val_patches = 512;
  bool quiet = false;
  // Balanced prediction tiles (prediction_tile): the same result with less halo computed twice;
  // tests turn it off to exercise tiles of the size they ask for. Not a user option.
  bool merge_small_scenes = true;

  void apply(const TrainDefaults& d);
  void bind(OptionSet& options);
};

torch::Device resolve_device(const std::string& name);  // throws Error for cuda without CUDA
void set_threads(int threads);
// Whether glibc's mmap and trim thresholds were raised when the library loaded (see data.cpp).
bool allocator_tuned_for_networks();

// Per-band affine map Kelvin <-> network units, stored with the model.
struct Normaliser {
  std::string kind = "std";
  std::vector<double> mean, scale;  // x_net = (x - mean) / scale
  static Normaliser fit(const std::string& kind, const std::vector<ImagePair>& pairs);
  nlohmann::json to_json() const;
  static Normaliser from_json(const nlohmann::json& j);
};

// An image as network input: (1, B, H, W) normalised values with invalid pixels set to the
// neutral value 0, and (1, 1, H, W) validity (all bands valid). A window of a raster; the
// window must lie inside the raster (tiles never pad beyond the scene, so zero padding at the
// scene edge is the same in tiled and whole-scene runs).
struct ImageTensor {
  torch::Tensor values;
  torch::Tensor valid;
};
ImageTensor to_tensor(const Raster& r, const Normaliser& norm, int x0, int y0, int w, int h);
// `image` in the relative frame of `base` (the target's coarse image): the difference, 0 (the
// neutral value) where either is invalid.
torch::Tensor relative_to(const ImageTensor& image, const ImageTensor& base);
inline ImageTensor to_tensor(const Raster& r, const Normaliser& norm) {
  return to_tensor(r, norm, 0, 0, r.width(), r.height());
}

// One single-reference learning example over whole images; patches index into it.
struct Sample {
  int ref = 0, target = 0;  // indices into the pair list
  double dt = 0.0;          // target - reference, days
};

// Samples from pairs sorted by date: each pair with its `neighbours` nearest on each side
// (within max_gap days when > 0), both directions. Two pairs give the STTFN paper's forward
// (L1, M1, M3) -> L3 and backward (L3, M3, M1) -> L1.
std::vector<Sample> make_samples(const std::vector<ImagePair>& pairs, int neighbours, int max_gap);

struct PatchRef {
  int sample = 0, y = 0, x = 0;
  int orientation = 0;  // 0-7: one of the 8 flips/rotations of the square patch (augmentation)
};

// All training data in network units with patch positions; builds batches on demand.
class PatchSet {
 public:
  // relative: batches in the relative frame (CommonOptions::frame). context: series features
  // for every batch (each sample's own target pair left out), when enabled.
  PatchSet(const std::vector<ImagePair>& pairs, const Normaliser& norm, std::vector<Sample> samples,
           int patch, int stride, double min_valid, bool relative = false, const SeriesContext* context = nullptr);
  const std::vector<PatchRef>& patches() const { return patches_; }
  const std::vector<Sample>& samples() const { return samples_; }
  // Kelvin per network unit, per band (the normaliser's scale).
  const std::vector<double>& kelvin_per_unit() const { return kelvin_per_unit_; }
  int patch() const { return patch_; }
  long long skipped() const { return skipped_; }
  Batch batch(const std::vector<PatchRef>& refs, torch::Device device) const;

 private:
  std::vector<ImageTensor> fine_, coarse_;
  std::vector<Sample> samples_;
  std::vector<PatchRef> patches_;
  std::vector<double> kelvin_per_unit_;
  int patch_;
  bool relative_ = false;
  long long skipped_ = 0;
  SeriesContext context_;
};

// masked_mean (deep/losses.hpp) turns these maps into a loss that masked pixels do not touch.
// Per-pixel loss maps: "huber" (delta), "mse", "l1".
torch::Tensor loss_map(const std::string& kind, const torch::Tensor& pred, const torch::Tensor& target,
                       double delta = 1.0);

// Prediction tiles for a `length`-pixel side: `tile` is a memory bound, a window (tile + halo
// on both sides, clipped to the scene) of at most tile + 2 halo pixels. With `balance`, the
// fewest tiles whose windows stay within that bound, of equal size on the network's grid: a
// scene that fits in one window is predicted whole, two tiles need one halo each. Tiles of
// exactly `tile` computed up to 3 x the pixels of a scene for MLFF-GAN (halo 240: 640 px in
// tiles of 512 gave windows of 640 + 368 px). Without `balance` (tests): `tile` rounded up to
// the grid. tile 0: the whole side.
int prediction_tile(int tile, int alignment, int halo, int length, bool balance = true);

struct TrainReport {
  int epochs_run = 0;
  int best_epoch = 0;  // 1-based; 0: the untrained network was best on validation
  double best_loss = 0.0;  // the monitored value: validation RMSE (K), validation or training loss
  std::string monitored;   // what best_loss is: "validation RMSE", "validation loss", "training loss"
  double final_train_loss = 0.0;
  long long train_patches = 0, val_patches = 0;
  double seconds = 0.0;
  std::vector<double> train_history, val_history;
  // The baseline candidate (DeepModel::predict_baseline) against the kept network, both by
  // validation RMSE in kelvin (NaN without validation); kept_baseline when the baseline is better.
  double baseline_rmse = NAN, network_rmse = NAN;
  bool kept_baseline = false;
  bool out_of_time = false;  // the time budget ended training
};

// Trains `model` on the patch set; checkpoints to ctx.checkpoint_dir each epoch, resumes from
// there when ctx.resume. `checkpoint_meta` is stored in checkpoints and checked on resume.
// `elapsed` gives the seconds spent on the fit so far (the budget counts from the fit's start);
// empty: a steady clock started by train(). Tests pass a clock driven by the model's work.
TrainReport train(DeepModel& model, const PatchSet& data, const CommonOptions& opt,
                  const FitContext& ctx, torch::Device device, const std::string& checkpoint_meta,
                  const std::function<double()>& elapsed = {});

}  // namespace lstfuse::deep
