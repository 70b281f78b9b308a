#pragma once
// Model archives: each network and optimiser under its own key of the family's sub-archive
// (deep_method.hpp describes the model file around it).
#include <string>

#include <torch/torch.h>

namespace lstfuse::deep {

// Sub-archive helpers: modules and optimisers each under their own key.
void write_module(torch::serialize::OutputArchive& archive, const std::string& key, const torch::nn::Module& module);
void read_module(torch::serialize::InputArchive& archive, const std::string& key, torch::nn::Module& module);
void write_optimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                     const torch::optim::Optimizer& optimizer);
void read_optimizer(torch::serialize::InputArchive& archive, const std::string& key,
                    torch::optim::Optimizer& optimizer);

}  // namespace lstfuse::deep
