#pragma once
// STTFN (Yin et al., section II): a multi-scale fusion CNN F(M_a, L_a, M_b) -> L_b trained twice,
// forward (dt > 0) and backward (dt < 0), combined at prediction by STC (or TC) weighting.
//
// Weight initialisation: the paper says "a Gaussian distribution with zero mean and standard
// deviation of 1e-3", so 1e-3 is the standard deviation (option --init-std); biases start at 0.
#include <memory>

#include <torch/script.h>
#include <torch/torch.h>

#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/family.hpp"

namespace lstfuse::deep {

struct SttfnOptions {
  std::string loss = "huber";  // huber | mse | l1
  double huber_delta = 1.0;        // kelvin (the paper's 1.0 is on LST in K)
  std::string weighting = "stc";  // stc | tc
  int tc_window = 0;              // TC: 0 = whole-scene coarse means, else half-window (pixels)
  int stc_window = 0;             // STC: 0 = per pixel (eq. 6), else half-window of |L2 - M2| means
  double init_std = 1e-3;
  bool fold_bn = true;            // fold batch normalisation into the convolutions for inference
  void bind(OptionSet& set);
};

// conv r x r (zero padding, same size) [+ batch normalisation] [+ ReLU]; BN can be folded in.
class ConvBnImpl : public torch::nn::Module {
 public:
  ConvBnImpl(int in, int out, int kernel, bool batch_norm, bool relu);
  torch::Tensor forward(torch::Tensor x);
  void fold();  // eval only: W' = W g/sqrt(v+e), b' = (b-m) g/sqrt(v+e) + beta; BN then skipped
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};

 private:
  bool relu_;
  bool folded_ = false;
};
TORCH_MODULE(ConvBn);

// Table I of the paper.
class SttfnNetImpl : public torch::nn::Module {
 public:
  // context: series feature channels (0: none) that slim-WDSR sees beside [change, L_a].
  explicit SttfnNetImpl(int bands, int context = 0);
  // fine_ref = L_a, coarse_ref = M_a, coarse_target = M_b (all on the fine grid) -> L_b.
  torch::Tensor forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                        const torch::Tensor& coarse_target, const torch::Tensor& context = {});
  void init_weights(double std);
  void fold_batchnorm();
  int bands() const { return bands_; }
  int context_channels() const { return context_; }
  static constexpr int kHalo = 6;  // receptive radius: max(Extraction 2, SR 3) + Integration 3

  ConvBn e1{nullptr}, e2{nullptr};                                        // Extraction-Net
  ConvBn sr1{nullptr}, sr2{nullptr}, sr3{nullptr}, sr4{nullptr}, sr5{nullptr}, sr6{nullptr};  // slim-WDSR
  ConvBn f1{nullptr}, f2{nullptr}, f3{nullptr};                           // Integration-Net

 private:
  int bands_;
  int context_ = 0;
};
TORCH_MODULE(SttfnNet);

// A folded eval-mode copy of a trained net (same weights, BN merged into the convolutions).
SttfnNet folded_copy(const SttfnNet& net);

// The folded net as a frozen TorchScript module optimised for CPU inference (oneDNN layouts,
// ReLU fused into the convolutions): forward(fine_ref, coarse_ref, coarse_target[, context]).
// The same function as the folded net up to float rounding (about 1e-6 relative).
torch::jit::Module optimized_for_cpu(const SttfnNet& folded);

// Per-pixel combination weights (N, R, H, W per band -> (N, B, H, W) each), normalised to sum 1
// over the valid references. preds[i], valid[i] (N,1,H,W) for reference i; M2 = coarse_target.
// STC: 1/|L2^(i) - M2| per pixel, or, when stc_window > 0, 1/mean|L2^(i) - M2| over the valid
// pixels of reference i in a (2 stc_window + 1)^2 window: per pixel, the fine texture the
// prediction rightly has dominates |L2 - M2|; over about one MODIS pixel it measures how well
// the prediction agrees with the coarse image, which is the consistency the weighting is for.
// TC: 1/|mean(M_i) - mean(M2)|, the means given per reference (scene), or window means when
// tc_window > 0; the weights themselves are deep/weighting.hpp's tc_weights_from (clamped floor).
// Mean over the (2 radius + 1)^2 window clipped to the image, per channel (separable).
torch::Tensor window_mean(const torch::Tensor& x, int radius);
std::vector<torch::Tensor> stc_weights(const std::vector<torch::Tensor>& preds, const torch::Tensor& coarse_target,
                                       const std::vector<torch::Tensor>& valid, int stc_window = 0);
std::vector<torch::Tensor> tc_weights(const std::vector<torch::Tensor>& coarse_refs, const torch::Tensor& coarse_target,
                                      const std::vector<torch::Tensor>& valid, int tc_window,
                                      const SceneContext* scene);

class SttfnModel : public FamilyModel<SttfnOptions> {
 public:
  SttfnModel(int bands, double lr, const SttfnOptions& options, int context = 0);
  std::string name() const override { return "sttfn"; }
  void to(torch::Device device) override;
  void set_training(bool training) override;
  std::map<std::string, double> train_step(const Batch& batch) override;
  double evaluate_loss(const Batch& batch) override;
  torch::Tensor predict(const std::vector<Batch>& references) override;
  torch::Tensor predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                     std::vector<torch::Tensor>& singles) override;
  torch::Tensor predict_baseline(const std::vector<Batch>& references, torch::Tensor* weights = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  // Window weightings read predictions up to a half-window away from every output pixel.
  int halo() const override {
    return SttfnNetImpl::kHalo + std::max({0, options_.tc_window, options_.stc_window});
  }

  void set_kelvin_per_unit(const std::vector<double>& scale) override {
    if (!scale.empty() && scale.front() > 0) kelvin_per_unit_ = scale.front();  // LST is one band
  }
  // The Huber delta in network units.
  double huber_delta_units() const { return options_.huber_delta / kelvin_per_unit_; }

  // The masked loss of one direction's net on a batch (graph kept; for tests and train_step).
  torch::Tensor loss(SttfnNet& net, const Batch& batch);
  SttfnNet& forward_net() { return fwd_; }
  SttfnNet& backward_net() { return bwd_; }

 private:
  std::vector<torch::optim::Adam*> scheduled_optimisers() const override { return {opt_fwd_.get(), opt_bwd_.get()}; }
  SttfnNet& net_for(double dt) { return dt > 0 ? fwd_ : bwd_; }
  std::vector<torch::Tensor> reference_predictions(const std::vector<Batch>& refs);
  // STC/TC combination of per-reference predictions (one: that one); sets last_weights_.
  torch::Tensor combine(const std::vector<torch::Tensor>& preds, const std::vector<Batch>& refs);
  SttfnNet inference_net(bool forward);
  // One reference's prediction by its direction's net: the optimised TorchScript module on the
  // CPU once trained (BN folded), the (folded) module otherwise.
  torch::Tensor reference_prediction(const Batch& ref, bool forward);
  void reset_inference_nets();

  double kelvin_per_unit_ = 1.0;
  SttfnNet fwd_{nullptr}, bwd_{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_fwd_, opt_bwd_;
  SttfnNet infer_fwd_{nullptr}, infer_bwd_{nullptr};  // folded copies, rebuilt after changes
  std::shared_ptr<torch::jit::Module> script_fwd_, script_bwd_;  // optimized_for_cpu of those
  torch::Device device_ = torch::kCPU;
  bool training_ = true;
};

class SttfnFamily : public FamilyOf<SttfnOptions, SttfnModel> {
 public:
  MethodInfo info() const override;
  TrainDefaults train_defaults() const override;
  bool supports_series_context() const override { return true; }
};

}  // namespace lstfuse::deep
