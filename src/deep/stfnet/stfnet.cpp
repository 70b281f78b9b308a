#include "lstfuse/deep/stfnet.hpp"

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/losses.hpp"
#include "lstfuse/deep/optimiser.hpp"
#include "lstfuse/deep/serialisation.hpp"

namespace lstfuse::deep {

namespace nn = torch::nn;

StfNetStreamImpl::StfNetStreamImpl(int bands, int features, int context) : context_channels(context) {
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(2 * bands + context, features, 5).padding(2)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(features, features / 2, 3).padding(1)));
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(features / 2, bands, 5).padding(2)));
}

torch::Tensor StfNetStreamImpl::forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                        const torch::Tensor& coarse_target, const torch::Tensor& context) {
  if (context_channels > 0 && (!context.defined() || context.size(1) != context_channels))
    throw Error("stfnet: the network takes series context (--series-context) that the input lacks");
  auto x = context_channels > 0 ? torch::cat({coarse_target - coarse_ref, fine_ref, context}, 1)
                                : torch::cat({coarse_target - coarse_ref, fine_ref}, 1);
  auto change = conv3(torch::relu(conv2(torch::relu(conv1(x)))));
  return fine_ref + change;
}

StfNetModel::StfNetModel(int bands, double lr, const StfNetOptions& options, int context) : FamilyModel(options) {
  forward_ = StfNetStream(bands, options.features, context);
  backward_ = StfNetStream(bands, options.features, context);
  trained_steps_ = torch::zeros({2}, torch::kLong);
  std::vector<torch::Tensor> params = forward_->parameters();
  for (auto& p : backward_->parameters()) params.push_back(p);
  optimizer_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(lr));
}

void StfNetModel::to(torch::Device device) {
  forward_->to(device);
  backward_->to(device);
}

void StfNetModel::set_training(bool training) {
  forward_->train(training);
  backward_->train(training);
}

torch::Tensor StfNetModel::loss(const Batch& b) {
  auto side = (b.dt >= 0).view({-1, 1, 1, 1});
  // Each sample goes through the stream of its side; running both and selecting keeps one
  // graph and leaves the other stream's gradient at exactly zero for that sample.
  auto pf = forward_->forward(b.fine_ref, b.coarse_ref, b.coarse_target, b.context);
  auto pb = backward_->forward(b.fine_ref, b.coarse_ref, b.coarse_target, b.context);
  auto pred = torch::where(side, pf, pb);
  return masked_mse(pred, b.fine_target, b.mask);
}

std::map<std::string, double> StfNetModel::train_step(const Batch& batch) {
  set_training(true);
  clear_gradients(*optimizer_);
  auto l = loss(batch);
  l.backward();
  adam_step(*optimizer_);
  auto forward_count = (batch.dt >= 0).sum().item<int64_t>();
  trained_steps_[0] += forward_count > 0 ? 1 : 0;
  trained_steps_[1] += forward_count < batch.dt.size(0) ? 1 : 0;
  return {{"loss", l.item<double>()}};
}

double StfNetModel::evaluate_loss(const Batch& batch) {
  torch::NoGradGuard no_grad;
  set_training(false);
  return loss(batch).item<double>();
}

StfNetStream& StfNetModel::stream_for(bool forward_side) {
  const bool forward_trained = trained_steps_[0].item<int64_t>() > 0;
  const bool backward_trained = trained_steps_[1].item<int64_t>() > 0;
  if (forward_side) return (forward_trained || !backward_trained) ? forward_ : backward_;
  return (backward_trained || !forward_trained) ? backward_ : forward_;
}

torch::Tensor StfNetModel::predict(const std::vector<Batch>& references) {
  std::vector<torch::Tensor> unused;
  return predict_with_singles(references, {}, unused);
}

torch::Tensor StfNetModel::predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                                std::vector<torch::Tensor>& singles) {
  TORCH_CHECK(references.size() == 1 || references.size() == 2, "stfnet: one or two references");
  torch::NoGradGuard no_grad;
  set_training(false);
  singles.assign(references.size(), torch::Tensor());
  auto run = [&](const Batch& r, bool forward_side) {
    return stream_for(forward_side)->forward(r.fine_ref, r.coarse_ref, r.coarse_target, r.context);
  };
  // One reference: its side decides the stream (dt of the first sample; a batch is one scene).
  auto side_of = [](const Batch& r) { return !r.dt.defined() || r.dt.numel() == 0 || r.dt[0].item<double>() >= 0; };
  if (references.size() == 1) return run(references[0], side_of(references[0]));
  auto before = run(references[0], true);
  auto after = run(references[1], false);
  // Alone, a reference takes the stream of its own side: the same one here unless dt says otherwise.
  for (size_t k = 0; k < 2 && k < want.size(); ++k)
    if (want[k]) singles[k] = side_of(references[k]) == (k == 0) ? (k == 0 ? before : after)
                                                                 : run(references[k], side_of(references[k]));
  // Scene means when the engine gives them (tiles then agree with the whole scene).
  const SceneContext* sc = scene(2);
  auto w = sc ? scene_temporal_weights(*sc, before.device())
               : temporal_weights({references[0].coarse_ref, references[1].coarse_ref}, references[0].coarse_target);
  last_weights_ = torch::cat({w[0].narrow(1, 0, 1).expand_as(before.narrow(1, 0, 1)),
                              w[1].narrow(1, 0, 1).expand_as(before.narrow(1, 0, 1))}, 1);
  return w[0] * before + w[1] * after;
}

void StfNetModel::save(torch::serialize::OutputArchive& archive) const {
  write_module(archive, "forward", *forward_);
  write_module(archive, "backward", *backward_);
  archive.write("trained_steps", trained_steps_, /*is_buffer=*/true);
  write_optimizer(archive, "optimizer", *optimizer_);
}

void StfNetModel::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "forward", *forward_);
  read_module(archive, "backward", *backward_);
  archive.read("trained_steps", trained_steps_, /*is_buffer=*/true);
  trained_steps_ = trained_steps_.to(torch::kCPU);
  read_optimizer(archive, "optimizer", *optimizer_);
}

MethodInfo StfNetFamily::info() const {
  return deep_method_info("stfnet",
                          "StfNet (Liu 2019): shallow two-stream CNN on the temporal change, TC-weighted");
}

TrainDefaults StfNetFamily::train_defaults() const {
  // The STTFN paper trains StfNet as its comparator with its own set-up (Adam 1e-4, x0.1 every
  // 10 epochs, 40 x 40 patches); we do the same.
  return TrainDefaults{};
}

void StfNetOptions::bind(OptionSet& set) {
  set.add("features", features, "channels of StfNet's first convolution (the second has half)");
  set.limit("features", 2, 1024);
}

}  // namespace lstfuse::deep
