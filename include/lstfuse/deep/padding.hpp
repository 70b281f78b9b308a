#pragma once
// Replication padding for networks that pool or stride (MLFF-GAN, DLSTFM) and its inverse.
#include <cstdint>

#include <torch/torch.h>

namespace lstfuse::deep {

// Pads (N, C, H, W) at the bottom/right by replication so that H and W are multiples of
// `multiple`; crop_to undoes it.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int multiple);
torch::Tensor crop_to(const torch::Tensor& x, int64_t height, int64_t width);

}  // namespace lstfuse::deep
