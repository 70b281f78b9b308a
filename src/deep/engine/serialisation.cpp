#include "lstfuse/deep/serialisation.hpp"

namespace lstfuse::deep {

void write_module(torch::serialize::OutputArchive& archive, const std::string& key, const torch::nn::Module& module) {
  torch::serialize::OutputArchive sub;
  module.save(sub);
  archive.write(key, sub);
}

void read_module(torch::serialize::InputArchive& archive, const std::string& key, torch::nn::Module& module) {
  torch::serialize::InputArchive sub;
  archive.read(key, sub);
  module.load(sub);
}

void write_optimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                     const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive sub;
  optimizer.save(sub);
  archive.write(key, sub);
}

void read_optimizer(torch::serialize::InputArchive& archive, const std::string& key,
                    torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive sub;
  archive.read(key, sub);
  optimizer.load(sub);
}

}  // namespace lstfuse::deep
