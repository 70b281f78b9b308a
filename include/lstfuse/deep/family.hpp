#pragma once
// A deep method family (STTFN, StfNet, EDCSTFN, MLFF-GAN, DLSTFM) as the engine sees it: its
// description, its paper's training defaults, its own options, and a factory for fresh models.
// The engine's DeepMethod (deep/deep_method.hpp) turns any family into a lstfuse::Method with
// the common flags (--epochs, --batch-size, --lr, --patch, --stride, --seed, --device,
// --threads, ...) plus the family's own.
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lstfuse/core/options.hpp"
#include "lstfuse/deep/model.hpp"
#include "lstfuse/deep/optimiser.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::deep {

// The paper's training set-up; every field can be overridden by a common flag.
struct TrainDefaults {
  double lr = 1e-4;
  int epochs = 30;
  int batch_size = 16;
  int patch = 40;
  int stride = 20;
  std::string lr_schedule = "step";  // "step" (x gamma every lr_step epochs) or "plateau"
  int lr_step = 10;
  double lr_gamma = 0.1;
  int plateau_patience = 5;
  // How the engine scales Kelvin before the network sees it; stored with the model.
  // "std": (x - mean) / std of the training fine images; "center": x - mean; "none".
  std::string normalise = "std";
  // "relative" or "absolute" (CommonOptions::frame).
  std::string frame = "relative";
  // Prediction tile without halo (CommonOptions::tile); larger for networks with a large halo.
  int tile = 256;
};

// What every deep family's MethodInfo shares: family "deep", one or two references, trainable.
inline MethodInfo deep_method_info(std::string name, std::string summary) {
  MethodInfo i;
  i.name = std::move(name);
  i.family = "deep";
  i.summary = std::move(summary);
  i.min_pairs = 1;
  i.max_pairs = 2;
  i.trainable = true;
  return i;
}

class DeepFamily {
 public:
  virtual ~DeepFamily() = default;
  virtual MethodInfo info() const = 0;
  virtual TrainDefaults train_defaults() const = 0;
  // Binds this family's own options (their fields live in the family object).
  virtual void bind(OptionSet& options) = 0;
  // A fresh model (networks + optimisers at learning rate `lr`) for `bands` bands. The engine
  // seeds torch before calling, so initial weights are reproducible.
  virtual std::unique_ptr<DeepModel> create_model(int bands, double lr) const = 0;
  // Values of options added after models were first saved, for model files that lack them:
  // what those models were trained with, so that they still predict as before.
  virtual std::map<std::string, std::string> legacy_options() const { return {}; }
  // Families whose networks take series features (--series-context, deep/series_context.hpp)
  // as extra input channels; create_model() then builds them for context_channels() more.
  virtual bool supports_series_context() const { return false; }
  void set_context_channels(int channels) { context_channels_ = channels; }
  int context_channels() const { return context_channels_; }

 protected:
  int context_channels_ = 0;
};

// The base of every family's model: its copy of the family's options, taken when the model is
// created (at training, or at load), and the prediction hooks (scene means, reference weights).
template <class Options>
class FamilyModel : public DeepModel, public PredictionHooks {
 public:
  explicit FamilyModel(const Options& options) : options_(options) {}
  void bind_options(OptionSet& set) override { options_.bind(set); }
  // Adam's rate of the optimisers the schedule drives (the first one's is reported).
  double learning_rate() const override { return adam_lr(*scheduled_optimisers().front()); }
  void set_learning_rate(double lr) override {
    for (auto* o : scheduled_optimisers()) set_adam_lr(*o, lr);
  }

 protected:
  virtual std::vector<torch::optim::Adam*> scheduled_optimisers() const = 0;
  Options options_;
};

// The base of every family: its options (a struct with the paper's defaults and a
// bind(OptionSet&) that names them) and a factory for its models, which take
// (bands, lr, options[, context channels]). A family adds its description (info), its paper's
// training set-up (train_defaults) and, where it has them, series context and legacy options.
template <class Options, class Model>
class FamilyOf : public DeepFamily {
 public:
  Options options;  // bound as the method's options; each model copies them when it is created

  void bind(OptionSet& set) override { options.bind(set); }
  std::unique_ptr<DeepModel> create_model(int bands, double lr) const override {
    if constexpr (std::is_constructible_v<Model, int, double, const Options&, int>)
      return std::make_unique<Model>(bands, lr, options, context_channels_);
    else
      return std::make_unique<Model>(bands, lr, options);
  }
};

}  // namespace lstfuse::deep
