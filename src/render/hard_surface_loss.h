// LOLNeRF's hard-surface loss (Rebain et al. 2022, Eq. 7): single-view supervision lets a field explain an image with
// semi-transparent fog; this prior pushes every per-sample compositing weight w_i = T_i (1 - e^{-sigma_i delta_i})
// towards 0 or 1, i.e. towards a sharp transition from empty space to a solid surface:
//   L_hard = mean_i  -log(e^{-|w_i|} + e^{-|1 - w_i|})  [+ log(1 + e^{-1}), the constant that makes its minimum 0]
#pragma once
#include <ATen/core/Tensor.h>

namespace nerfedit {

// weights: any shape, f32, differentiable (the compositor's weights with their graph, not detached ones).
// zero_minimum adds log(1 + e^{-1}) so that w in {0, 1} costs 0 (the gradient is unchanged). Returns a 0-d tensor;
// 0 for an empty input.
at::Tensor HardSurfaceLoss(const at::Tensor& weights, bool zero_minimum = true);

// The single-view category methods' shape terms (LOLNeRF; CLIP-NeRF's GLO generator), added to *loss in this order:
// mask_weight * MSE(fg_opacity, mask) when mask_weight > 0 (mask: the rays' target opacities, needed only then), and
// hard_weight * HardSurfaceLoss(weights) when hard_weight > 0. Each term's unweighted value, 0 when it is off, goes
// to *mask_value / *hard_value (the progress line).
void AddMaskAndHardSurfaceLoss(at::Tensor* loss, const at::Tensor& fg_opacity, const at::Tensor& mask,
                               double mask_weight, const at::Tensor& weights, double hard_weight, double* mask_value,
                               double* hard_value);

}  // namespace nerfedit
