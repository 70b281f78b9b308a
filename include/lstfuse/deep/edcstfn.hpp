#pragma once
// EDCSTFN (Tan et al. 2019) as a deep family. Encoder-decoder with replication padding:
//   fine encoder  E_f(L_ref)                         B -> 32 -> 64 -> 128, ReLU after each
//   residual enc. E_r(cat(M_ref, L_ref, M_target))  3B -> 32 -> 64 -> 128, no final ReLU
//   decoder       D(E_f + E_r)                     128 -> 64 -> 32 (ReLU), 1x1 -> B
// (coarse images arrive already on the fine grid from the engine, so the in-network bilinear
// upsampling of the original is the engine's job here).
// Loss: MSE + MSE of frozen pretrained-encoder features + 0.8 (1 - MS-SSIM). The pretrained
// encoder belongs to an auto-encoder this model trains itself on the fine images it is given
// during its first `ae_steps` train_step calls (see EdcstfnModel::train_step); it is saved with
// the model, so a loaded model never retrains it.
#include <memory>
#include <string>

#include <torch/torch.h>

#include "lstfuse/deep/family.hpp"
#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

struct EdcstfnOptions {
  int ae_steps = 200;          // auto-encoder pretraining steps (one per train_step call)
  double feature_weight = 1.0;
  double ssim_weight = 0.8;
  void bind(OptionSet& set);
};

// Three 3x3 convolutions with replication padding: in -> 32 -> 64 -> 128.
struct EdcstfnEncoderImpl : torch::nn::Module {
  EdcstfnEncoderImpl(int in_channels, bool final_relu);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(EdcstfnEncoder);

// 128 -> 64 -> 32 (3x3, replication padding, ReLU), then 1x1 -> bands.
struct EdcstfnDecoderImpl : torch::nn::Module {
  explicit EdcstfnDecoderImpl(int bands);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(EdcstfnDecoder);

struct EdcstfnNetImpl : torch::nn::Module {
  explicit EdcstfnNetImpl(int bands);
  // Fused 128-channel features E_f + E_r of one reference, and E_r, whose magnitude weighs two
  // references against each other.
  std::pair<torch::Tensor, torch::Tensor> features(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                                   const torch::Tensor& coarse_target);
  torch::Tensor forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                        const torch::Tensor& coarse_target);
  EdcstfnEncoder fine_encoder{nullptr}, residual_encoder{nullptr};
  EdcstfnDecoder decoder{nullptr};
};
TORCH_MODULE(EdcstfnNet);

// The auto-encoder whose encoder gives the feature loss; same encoder shape as E_f.
struct EdcstfnAutoEncoderImpl : torch::nn::Module {
  explicit EdcstfnAutoEncoderImpl(int bands);
  torch::Tensor forward(const torch::Tensor& x) { return decoder(encoder(x)); }
  EdcstfnEncoder encoder{nullptr};
  EdcstfnDecoder decoder{nullptr};
};
TORCH_MODULE(EdcstfnAutoEncoder);

class EdcstfnModel : public FamilyModel<EdcstfnOptions> {
 public:
  EdcstfnModel(int bands, double lr, const EdcstfnOptions& options);
  std::string name() const override { return "edcstfn"; }
  void to(torch::Device device) override;
  void set_training(bool training) override;
  std::map<std::string, double> train_step(const Batch& batch) override;
  double evaluate_loss(const Batch& batch) override;
  torch::Tensor predict(const std::vector<Batch>& references) override;
  torch::Tensor predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                     std::vector<torch::Tensor>& singles) override;
  std::vector<torch::nn::Module*> networks() override { return {net_.get()}; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  int halo() const override { return 8; }  // 5 stacked 3x3 convolutions: radius 5, rounded up

  bool encoder_pretrained() const;
  EdcstfnNet& net() { return net_; }
  EdcstfnAutoEncoder& auto_encoder() { return auto_encoder_; }

 private:
  // The auto-encoder keeps its own rate (1e-3); the schedule drives the fusion network's.
  std::vector<torch::optim::Adam*> scheduled_optimisers() const override { return {optimizer_.get()}; }
  std::map<std::string, torch::Tensor> losses(const Batch& batch);
  double pretrain_step(const Batch& batch);
  EdcstfnNet net_{nullptr};
  EdcstfnAutoEncoder auto_encoder_{nullptr};
  torch::Tensor ae_steps_done_;  // saved, so a loaded model does not pretrain again
  std::unique_ptr<torch::optim::Adam> optimizer_, ae_optimizer_;
};

class EdcstfnFamily : public FamilyOf<EdcstfnOptions, EdcstfnModel> {
 public:
  MethodInfo info() const override;
  TrainDefaults train_defaults() const override;
};

}  // namespace lstfuse::deep
