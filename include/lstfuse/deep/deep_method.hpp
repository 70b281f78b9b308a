#pragma once
// Any DeepFamily as a lstfuse::Method: common + family options, fit() trains through the
// engine, save()/load() one model file, predict() infers the scene through overlapping tiles.
//
// The model file is a torch archive holding "meta" (JSON string: method, options, normalisation,
// training dates, bands, library version) and "model" (the family's networks + optimisers).
// At prediction every reference Batch carries in `mask` where that reference is valid, so a
// model can drop a reference per pixel.
#include <memory>
#include <optional>

#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/family.hpp"

namespace lstfuse::deep {

class DeepMethod : public Method {
 public:
  explicit DeepMethod(std::unique_ptr<DeepFamily> family);
  const MethodInfo& info() const override { return info_; }
  OptionSet& options() override { return options_; }
  int halo() const override;
  int tile_alignment() const override;

  void fit(const std::vector<ImagePair>& pairs, const FitContext& ctx) override;
  bool fitted() const override { return model_ != nullptr; }
  void save(const std::filesystem::path& path) const override;
  void load(const std::filesystem::path& path) override;
  void check_grid(const Grid& scene) const override;
  FusionResult predict(const FusionInput& in) override;
  std::string fit_note() const override { return baseline_note_; }
  // The model predicts with its baseline candidate (training did not beat it on validation).
  bool keeps_baseline() const { return baseline_kept_; }

  // For tests and benchmarks.
  DeepModel* model() { return model_.get(); }
  const Normaliser& normaliser() const { return norm_; }
  const std::optional<TrainReport>& last_report() const { return report_; }
  CommonOptions& common() { return common_; }

 private:
  std::string meta_json() const;
  // Copies the options marked at prediction into the model's own (FamilyModel) before it
  // predicts or says its halo: the one rule for every family (core/options.hpp).
  void sync_prediction_options() const;
  void set_baseline_choice(const TrainReport& report);
  static std::string baseline_message(double network_rmse, double baseline_rmse);
  torch::Device device() const;

  std::unique_ptr<DeepFamily> family_;
  MethodInfo info_;
  CommonOptions common_;
  OptionSet options_;
  nlohmann::json defaults_;  // option values at construction: tells user-set ones at load()
  nlohmann::json restored_ = nlohmann::json::object();  // values an earlier load() set: not the user's
  std::unique_ptr<DeepModel> model_;
  Normaliser norm_;
  int bands_ = 0;
  std::string model_file_;  // the file the model was loaded from (empty: trained in this process)
  std::string frame_ = "relative";  // the model's frame (fixed when it is trained or loaded)
  std::vector<Date> train_dates_;
  std::optional<TrainReport> report_;
  SeriesContext context_;     // --series-context: sums over the training pairs
  bool baseline_kept_ = false;
  nlohmann::json baseline_;   // the validation scores behind the choice (model file "baseline")
  std::string baseline_note_;
};

}  // namespace lstfuse::deep
