// Dense volume rendering of a field inside an object box, as category models render (LOLNeRF, CLIP-NeRF): each ray's
// segment inside the box split into S stratified bins, the field queried at their midpoints (through a callback, so
// that a conditional field can gather per-ray codes), NeRF's compositing over [R,S] with the per-sample weights kept
// differentiable (for the hard-surface loss). Rays that miss the box get zero-length bins (weight 0).
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>

#include "fields/field.h"
#include "render/camera.h"

namespace nerfedit {

struct BoxRenderOptions {
  int64_t num_samples = 32;  // S
  double near = 0.05;        // no sample closer to the origin than this
  bool training = false;     // jittered bins (else evenly spaced)
};

struct BoxRender {
  at::Tensor rgb;      // [R,3] f32 sum_i w_i c_i (premultiplied: over black)
  at::Tensor opacity;  // [R] f32 sum_i w_i
  at::Tensor depth;    // [R] f32 sum_i w_i t_i (not normalised)
  at::Tensor weights;  // [R,S] f32 per-sample compositing weights (differentiable)
};

// positions [M,3], directions [M,3] (the sample's ray direction), ray_of_sample [M] i64 -> density [M], rgb [M,3].
using BoxSampleQuery = std::function<FieldOutputs(const at::Tensor& positions, const at::Tensor& directions,
                                                  const at::Tensor& ray_of_sample)>;

// rays on the box's device; aabb [2,3] f32; jitter: the stratified sampler's uniforms [R, S + 1] when training
// (undefined: drawn here).
BoxRender RenderInBox(const RayBatch& rays, const at::Tensor& aabb, const BoxRenderOptions& options,
                      const BoxSampleQuery& query, const at::Tensor& jitter = at::Tensor());

}  // namespace nerfedit
