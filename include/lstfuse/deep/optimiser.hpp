#pragma once
// The optimiser helpers the families share: the learning-rate schedule drives Adam this way.
#include <torch/torch.h>

namespace lstfuse::deep {

// Adam learning rate of every parameter group.
void set_adam_lr(torch::optim::Adam& optimizer, double lr);
double adam_lr(const torch::optim::Adam& optimizer);

}  // namespace lstfuse::deep
