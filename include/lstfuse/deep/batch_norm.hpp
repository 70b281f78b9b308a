#pragma once
// Batch normalisation in training mode, optionally followed by a ReLU, as one autograd node.
#include <torch/torch.h>

namespace lstfuse::deep {

// True where batch_norm_train has its own kernels: a 4-D float tensor on the CPU.
bool batch_norm_train_supported(const torch::Tensor& x);

// y = [relu]((x - mean) / sqrt(var + eps) * weight + bias) with the batch's per-channel mean and
// (biased) variance over N, H and W; running_mean and running_var move towards them by
// `momentum` (the variance unbiased), as torch::nn::BatchNorm2d does in training. Gradients flow
// to x, weight and bias. Why: LibTorch 1.13's CPU batch norm and the ReLU after it read and
// write each activation several times more, forward and backward, and on a small network
// (STTFN, 40 x 40 patches) that was a tenth of the training step. Here the forward reads x three
// times (mean, variance, output) and the backward twice, the ReLU's mask recomputed from x.
torch::Tensor batch_norm_train(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor& running_mean, torch::Tensor& running_var, double momentum,
                               double eps, bool relu);

}  // namespace lstfuse::deep
