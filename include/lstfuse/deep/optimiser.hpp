#pragma once
// The optimiser helpers the families share: the learning-rate schedule drives Adam this way.
#include <torch/torch.h>

namespace lstfuse::deep {

// Adam learning rate of every parameter group.
void set_adam_lr(torch::optim::Adam& optimizer, double lr);
double adam_lr(const torch::optim::Adam& optimizer);

}  // namespace lstfuse::deep

namespace lstfuse::deep {

// optimizer.step() for Adam, with each CPU float parameter updated in one pass over its values
// (weight decay, the moments, the bias corrections and the step fused) instead of LibTorch's
// seven tensor operations per parameter; the state is Adam's own (saved and loaded as usual)
// and the result is the same to float rounding. When a parameter is not covered (another
// device or type, amsgrad) every parameter goes through optimizer.step() and it returns false.
// On a small network (STTFN: 36 parameter tensors per net) the per-operation cost of LibTorch's
// form is a few per cent of a training step.
bool adam_step(torch::optim::Adam& optimizer);

// optimizer.zero_grad() that drops the gradients instead of zeroing them: backward then writes
// the new gradient into place instead of adding it to zeros (no pass, no allocation kept).
void clear_gradients(torch::optim::Optimizer& optimizer);

}  // namespace lstfuse::deep
