#pragma once
// DLSTFM (Jin et al. 2026) as a deep family, in this project's own reading of the abstract
// (no layer table is published; every choice is documented here and in docs/deep-methods.md):
//  - dual branch by source: a fine-reference branch on L_ref (spatial detail, which only the
//    fine image has) and a coarse-change branch on (M_0 - M_ref, M_0) (the temporal change,
//    which only the coarse images have);
//  - fusion of both branches by blocks of Spatially Adaptive Feature Modulation (SAFM: channel
//    groups pooled at scales 1, 2, 4, 8, depthwise 3x3, upsampled, concatenated, 1x1 conv, GELU,
//    used as a multiplicative gate) followed by a small convolutional channel mixer;
//  - a base estimate L_ref + (M_0 - M_ref) + residual from the fused features;
//  - a Temperature-adaptive Correction Module (TCM): a small head on (fused features, M_0,
//    base) that predicts a per-pixel gain g in (0, 2) and offset o, output
//    M_0 + g (base - M_0) + o; starts as the identity (zero-initialised last layer);
//  - loss: L1 + consistency (block means of the prediction against those of M_0) + (1 - MS-SSIM).
// No claim of matching the paper's numbers.
#include <memory>
#include <string>

#include <torch/torch.h>

#include "lstfuse/deep/family.hpp"
#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

struct DlstfmOptions {
  int features = 32;            // channels of both branches and the fusion (divisible by 4)
  int fusion_blocks = 2;        // SAFM blocks
  int consistency_block = 10;   // fine pixels per coarse pixel side (100 m Landsat, 1 km MODIS)
  double consistency_weight = 0.5;
  double ssim_weight = 0.2;
  void bind(OptionSet& set);
};

// SAFM: four channel groups at scales 1, 2, 4, 8 (max pooling), depthwise 3x3 each, nearest
// upsampling, concatenation, 1x1 conv, GELU, times the input. Sides must be multiples of 8.
struct SafmImpl : torch::nn::Module {
  explicit SafmImpl(int channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::ModuleList depthwise{nullptr};
  torch::nn::Conv2d aggregate{nullptr};
  int groups = 4;
};
TORCH_MODULE(Safm);

// x + SAFM(x), then x + mixer(x) (3x3 conv to 2C, GELU, 1x1 conv back to C).
struct DlstfmFusionBlockImpl : torch::nn::Module {
  explicit DlstfmFusionBlockImpl(int channels);
  torch::Tensor forward(torch::Tensor x);
  Safm safm{nullptr};
  torch::nn::Conv2d mix1{nullptr}, mix2{nullptr};
};
TORCH_MODULE(DlstfmFusionBlock);

// Head conv3x3 + GELU, then two residual blocks (conv3x3, GELU, conv3x3, + identity).
struct DlstfmBranchImpl : torch::nn::Module {
  DlstfmBranchImpl(int in_channels, int channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d head{nullptr};
  torch::nn::ModuleList convs{nullptr};
};
TORCH_MODULE(DlstfmBranch);

// TCM: conv3x3 (C + 2B -> C/2), GELU, conv3x3 (-> 2B: gain logit, offset), last layer zero.
struct TcmImpl : torch::nn::Module {
  TcmImpl(int channels, int bands);
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& coarse_target,
                        const torch::Tensor& base);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  int bands;
};
TORCH_MODULE(Tcm);

struct DlstfmNetImpl : torch::nn::Module {
  // context: series feature channels (--series-context) that the change branch sees too.
  DlstfmNetImpl(int bands, const DlstfmOptions& options, int context = 0);
  // Any size: pads (replication) to a multiple of 8 for SAFM's pooling and crops back.
  torch::Tensor forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                        const torch::Tensor& coarse_target, const torch::Tensor& context = {});
  int context_channels = 0;
  DlstfmBranch fine_branch{nullptr}, change_branch{nullptr};
  torch::nn::Conv2d merge{nullptr}, residual{nullptr};
  torch::nn::ModuleList fusion{nullptr};
  Tcm tcm{nullptr};
};
TORCH_MODULE(DlstfmNet);

class DlstfmModel : public FamilyModel<DlstfmOptions> {
 public:
  DlstfmModel(int bands, double lr, const DlstfmOptions& options, int context = 0);
  std::string name() const override { return "dlstfm"; }
  void to(torch::Device device) override { net_->to(device); }
  void set_training(bool training) override { net_->train(training); }
  std::map<std::string, double> train_step(const Batch& batch) override;
  double evaluate_loss(const Batch& batch) override;
  torch::Tensor predict(const std::vector<Batch>& references) override;
  torch::Tensor predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                     std::vector<torch::Tensor>& singles) override;
  std::vector<torch::nn::Module*> networks() override { return {net_.get()}; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  // Receptive radius: branches 5, two fusion blocks 2 x 16 (SAFM's scale-8 depthwise conv
  // reaches 15 px), output conv 1, TCM 2: 40, rounded up to a multiple of 8 (here 40 already)
  // so that tile origins stay on the scale-8 pooling grid.
  int halo() const override;
  int tile_alignment() const override { return 8; }  // SAFM pools by up to 8

  DlstfmNet& net() { return net_; }

 private:
  std::vector<torch::optim::Adam*> scheduled_optimisers() const override { return {optimizer_.get()}; }
  std::map<std::string, torch::Tensor> losses(const Batch& batch);
  DlstfmNet net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

class DlstfmFamily : public FamilyOf<DlstfmOptions, DlstfmModel> {
 public:
  MethodInfo info() const override;
  TrainDefaults train_defaults() const override;
  bool supports_series_context() const override { return true; }
};

}  // namespace lstfuse::deep
