#pragma once
// Shared checks for the network-family tests (StfNet, EDCSTFN, MLFF-GAN, DLSTFM): synthetic
// batches with a known structure, and the contract properties every DeepModel must keep.
#include <algorithm>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <vector>

#include <torch/torch.h>

#include "lstfuse/deep/family.hpp"
#include "lstfuse/deep/model.hpp"

namespace lstfuse::test {

namespace F = torch::nn::functional;

// Smooth random field: noise at 1/4 resolution, upsampled bilinearly, plus fine texture.
inline torch::Tensor smooth_field(int64_t n, int64_t b, int64_t h, int64_t w) {
  auto low = torch::randn({n, b, (h + 3) / 4, (w + 3) / 4});
  auto up = F::interpolate(low, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w})
                                    .mode(torch::kBilinear).align_corners(false));
  return up + 0.3 * torch::randn({n, b, h, w});
}

// Coarse version on the fine grid: 4 x 4 block means, upsampled bilinearly.
inline torch::Tensor coarsen(const torch::Tensor& x) {
  auto low = F::avg_pool2d(x, F::AvgPool2dFuncOptions(4).stride(4).ceil_mode(true));
  return F::interpolate(low, F::InterpolateFuncOptions().size(std::vector<int64_t>{x.size(2), x.size(3)})
                                 .mode(torch::kBilinear).align_corners(false));
}

// A pair at the reference date and the target a change later: the target is a nonlinear,
// spatially varying change of the reference, so no model starts out right.
inline deep::Batch synthetic_batch(int64_t n, int64_t bands, int64_t h, int64_t w, uint64_t seed, double dt = 16) {
  torch::manual_seed(seed);
  deep::Batch b;
  b.fine_ref = smooth_field(n, bands, h, w);
  b.fine_target = 0.7 * b.fine_ref + 0.5 * torch::tanh(b.fine_ref) + 0.4 * smooth_field(n, bands, h, w) + 0.5;
  b.coarse_ref = coarsen(b.fine_ref);
  b.coarse_target = coarsen(b.fine_target);
  b.mask = torch::ones({n, 1, h, w});
  b.dt = torch::full({n}, dt);
  return b;
}

inline std::unique_ptr<deep::DeepModel> make_model(const deep::DeepFamily& family, int bands, double lr,
                                                   uint64_t seed = 1) {
  torch::manual_seed(seed);
  return family.create_model(bands, lr);
}

// Output shapes at an odd size, with one reference (each side) and with two.
inline void check_shapes(const deep::DeepFamily& family, int bands) {
  auto model = make_model(family, bands, 1e-3);
  auto before = synthetic_batch(1, bands, 37, 29, 3, 10);
  auto after = synthetic_batch(1, bands, 37, 29, 4, -6);
  after.coarse_target = before.coarse_target;  // one target date
  for (const auto& refs : std::vector<std::vector<deep::Batch>>{{before}, {after}, {before, after}}) {
    auto out = model->predict(refs);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, bands, 37, 29}));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
}

// Learning rate over an overfit run: the model's own, or a cosine decay from it to zero at the
// last step (for optimisers that oscillate at a rate high enough to learn in few steps).
enum class LrSchedule { constant, cosine };

// Repeating train_step on one batch: the monitored loss falls by at least 90 %. Adam makes the
// last steps oscillate, so "last" is the lowest loss of the final 10 steps.
inline void check_overfit(deep::DeepModel& model, const deep::Batch& batch, int steps,
                          LrSchedule schedule = LrSchedule::constant) {
  const double lr = model.learning_rate();
  const double first = model.train_step(batch).at("loss");
  double last = first;
  const bool verbose = std::getenv("LSTFUSE_TEST_VERBOSE") != nullptr;
  for (int i = 1; i < steps; ++i) {
    if (schedule == LrSchedule::cosine) model.set_learning_rate(lr * 0.5 * (1.0 + std::cos(M_PI * i / steps)));
    const double loss = model.train_step(batch).at("loss");
    if (i == std::max(1, steps - 10)) last = loss;
    if (i > steps - 10) last = std::min(last, loss);
    if (verbose && i % 20 == 0) std::printf("step %d loss %.5f\n", i, loss);
  }
  EXPECT_GT(first, 0.0);
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
}

// Saved state restored into a differently initialised model gives the same predictions.
inline void check_save_load(const deep::DeepFamily& family, int bands, int64_t size) {
  auto a = make_model(family, bands, 1e-3, 1);
  auto batch = synthetic_batch(2, bands, size, size, 5);
  a->train_step(batch);
  a->train_step(batch);
  std::stringstream stream;
  {
    torch::serialize::OutputArchive archive;
    a->save(archive);
    archive.save_to(stream);
  }
  auto b = make_model(family, bands, 1e-3, 2);
  auto probe = synthetic_batch(1, bands, 37, 29, 6);
  EXPECT_FALSE(torch::equal(a->predict({probe}), b->predict({probe})));  // the check can fail
  torch::serialize::InputArchive archive;
  archive.load_from(stream);
  b->load(archive);
  EXPECT_TRUE(torch::equal(a->predict({probe}), b->predict({probe})));
  EXPECT_DOUBLE_EQ(a->learning_rate(), b->learning_rate());
  // The optimiser state came along: one more identical step keeps both models identical.
  torch::manual_seed(9);
  a->train_step(batch);
  torch::manual_seed(9);
  b->train_step(batch);
  EXPECT_TRUE(torch::allclose(a->predict({probe}), b->predict({probe}), 1e-5, 1e-6));
}

// Masked pixels contribute nothing: two identical models trained one step on batches that
// differ only in masked target pixels (one holds NaN and huge values there) stay identical,
// while a change at a valid pixel does change the result.
inline void check_mask_ignored(const deep::DeepFamily& family, int bands, int64_t size) {
  auto base = synthetic_batch(2, bands, size, size, 7);
  base.mask.index_put_({torch::indexing::Slice(), 0, torch::indexing::Slice(0, size / 2),
                        torch::indexing::Slice(0, size / 3)},
                       0.0);
  auto dirty = base;
  dirty.fine_target = base.fine_target.clone();
  auto masked = (base.mask == 0).expand_as(dirty.fine_target);
  dirty.fine_target.index_put_({masked}, 1e6);
  dirty.fine_target.index_put_({0, 0, 0, 0}, std::numeric_limits<float>::quiet_NaN());
  auto changed = base;
  changed.fine_target = base.fine_target.clone();
  changed.fine_target.index_put_({0, 0, size - 2, size - 2}, 5.0);  // a valid pixel

  auto probe = synthetic_batch(1, bands, 37, 29, 8);
  auto step_and_predict = [&](const deep::Batch& b) {
    auto model = make_model(family, bands, 1e-3, 11);
    torch::manual_seed(12);
    // Several steps: Adam's first step is nearly sign(gradient), which could hide a leak.
    for (int i = 0; i < 3; ++i) model->train_step(b);
    return model->predict({probe});
  };
  auto p_base = step_and_predict(base);
  auto p_dirty = step_and_predict(dirty);
  auto p_changed = step_and_predict(changed);
  EXPECT_TRUE(torch::isfinite(p_dirty).all().item<bool>());
  EXPECT_TRUE(torch::allclose(p_base, p_dirty, 1e-5, 1e-6))
      << "max diff " << (p_base - p_dirty).abs().max().item<double>();
  EXPECT_GT((p_base - p_changed).abs().max().item<double>(), 1e-6);
}

// Largest difference between the whole-scene prediction and that of one tile: the rows
// [row0, row0 + inner + 2 halo) of the scene, compared on the `inner` rows after its halo.
inline double tile_vs_whole(deep::DeepModel& model, const deep::Batch& scene, int64_t row0, int64_t inner,
                            int64_t halo) {
  using torch::indexing::Slice;
  const auto whole = model.predict({scene});
  deep::Batch tile;
  const auto rows = Slice(row0, row0 + inner + 2 * halo);
  tile.fine_ref = scene.fine_ref.index({"...", rows, Slice()});
  tile.coarse_ref = scene.coarse_ref.index({"...", rows, Slice()});
  tile.coarse_target = scene.coarse_target.index({"...", rows, Slice()});
  tile.dt = scene.dt;
  const auto part = model.predict({tile});
  return (part.index({"...", Slice(halo, halo + inner), Slice()}) -
          whole.index({"...", Slice(row0 + halo, row0 + halo + inner), Slice()}))
      .abs()
      .max()
      .item<double>();
}

}  // namespace lstfuse::test
