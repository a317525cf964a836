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

}  // namespace nerfedit
