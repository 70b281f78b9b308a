#include "lstfuse/deep/batch_norm.hpp"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace lstfuse::deep {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The row kernels are compiled for AVX-512, AVX2+FMA and baseline x86-64 and the loader picks
// the widest the CPU has (as the classic methods' window loops): LibTorch's own kernels dispatch
// the same way. Sums run in float lanes (omp simd) over one row of H x W values and are added up
// in double.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LSTFUSE_BN_KERNEL __attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LSTFUSE_BN_KERNEL
#endif

LSTFUSE_BN_KERNEL float row_sum(const float* __restrict p, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

LSTFUSE_BN_KERNEL float row_sum_sq_dev(const float* __restrict p, int64_t n, float m) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += (p[i] - m) * (p[i] - m);
  return s;
}

LSTFUSE_BN_KERNEL void row_affine(const float* __restrict src, float* __restrict dst, int64_t n, float a, float sh,
                                  bool relu) {
  if (relu) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dst[i] = std::max(src[i] * a + sh, 0.0f);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * a + sh;
  }
}

// g' = g where the forward's output was above 0 (the ReLU's gradient), recomputed from x with the
// forward's own arithmetic (x a + sh) instead of reading the output back: one array less to
// stream. Sums of g' and g' (x - m).
LSTFUSE_BN_KERNEL void row_grad_sums(const float* __restrict g, const float* __restrict x, int64_t n, float m,
                                     bool relu, float a, float sh, double& sg, double& sgx) {
  float s0 = 0.0f, s1 = 0.0f;
  if (relu) {
#pragma omp simd reduction(+ : s0, s1)
    for (int64_t i = 0; i < n; ++i) {
      const float gi = x[i] * a + sh > 0.0f ? g[i] : 0.0f;
      s0 += gi;
      s1 += gi * (x[i] - m);
    }
  } else {
#pragma omp simd reduction(+ : s0, s1)
    for (int64_t i = 0; i < n; ++i) {
      s0 += g[i];
      s1 += g[i] * (x[i] - m);
    }
  }
  sg += s0;
  sgx += s1;
}

// dx = (g' - gm - (x - m) k) a
LSTFUSE_BN_KERNEL void row_grad_input(const float* __restrict g, const float* __restrict x, float* __restrict d,
                                      int64_t n, float m, float gm, float k, bool relu, float a, float sh) {
  if (relu) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) d[i] = ((x[i] * a + sh > 0.0f ? g[i] : 0.0f) - gm - (x[i] - m) * k) * a;
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) d[i] = (g[i] - gm - (x[i] - m) * k) * a;
  }
}

struct BatchNormTrain : public torch::autograd::Function<BatchNormTrain> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor weight, torch::Tensor bias,
                               torch::Tensor running_mean, torch::Tensor running_var, double momentum,
                               double eps, bool relu) {
    x = x.contiguous();
    const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3), M = N * HW;
    auto y = torch::empty_like(x);
    auto mean = torch::empty({C}, x.options()), invstd = torch::empty({C}, x.options());
    const auto w = weight.contiguous(), b = bias.contiguous();
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float* mp = mean.data_ptr<float>();
    float* ip = invstd.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* bp = b.data_ptr<float>();
    std::vector<double> var(static_cast<size_t>(C));
    at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n) s += row_sum(xp + (n * C + c) * HW, HW);
        const float m = static_cast<float>(s / static_cast<double>(M));
        double q = 0.0;
        for (int64_t n = 0; n < N; ++n) q += row_sum_sq_dev(xp + (n * C + c) * HW, HW, m);
        var[static_cast<size_t>(c)] = q / static_cast<double>(M);
        const float is = static_cast<float>(1.0 / std::sqrt(var[static_cast<size_t>(c)] + eps));
        mp[c] = m;
        ip[c] = is;
        const float a = is * wp[c], sh = bp[c] - m * a;
        for (int64_t n = 0; n < N; ++n) row_affine(xp + (n * C + c) * HW, yp + (n * C + c) * HW, HW, a, sh, relu);
      }
    });
    {
      torch::NoGradGuard ng;
      const auto batch_var = torch::from_blob(var.data(), {C}, torch::kDouble).to(torch::kFloat);
      running_mean.mul_(1.0 - momentum).add_(mean, momentum);
      running_var.mul_(1.0 - momentum).add_(batch_var * (static_cast<double>(M) / std::max<int64_t>(M - 1, 1)), momentum);
    }
    ctx->save_for_backward({x, w, b, mean, invstd});
    ctx->saved_data["relu"] = relu;
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    const auto& bias = saved[2];
    const auto& mean = saved[3];
    const auto& invstd = saved[4];
    const bool relu = ctx->saved_data["relu"].toBool();
    const auto g = grad_outputs[0].contiguous();
    const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3), M = N * HW;
    auto dx = torch::empty_like(x);
    auto dw = torch::empty({C}, x.options()), db = torch::empty({C}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    const float* mp = mean.data_ptr<float>();
    const float* ip = invstd.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* bp = bias.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    float* dwp = dw.data_ptr<float>();
    float* dbp = db.data_ptr<float>();
    at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const float m = mp[c], is = ip[c];
        const float a = is * wp[c], sh = bp[c] - m * a;  // the forward's, for the ReLU's mask
        double sg = 0.0, sgx = 0.0;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t o = (n * C + c) * HW;
          row_grad_sums(gp + o, xp + o, HW, m, relu, a, sh, sg, sgx);
        }
        dwp[c] = static_cast<float>(sgx * is);
        dbp[c] = static_cast<float>(sg);
        // dx = (g' - mean(g') - (x - m) is^2 mean(g' (x - m))) is w
        const float gm = static_cast<float>(sg / static_cast<double>(M));
        const float k = static_cast<float>(sgx / static_cast<double>(M) * is * is);
        for (int64_t n = 0; n < N; ++n) {
          const int64_t o = (n * C + c) * HW;
          row_grad_input(gp + o, xp + o, dxp + o, HW, m, gm, k, relu, a, sh);
        }
      }
    });
    return {dx, dw, db, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool batch_norm_train_supported(const torch::Tensor& x) {
  // More than one value per channel, as LibTorch's training-mode batch norm requires (it raises
  // otherwise, and the fallback keeps that error).
  return x.defined() && x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
         x.size(0) * x.size(2) * x.size(3) > 1;
}

torch::Tensor batch_norm_train(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor& running_mean, torch::Tensor& running_var, double momentum,
                               double eps, bool relu) {
  TORCH_CHECK(batch_norm_train_supported(x) && weight.defined() && bias.defined() && running_mean.defined() &&
                  running_var.defined() && weight.numel() == x.size(1) && bias.numel() == x.size(1),
              "batch_norm_train: a 4-D CPU float input with more than one value per channel and affine "
              "parameters and running statistics for each of its channels");
  return BatchNormTrain::apply(x, weight, bias, running_mean, running_var, momentum, eps, relu);
}

}  // namespace lstfuse::deep
