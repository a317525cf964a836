// The training views of a stylized run, cached once: the frozen density does not change, so neither do the samples
// along each pixel's ray nor their compositing weights. A step only evaluates the style module at the kept samples
// and sums w_i c_i: no density queries, no marching.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "methods/nerf/nerf_model.h"
#include "methods/stylize/style_module.h"
#include "render/camera.h"

namespace nerfedit {

struct CachedView {
  Camera camera;              // at the stylized run's image size
  at::Tensor positions;       // [M,3] f32 world positions of the kept samples
  at::Tensor weights;         // [M] f32 their compositing weights w_i = T_i alpha_i (frozen)
  at::Tensor pixel;           // [M] i64 pixel (row-major) each sample belongs to
  at::Tensor opacity;         // [H,W] f32 sum of every sample's weight
  at::Tensor depth;           // [H,W] f32 expected ray distance / opacity where opacity >= 0.5, else 0 (no surface)
  at::Tensor sky;             // [H*W,3] f32 SkyPoints of each pixel's ray (its colour fills 1 - opacity)
  at::Tensor content;         // [H,W,3] f32 the frozen run's own render of this view (the 2D network's content image)
  double dropped_weight = 0;  // the largest per-pixel sum of dropped weights (bound on the colour change)
};

// count cameras evenly chosen among `cameras` (0 = all), rescaled so that the longer side is `size` pixels.
std::vector<Camera> ChooseViews(const std::vector<Camera>& cameras, int64_t count, int64_t size);

// Marches every camera through the model's sampler (occupancy or stratified) with the frozen density and keeps the
// samples whose weight exceeds min_weight. The model's field is only read.
std::vector<CachedView> CacheViews(NerfModel& model, const std::vector<Camera>& cameras, double min_weight);

// The view rendered with the style module at `latent` [1,L]: sum_i w_i c(x_i) + (1 - opacity) c(sky) -> [H,W,3].
// Differentiable w.r.t. the style module and the latent.
at::Tensor RenderCachedView(const CachedView& view, StyleModule& style, const at::Tensor& latent);

}  // namespace nerfedit
