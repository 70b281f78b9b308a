#include "lstfuse/deep/optimiser.hpp"

#include <ATen/Parallel.h>

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

namespace lstfuse::deep {

void set_adam_lr(torch::optim::Adam& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

double adam_lr(const torch::optim::Adam& optimizer) {
  const auto& group = optimizer.param_groups().front();
  return static_cast<const torch::optim::AdamOptions&>(group.options()).lr();
}

namespace {

// The optimiser's state is keyed by the parameter's TensorImpl: its address written by an
// ostream in LibTorch 1.x (c10::guts::to_string of the pointer), the pointer itself in 2.x.
template <class Key>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// LibTorch's Adam::step in one pass, in its order of operations and with its constants rounded
// to float as it rounds them (c1 = 1 - b1 and c2 = 1 - b2 taken in double):
// g' = g + wd p; m = b1 m + c1 g'; v = b2 v + c2 g'^2; p -= step m / (sqrt(v) / sqrt(bc2) + eps).
struct AdamConstants {
  float b1, b2, c1, c2, sqrt_bc2, eps, step, wd;
};

void adam_update(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                 int64_t n, const AdamConstants& k) {
  const AdamConstants c = k;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = c.wd != 0.0f ? g[i] + c.wd * p[i] : g[i];
    const float mi = m[i] * c.b1 + gi * c.c1;
    const float vi = v[i] * c.b2 + gi * gi * c.c2;
    m[i] = mi;
    v[i] = vi;
    p[i] -= c.step * (mi / (std::sqrt(vi) / c.sqrt_bc2 + c.eps));
  }
}

}  // namespace

bool adam_step(torch::optim::Adam& optimizer) {
  // Any parameter the one-pass update does not cover: LibTorch's own step for all of them.
  auto& states = optimizer.state();
  using Key = typename std::decay_t<decltype(states)>::key_type;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      const auto& g = p.grad();
      if (!g.defined()) continue;
      if (o.amsgrad() || g.is_sparse() || !p.device().is_cpu() || p.scalar_type() != torch::kFloat ||
          g.scalar_type() != torch::kFloat || !p.is_contiguous() || !g.is_contiguous()) {
        optimizer.step();
        return false;
      }
      const auto it = states.find(state_key<Key>(p));
      if (it != states.end()) {
        const auto& st = static_cast<const torch::optim::AdamParamState&>(*it->second);
        if (!st.exp_avg().defined() || !st.exp_avg_sq().defined() || st.exp_avg().scalar_type() != torch::kFloat ||
            st.exp_avg_sq().scalar_type() != torch::kFloat || st.exp_avg().numel() != p.numel() ||
            st.exp_avg_sq().numel() != p.numel() || !st.exp_avg().device().is_cpu()) {
          optimizer.step();
          return false;
        }
      }
    }
  }
  torch::NoGradGuard ng;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      const auto& g = p.grad();
      if (!g.defined()) continue;
      const Key key = state_key<Key>(p);
      auto it = states.find(key);
      if (it == states.end()) {
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
        it = states.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
      if (!s.exp_avg().is_contiguous()) s.exp_avg(s.exp_avg().contiguous());  // a loaded state
      if (!s.exp_avg_sq().is_contiguous()) s.exp_avg_sq(s.exp_avg_sq().contiguous());
      s.step(s.step() + 1);
      const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
      const double bc1 = 1.0 - std::pow(b1, static_cast<double>(s.step()));
      const double bc2 = 1.0 - std::pow(b2, static_cast<double>(s.step()));
      float* pp = p.data_ptr<float>();
      const float* gp = g.data_ptr<float>();
      float* mp = s.exp_avg().data_ptr<float>();
      float* vp = s.exp_avg_sq().data_ptr<float>();
      const AdamConstants k{static_cast<float>(b1),         static_cast<float>(b2),
                            static_cast<float>(1.0 - b1),   static_cast<float>(1.0 - b2),
                            static_cast<float>(std::sqrt(bc2)), static_cast<float>(o.eps()),
                            static_cast<float>(o.lr() / bc1), static_cast<float>(o.weight_decay())};
      // Large tensors (a discriminator's 512-channel kernels) on every thread, as LibTorch's ops.
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t i0, int64_t i1) {
        adam_update(pp + i0, gp + i0, mp + i0, vp + i0, i1 - i0, k);
      });
      p.unsafeGetTensorImpl()->bump_version();  // changed in place, as LibTorch's own ops mark it
    }
  }
  return true;
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
}

}  // namespace lstfuse::deep
