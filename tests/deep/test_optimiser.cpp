#include "lstfuse/deep/optimiser.hpp"

#include <cmath>
#include <sstream>

#include <gtest/gtest.h>

namespace lstfuse::test {
namespace {

// Two parameter tensors and a loss with a gradient that changes from step to step.
struct Toy {
  torch::Tensor w = torch::randn({4, 3}).requires_grad_();
  torch::Tensor b = torch::randn({3}).requires_grad_();
  torch::Tensor loss(const torch::Tensor& x) const { return (torch::tanh(x.matmul(w) + b) - 0.3).pow(2).sum(); }
};

Toy twin(const Toy& t) {
  Toy c;
  c.w = t.w.detach().clone().requires_grad_();
  c.b = t.b.detach().clone().requires_grad_();
  return c;
}

// The one-pass step against LibTorch's Adam::step over ten steps, and its state is Adam's own:
// LibTorch's step continues from it as from its own, and it survives save and load.
TEST(Optimiser, AdamStepIsLibTorchsAdam) {
  torch::manual_seed(5);
  Toy a;
  Toy b = twin(a);
  const auto opts = torch::optim::AdamOptions(1e-2).betas(std::make_tuple(0.9, 0.999));
  torch::optim::Adam oa({a.w, a.b}, opts), ob({b.w, b.b}, opts);
  for (int step = 0; step < 10; ++step) {
    const auto x = torch::randn({8, 4});
    deep::clear_gradients(oa);
    a.loss(x).backward();
    EXPECT_TRUE(deep::adam_step(oa));  // the one-pass form, not the fallback
    ob.zero_grad();
    b.loss(x).backward();
    ob.step();
    EXPECT_LT((a.w - b.w).abs().max().item<float>(), 1e-6) << step;
    EXPECT_LT((a.b - b.b).abs().max().item<float>(), 1e-6) << step;
  }
  // LibTorch's step continues from the state the fused one kept, after a save and a load.
  std::stringstream buf;
  {
    torch::serialize::OutputArchive out;
    oa.save(out);
    out.save_to(buf);
  }
  torch::optim::Adam oc({a.w, a.b}, opts);
  {
    torch::serialize::InputArchive in;
    in.load_from(buf);
    oc.load(in);
  }
  const auto x = torch::randn({8, 4});
  oc.zero_grad();
  a.loss(x).backward();
  oc.step();
  ob.zero_grad();
  b.loss(x).backward();
  ob.step();
  EXPECT_LT((a.w - b.w).abs().max().item<float>(), 1e-6);
}

// After clear_gradients the gradients are gone, and backward gives the same ones zero_grad
// followed by backward gives.
TEST(Optimiser, ClearGradientsThenBackward) {
  torch::manual_seed(6);
  Toy a;
  torch::optim::Adam opt({a.w, a.b}, torch::optim::AdamOptions(1e-3));
  const auto x = torch::randn({5, 4});
  a.loss(x).backward();
  deep::clear_gradients(opt);
  EXPECT_FALSE(a.w.grad().defined());
  a.loss(x).backward();
  const auto g1 = a.w.grad().clone();
  opt.zero_grad();
  a.loss(x).backward();
  EXPECT_TRUE(torch::allclose(a.w.grad(), g1));
}

// Weight decay (EDCSTFN's) is part of the one pass: g + wd p, as LibTorch adds it.
TEST(Optimiser, AdamStepWithWeightDecay) {
  torch::manual_seed(7);
  Toy a;
  Toy b = twin(a);
  const auto opts = torch::optim::AdamOptions(1e-2).weight_decay(0.1);
  torch::optim::Adam oa({a.w, a.b}, opts), ob({b.w, b.b}, opts);
  for (int step = 0; step < 5; ++step) {
    const auto x = torch::randn({8, 4});
    oa.zero_grad();
    a.loss(x).backward();
    EXPECT_TRUE(deep::adam_step(oa));
    ob.zero_grad();
    b.loss(x).backward();
    ob.step();
    EXPECT_LT((a.w - b.w).abs().max().item<float>(), 1e-6) << step;
    EXPECT_LT((a.b - b.b).abs().max().item<float>(), 1e-6) << step;
  }
}

// Options the one-pass form does not cover (amsgrad) take LibTorch's step for every parameter.
TEST(Optimiser, AdamStepFallsBackWithAmsgrad) {
  torch::manual_seed(8);
  Toy a;
  Toy b = twin(a);
  const auto opts = torch::optim::AdamOptions(1e-2).amsgrad(true);
  torch::optim::Adam oa({a.w, a.b}, opts), ob({b.w, b.b}, opts);
  for (int step = 0; step < 3; ++step) {
    const auto x = torch::randn({8, 4});
    oa.zero_grad();
    a.loss(x).backward();
    EXPECT_FALSE(deep::adam_step(oa));
    ob.zero_grad();
    b.loss(x).backward();
    ob.step();
  }
  EXPECT_TRUE(torch::equal(a.w, b.w));
  EXPECT_TRUE(torch::equal(a.b, b.b));
}

}  // namespace
}  // namespace lstfuse::test
