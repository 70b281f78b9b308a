#pragma once
// MLFF-GAN (Song et al. 2022) as a deep family: a generator with two encoders (one shared by
// the coarse images at the reference and target dates, one for the fine reference), AdaIN and
// an attention mask at five levels, a decoder with skip connections; a PatchGAN discriminator
// on (image, coarse target) with the least-squares GAN loss. Generator loss:
// 0.01 GAN + L1 + (1 - MS-SSIM) + (1 - cosine similarity). Time-reversal augmentation swaps
// reference and target with probability 0.5 inside train_step (a seeded torch generator).
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/family.hpp"
#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

struct MlffGanOptions {
  int width = 16;          // channels at full resolution; x2 at each of the four lower levels
  // AdaIN statistics: over a sliding window of this many fine pixels (scaled down with each
  // level), so the network is local and tiles agree with the whole scene; 0: over the whole
  // input, as in the paper (then a prediction depends on the tile size). A window at least
  // twice the training patch covers every patch whole, so training is the paper's exactly.
  int adain_window = 256;
  double dropout = 0.2;    // inside the encoders' residual blocks
  double gan_weight = 0.01;
  bool time_reversal = true;
  void bind(OptionSet& set);
};

// Reflection pad, 3x3 conv, dropout, LeakyReLU, reflection pad, 3x3 conv, + identity.
struct MlffResBlockImpl : torch::nn::Module {
  MlffResBlockImpl(int channels, double dropout);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(MlffResBlock);

// 7x7 conv to `width`, then four stride-2 3x3 convs (x2 channels) each with a residual block.
struct MlffEncoderImpl : torch::nn::Module {
  MlffEncoderImpl(int in_channels, int width, double dropout);
  std::vector<torch::Tensor> forward(const torch::Tensor& x);  // five levels, finest first
  torch::nn::Conv2d stem{nullptr};
  torch::nn::ModuleList downs{nullptr}, blocks{nullptr};
};
TORCH_MODULE(MlffEncoder);

// M = sigmoid(BN(conv1x1(BN(conv1x1(C_t2)) - BN(conv1x1(C_t1))))).
struct MlffAttentionImpl : torch::nn::Module {
  explicit MlffAttentionImpl(int channels);
  torch::Tensor forward(const torch::Tensor& coarse_ref, const torch::Tensor& coarse_target);
  torch::nn::Conv2d conv_target{nullptr}, conv_ref{nullptr}, conv_out{nullptr};
  torch::nn::BatchNorm2d bn_target{nullptr}, bn_ref{nullptr}, bn_out{nullptr};
};
TORCH_MODULE(MlffAttention);

// AdaIN: the statistics of `content` replaced by those of `style`, per sample and channel, over
// the whole map (radius < 0) or over a (2 radius + 1)^2 window clipped at the map's edges.
torch::Tensor adain(const torch::Tensor& content, const torch::Tensor& style, int radius);
// A ConvTranspose2d of kernel 4, stride 2, padding 1 computed as a 3 x 3 convolution and a pixel
// shuffle: the same result, through the faster convolution kernels (prediction only).
torch::Tensor transposed_conv_as_subpixel(const torch::nn::ConvTranspose2dImpl& up, const torch::Tensor& x);
// Mean over a (2 radius + 1)^2 window clipped at the edges (N, C, H, W), in O(1) per pixel.
torch::Tensor box_mean(const torch::Tensor& x, int radius);

struct MlffGeneratorImpl : torch::nn::Module {
  MlffGeneratorImpl(int bands, const MlffGanOptions& options);
  // Any size: pads (replication) to a multiple of 16 (at least 32) and crops back.
  torch::Tensor forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                        const torch::Tensor& coarse_target);
  // The coarse encoder's levels of an image, padded as forward() pads it. Two references share
  // the target's: prediction encodes it once and hands it to the overload below.
  std::vector<torch::Tensor> encode_coarse(const torch::Tensor& coarse);
  torch::Tensor forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                        const std::vector<torch::Tensor>& target_levels);
  MlffEncoder coarse_encoder{nullptr}, fine_encoder{nullptr};
  torch::nn::ModuleList attention{nullptr}, ups{nullptr};
  torch::nn::Conv2d head1{nullptr}, head2{nullptr};
  int adain_window = 0;
};
TORCH_MODULE(MlffGenerator);

// PatchGAN: 4x4 convs 64-128-256-512-1, BN, LeakyReLU 0.2, on cat(image, coarse target).
struct MlffDiscriminatorImpl : torch::nn::Module {
  explicit MlffDiscriminatorImpl(int bands);
  torch::Tensor forward(const torch::Tensor& image, const torch::Tensor& coarse_target);
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(MlffDiscriminator);

class MlffGanModel : public FamilyModel<MlffGanOptions> {
 public:
  MlffGanModel(int bands, double lr, const MlffGanOptions& options);
  std::string name() const override { return "mlffgan"; }
  void to(torch::Device device) override;
  void set_training(bool training) override;
  // "loss" is the generator's reconstruction loss (L1 + (1 - MS-SSIM) + (1 - cos)); "gan",
  // "d_loss" and "g_total" come alongside.
  std::map<std::string, double> train_step(const Batch& batch) override;
  double evaluate_loss(const Batch& batch) override;
  torch::Tensor predict(const std::vector<Batch>& references) override;
  torch::Tensor predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                     std::vector<torch::Tensor>& singles) override;
  std::vector<torch::nn::Module*> networks() override { return {generator_.get()}; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  // Receptive radius of the convolutions: stem 3, encoder levels 1-4 sum(2^(l-1) + 2 x 2^l)
  // = 75, decoder 16 + 8 + 4 + 2 = 30: 108 px. The AdaIN windows add up to max(window / 2,
  // 16). Rounded up to a multiple of 16 so that tile origins keep the stride-16 grid.
  int halo() const override;
  int tile_alignment() const override { return 16; }

  MlffGenerator& generator() { return generator_; }
  MlffDiscriminator& discriminator() { return discriminator_; }

 private:
  // Generator and discriminator follow the same schedule; the generator's rate is reported.
  std::vector<torch::optim::Adam*> scheduled_optimisers() const override {
    return {g_optimizer_.get(), d_optimizer_.get()};
  }
  Batch augment(const Batch& batch);
  torch::Tensor reconstruction_loss(const torch::Tensor& pred, const Batch& batch);
  MlffGenerator generator_{nullptr};
  MlffDiscriminator discriminator_{nullptr};
  std::unique_ptr<torch::optim::Adam> g_optimizer_, d_optimizer_;
  at::Generator swap_rng_;
};

class MlffGanFamily : public FamilyOf<MlffGanOptions, MlffGanModel> {
 public:
  MethodInfo info() const override;
  TrainDefaults train_defaults() const override;
  // Models saved before --adain-window existed used whole-input statistics.
  std::map<std::string, std::string> legacy_options() const override { return {{"adain-window", "0"}}; }
};

}  // namespace lstfuse::deep
