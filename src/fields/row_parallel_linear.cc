#include "fields/row_parallel_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

#include "util/error.h"

namespace nerfedit {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Below this many rows one BLAS call is as fast as splitting (measured crossover ~4k rows at 64 wide).
constexpr int64_t kMinRows = 8192;

int64_t Blocks(int64_t rows) { return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows / 1024)); }

// Row block b of `blocks` over n rows: [begin, end).
std::pair<int64_t, int64_t> Block(int64_t n, int64_t blocks, int64_t b) { return {n * b / blocks, n * (b + 1) / blocks}; }

class RowParallelLinearFunction : public torch::autograd::Function<RowParallelLinearFunction> {
 public:
  // The kernels see detached tensors: at::parallel_for's worker threads do not inherit the autograd state of the
  // calling thread, and an out= product of a tensor that requires grad is refused there.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& weight_in,
                            const at::Tensor& bias_in) {
    const at::Tensor x = x_in.detach().contiguous(), weight = weight_in.detach(), bias = bias_in.detach();
    ctx->save_for_backward({x_in, weight_in});
    const bool has_bias = bias.numel() > 0;  // autograd Functions take no undefined inputs: [0] = no bias
    ctx->saved_data["has_bias"] = has_bias;
    const int64_t n = x.size(0), blocks = Blocks(n);
    at::Tensor y = at::empty({n, weight.size(0)}, x.options());
    const at::Tensor wt = weight.t();
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const auto [r0, r1] = Block(n, blocks, b);
        at::Tensor out = y.slice(0, r0, r1);
        if (has_bias) {
          at::addmm_out(out, bias, x.slice(0, r0, r1), wt);
        } else {
          at::mm_out(out, x.slice(0, r0, r1), wt);
        }
      }
    });
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor x = saved[0].detach().contiguous(), weight = saved[1].detach();
    const at::Tensor g = grads[0].detach().contiguous();
    const int64_t n = x.size(0), blocks = Blocks(n);
    at::Tensor grad_x = at::empty_like(x);
    // One partial dW per block, summed in block order afterwards (deterministic).
    at::Tensor partial = at::empty({blocks, weight.size(0), weight.size(1)}, weight.options());
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const auto [r0, r1] = Block(n, blocks, b);
        const at::Tensor gb = g.slice(0, r0, r1);
        at::Tensor gx = grad_x.slice(0, r0, r1);
        at::mm_out(gx, gb, weight);
        at::Tensor pw = partial[b];
        at::mm_out(pw, gb.t(), x.slice(0, r0, r1));
      }
    });
    at::Tensor grad_bias;
    if (ctx->saved_data["has_bias"].toBool()) grad_bias = g.sum(0);
    return {grad_x, partial.sum(0), grad_bias};
  }
};

}  // namespace

at::Tensor RowParallelLinear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  NE_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), "RowParallelLinear: x ", x.sizes(),
           " and weight ", weight.sizes(), " do not match");
  if (!x.device().is_cpu() || x.size(0) < kMinRows || x.scalar_type() != at::kFloat || Blocks(x.size(0)) < 2) {
    return at::linear(x, weight, bias);
  }
  return RowParallelLinearFunction::apply(x, weight, bias.defined() ? bias : at::empty({0}, weight.options()));
}

at::Tensor ForwardRowParallelMlp(const torch::nn::Sequential& mlp, const at::Tensor& x) {
  at::Tensor h = x;
  for (const auto& module : mlp->children()) {
    if (const auto* linear = module->as<torch::nn::Linear>()) {
      h = RowParallelLinear(h, linear->weight, linear->bias);
    } else if (module->as<torch::nn::ReLU>() != nullptr) {
      h = at::relu(h);
    } else {
      NE_FAIL("ForwardRowParallelMlp: only Linear and ReLU layers are supported");
    }
  }
  return h;
}

}  // namespace nerfedit
