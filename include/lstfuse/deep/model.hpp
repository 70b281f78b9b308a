#pragma once
// The contract between the deep-learning engine (patch sampling, normalisation, the training
// loop, checkpoints, seamless tiled inference: deep/engine) and each network family
// (deep/sttfn, deep/stfnet, ...). A DeepModel owns its networks, its optimiser(s) and its
// loss; the engine owns everything that is the same for all of them.
//
// Every model learns from single-reference samples: the pair at a reference date (fine + coarse)
// and the coarse image at the target date, predicting the fine image at the target date; dt
// (target - reference, in days) tells the direction (STTFN trains a forward network on dt > 0
// and a backward one on dt < 0). At prediction the engine hands one reference or two (before
// and after the target), and the model combines them its own way (STTFN: STC weighting).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "lstfuse/core/options.hpp"

namespace lstfuse::deep {

// All tensors (N, B, H, W) float32, normalised by the engine, on the model's device.
struct Batch {
  torch::Tensor fine_ref;
  torch::Tensor coarse_ref;
  torch::Tensor coarse_target;
  torch::Tensor fine_target;  // training and validation only
  torch::Tensor mask;         // (N, 1, H, W), 1 where the loss counts, 0 elsewhere (clouds, nodata)
  torch::Tensor dt;           // (N), days from reference to target
  torch::Tensor context;      // (N, C, H, W) series features (--series-context), or undefined
  bool relative = false;      // images are in the relative frame (minus the target's coarse image)
};

// The samples `idx` (a 1-D index tensor) of a batch, every field kept.
inline Batch select_samples(const Batch& b, const torch::Tensor& idx) {
  Batch out = b;
  for (auto* t : {&out.fine_ref, &out.coarse_ref, &out.coarse_target, &out.fine_target, &out.mask, &out.dt, &out.context})
    if (t->defined()) *t = t->index_select(0, idx);
  return out;
}

class DeepModel {
 public:
  virtual ~DeepModel() = default;
  virtual std::string name() const = 0;
  virtual void to(torch::Device device) = 0;
  virtual void set_training(bool training) = 0;

  // One optimisation step; returns named loss values, "loss" being the one monitored.
  virtual std::map<std::string, double> train_step(const Batch& batch) = 0;
  // Loss on a batch without updating anything (validation split).
  virtual double evaluate_loss(const Batch& batch) = 0;
  // Prediction from one or two references (sorted by date); (N, B, H, W).
  virtual torch::Tensor predict(const std::vector<Batch>& references) = 0;
  // predict(references), and in singles[k], for each k with want[k], what predict({references[k]})
  // gives (undefined elsewhere): the engine uses a reference alone where the other one is
  // invalid, and reads singles[k] only there (references[k].mask set, the other's not). The
  // default predicts again; a family whose combination computes each reference's prediction on
  // the way overrides it and hands those over, so no network runs twice.
  virtual torch::Tensor predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                             std::vector<torch::Tensor>& singles) {
    singles.assign(references.size(), torch::Tensor());
    for (size_t k = 0; k < references.size() && k < want.size(); ++k)
      if (want[k]) singles[k] = predict({references[k]});
    return predict(references);  // last: hooks then report the combination's weights
  }
  // The baseline candidate every family keeps: each reference's additive estimate
  // L_ref + (M_0 - M_ref) (the same in the relative frame), two of them combined with 1/|dt|
  // weights as the `additive` method does; a family with its own combination (STTFN's STC/TC)
  // combines them its way. `weights`, when given, receives (N, R, H, W) reference weights.
  virtual torch::Tensor predict_baseline(const std::vector<Batch>& references, torch::Tensor* weights = nullptr);

  // The networks predict() runs (layout conversion for inference); none by default.
  virtual std::vector<torch::nn::Module*> networks() { return {}; }
  virtual double learning_rate() const = 0;
  virtual void set_learning_rate(double lr) = 0;

  // Networks, optimiser state included, for checkpoints and saved models.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

  // Binds the model's own copy of its family's options (FamilyModel), so that the engine can
  // bring the options that act at prediction up to date before each prediction.
  virtual void bind_options(OptionSet& /*set*/) {}

  // Kelvin per network unit, per band (the engine's normalisation scale), given before training
  // and after loading: for settings a paper states in kelvin (STTFN's Huber delta).
  virtual void set_kelvin_per_unit(const std::vector<double>& /*scale*/) {}

  // Context pixels a tile needs so that tiled and whole-scene predictions agree.
  virtual int halo() const = 0;
  // Tile origins must lie on this grid (networks that pool or stride: 2^levels); the engine
  // rounds the tile size up to it, and halo() must be a multiple of it.
  virtual int tile_alignment() const { return 1; }
};

// Optional hooks a model may implement for prediction: whole-scene context (so tile results
// do not depend on the tile) and per-reference combination weights for the quality layer.
struct SceneContext {
  std::vector<std::vector<double>> coarse_ref_mean;  // [reference][band], network units
  std::vector<double> coarse_target_mean;            // [band]
};

class PredictionHooks {
 public:
  virtual ~PredictionHooks() = default;
  void set_scene_context(const SceneContext& ctx) {
    scene_ = ctx;
    has_scene_ = true;
  }
  // (N, R, H, W) weight of each reference in the last predict() (band 0), or undefined.
  torch::Tensor last_reference_weights() const { return last_weights_; }

 protected:
  // The whole-scene means the engine gave, when they cover `references` references; else null.
  const SceneContext* scene(size_t references) const {
    return has_scene_ && scene_.coarse_ref_mean.size() == references ? &scene_ : nullptr;
  }
  torch::Tensor last_weights_;  // set by predict() of a family that combines references

 private:
  SceneContext scene_;
  bool has_scene_ = false;
};

}  // namespace lstfuse::deep
