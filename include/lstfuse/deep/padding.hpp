#pragma once
// Replication padding: to a multiple for networks that pool or stride (MLFF-GAN, DLSTFM) and its
// inverse, and around a map for convolutions that replicate their borders (EDCSTFN).
#include <cstdint>

#include <torch/torch.h>

namespace lstfuse::deep {

// Pads (N, C, H, W) at the bottom/right by replication so that H and W are multiples of
// `multiple`; crop_to undoes it.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int multiple);
torch::Tensor crop_to(const torch::Tensor& x, int64_t height, int64_t width);

// F::pad(x, {left, right, top, bottom}, replicate), in one pass over each plane when no
// gradient is needed (CPU, float, contiguous): LibTorch's replication kernel computes a source
// index per element and costs as much as a small convolution on large activations. Otherwise
// (training, other devices or types) it is F::pad itself.
torch::Tensor replicate_pad(const torch::Tensor& x, int left, int right, int top, int bottom);

}  // namespace lstfuse::deep
