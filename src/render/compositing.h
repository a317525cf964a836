// Volume rendering (Max 1995; NeRF Eq. 3) over packed samples:
//   alpha_i = 1 - exp(-sigma_i * delta_i),  T_i = prod_{j<i} (1 - alpha_j),  w_i = T_i * alpha_i
//   out = sum_i w_i * v_i (any number of value channels: rgb, features),  opacity = sum_i w_i,
//   depth = sum_i w_i * t_mid_i.
// Two implementations with the same contract: a hand-written CPU kernel behind a torch::autograd::Function
// (analytic backward), and a pure-LibTorch reference (dense padding + cumprod) that tests compare against.
#pragma once
#include <ATen/core/Tensor.h>

#include "render/samples.h"

namespace nerfedit {

struct Composited {
  at::Tensor values;   // [R,C] f32 sum of w_i * v_i
  at::Tensor opacity;  // [R] f32 sum of w_i
  at::Tensor depth;    // [R] f32 sum of w_i * t_mid_i (not normalised by opacity)
  at::Tensor weights;  // [M] f32 w_i (detached: for hierarchical sampling and selection masks)
};

// sigmas [M] f32, values [M,C] f32. Differentiable w.r.t. sigmas and values (through values/opacity/depth).
Composited CompositeAlongRays(const at::Tensor& sigmas, const at::Tensor& values, const RaySamples& samples);

// Pure-LibTorch reference with the same outputs (autograd differentiates it). Slow; for tests.
Composited CompositeAlongRaysReference(const at::Tensor& sigmas, const at::Tensor& values, const RaySamples& samples);

// values + (1 - opacity) * background: background is [C] or [R,C].
at::Tensor AddBackground(const Composited& composited, const at::Tensor& background);

// Two layers of the same rays composited front over back (LOLNeRF's foreground field inside the object box over a
// background field behind it; any two fields whose samples do not interleave along a ray):
//   values = v_f + (1 - a_f) v_b,  opacity = 1 - (1 - a_f)(1 - a_b),  depth = d_f + (1 - a_f) d_b.
// Exactly what compositing both sample sets in one pass gives; weights are left undefined (each layer keeps its
// own). Differentiable.
// NeRF Eq. 3's per-sample weights w_i = T_i (1 - e^{-sigma_i delta_i}) for dense [R,S] sigma*delta, differentiable;
// T_i from an exclusive cumulative sum (not cumsum - x, which cancels into garbage, even +inf, for huge densities).
at::Tensor DenseCompositingWeights(const at::Tensor& sigma_delta);

Composited CompositeOver(const Composited& front, const Composited& back);

}  // namespace nerfedit
