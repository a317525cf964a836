#include "fields/box_render.h"

#include <ATen/ATen.h>

#include "render/compositing.h"
#include "render/samplers.h"
#include "render/samples.h"
#include "util/error.h"

namespace nerfedit {

BoxRender RenderInBox(const RayBatch& rays, const at::Tensor& aabb, const BoxRenderOptions& options,
                      const BoxSampleQuery& query, const at::Tensor& jitter) {
  const int64_t r = rays.size(), s = options.num_samples;
  NE_CHECK(s >= 1, "box render: num_samples must be >= 1, got ", s);
  at::Tensor near, far;
  IntersectAabb(rays, aabb, options.near, &near, &far);
  const at::Tensor hit = near < far;
  const at::Tensor zero = at::zeros_like(near);
  const at::Tensor near_hit = at::where(hit, near, zero), far_hit = at::where(hit, far, zero);
  const at::Tensor edges = options.training && jitter.defined()
                               ? StratifiedEdges(near_hit, far_hit, s, jitter.to(near.device()))
                               : StratifiedEdges(near_hit, far_hit, s, options.training);
  const RaySamples samples = RaySamples::FromDenseEdges(edges);
  const at::Tensor positions = samples.Positions(rays.origins, rays.directions);
  const FieldOutputs out = query(positions, rays.directions.index_select(0, samples.ray_indices), samples.ray_indices);
  // NeRF Eq. 3 over [R,S]: w_i = T_i (1 - e^{-sigma_i delta_i}).
  const at::Tensor delta = (samples.t_ends - samples.t_starts).view({r, s});
  BoxRender result;
  result.weights = DenseCompositingWeights(out.density.view({r, s}) * delta);
  result.rgb = (result.weights.unsqueeze(2) * out.rgb.view({r, s, 3})).sum(1);
  result.opacity = result.weights.sum(1);
  result.depth = (result.weights * samples.midpoints().view({r, s})).sum(1);
  return result;
}

}  // namespace nerfedit
