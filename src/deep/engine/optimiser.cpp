#include "lstfuse/deep/optimiser.hpp"

namespace lstfuse::deep {

void set_adam_lr(torch::optim::Adam& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

double adam_lr(const torch::optim::Adam& optimizer) {
  const auto& group = optimizer.param_groups().front();
  return static_cast<const torch::optim::AdamOptions&>(group.options()).lr();
}

}  // namespace lstfuse::deep
