// y = x W^T (+ b) for the many-row, narrow MLPs of the hash-grid fields (65k rows x 64 wide per step). ATen sends a
// matrix product to one BLAS call, and nerfedit's BLAS runs one thread (util/thread_policy.h: torch's threads own
// the cores during a hash-grid step), so these products ran on one core: half of a lego step. Here the rows are
// split into one block per torch thread (at::parallel_for), each block one single-threaded BLAS call, forward and
// backward; dW sums the blocks' partial products in a fixed order, so results do not depend on thread timing.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

namespace nerfedit {

// x [N,K] f32, weight [M,K] f32, bias [M] f32 or undefined -> [N,M]. Differentiable w.r.t. all three. Non-CPU
// tensors (and small N) take at::linear.
at::Tensor RowParallelLinear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = at::Tensor());

// Runs a Sequential of Linear and ReLU modules (the fields' MLPs) with RowParallelLinear for every Linear.
at::Tensor ForwardRowParallelMlp(const torch::nn::Sequential& mlp, const at::Tensor& x);

}  // namespace nerfedit
