#pragma once
// StfNet (Liu et al. 2019) as a deep family: a shallow two-stream CNN that learns the fine
// temporal change L_b - L_a from the coarse change M_b - M_a and the fine reference L_a.
// The forward stream learns from references before the target (dt > 0), the backward stream
// from references after it (dt < 0); with two references both predictions are blended with
// temporal (TC) weights 1 / |mean(M_k) - mean(M_0)|.
#include <memory>
#include <string>

#include <torch/torch.h>

#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/family.hpp"
#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

struct StfNetOptions {
  int features = 64;  // channels of the first layer (the second has half)
  void bind(OptionSet& set);
};

// One stream: three convolutions (5x5, 3x3, 5x5, zero padding), ReLU between them.
struct StfNetStreamImpl : torch::nn::Module {
  StfNetStreamImpl(int bands, int features, int context = 0);
  // Predicted fine image at the target date: L_a + f(M_b - M_a, L_a).
  // context: series features (--series-context) beside the change and L_a, when built for them.
  torch::Tensor forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                        const torch::Tensor& coarse_target, const torch::Tensor& context = {});
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  int context_channels = 0;
};
TORCH_MODULE(StfNetStream);

class StfNetModel : public FamilyModel<StfNetOptions> {
 public:
  StfNetModel(int bands, double lr, const StfNetOptions& options, int context = 0);
  std::string name() const override { return "stfnet"; }
  void to(torch::Device device) override;
  void set_training(bool training) override;
  std::map<std::string, double> train_step(const Batch& batch) override;
  double evaluate_loss(const Batch& batch) override;
  torch::Tensor predict(const std::vector<Batch>& references) override;
  torch::Tensor predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                     std::vector<torch::Tensor>& singles) override;
  std::vector<torch::nn::Module*> networks() override { return {forward_.get(), backward_.get()}; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  int halo() const override { return 8; }  // receptive radius 2 + 1 + 2 = 5, rounded up

 private:
  std::vector<torch::optim::Adam*> scheduled_optimisers() const override { return {optimizer_.get()}; }
  // Loss of both streams on their own samples (masked MSE), averaged over all valid pixels.
  torch::Tensor loss(const Batch& batch);
  // The stream for a reference on this side; a stream never trained falls back to the other.
  StfNetStream& stream_for(bool forward_side);
  StfNetStream forward_{nullptr}, backward_{nullptr};
  torch::Tensor trained_steps_;  // (2): steps each stream has learned from
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

class StfNetFamily : public FamilyOf<StfNetOptions, StfNetModel> {
 public:
  MethodInfo info() const override;
  TrainDefaults train_defaults() const override;
  bool supports_series_context() const override { return true; }
};

}  // namespace lstfuse::deep
