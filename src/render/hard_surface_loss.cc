#include "render/hard_surface_loss.h"

#include <ATen/ATen.h>

#include <cmath>

namespace nerfedit {

at::Tensor HardSurfaceLoss(const at::Tensor& weights, bool zero_minimum) {
  if (weights.numel() == 0) return at::zeros({}, weights.options());
  // -log(e^{-a} + e^{-b}) = -logsumexp(-a, -b): stable for any weights.
  const at::Tensor per_sample = -at::logaddexp(-weights.abs(), -(1 - weights).abs());
  at::Tensor loss = per_sample.mean();
  if (zero_minimum) loss = loss + std::log1p(std::exp(-1.0));
  return loss;
}

void AddMaskAndHardSurfaceLoss(at::Tensor* loss, const at::Tensor& fg_opacity, const at::Tensor& mask,
                               double mask_weight, const at::Tensor& weights, double hard_weight, double* mask_value,
                               double* hard_value) {
  *mask_value = 0;
  *hard_value = 0;
  if (mask_weight > 0) {
    const at::Tensor term = at::mse_loss(fg_opacity, mask);
    *loss = *loss + mask_weight * term;
    *mask_value = term.item<double>();
  }
  if (hard_weight > 0) {
    const at::Tensor term = HardSurfaceLoss(weights);
    *loss = *loss + hard_weight * term;
    *hard_value = term.item<double>();
  }
}

}  // namespace nerfedit
