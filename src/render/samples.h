// Samples along rays in the packed layout shared by every sampler and the compositor:
// ray r owns samples [offsets[r], offsets[r+1]) in front-to-back order (variable count per ray).
#pragma once
#include <ATen/core/Tensor.h>

namespace nerfedit {

struct RaySamples {
  at::Tensor offsets;      // [R+1] i64, offsets[0] = 0, offsets[R] = M
  at::Tensor ray_indices;  // [M] i64: which ray each sample belongs to
  at::Tensor t_starts;     // [M] f32 interval start along the (unit) ray
  at::Tensor t_ends;       // [M] f32 interval end; delta = t_ends - t_starts

  int64_t num_samples() const { return t_starts.defined() ? t_starts.size(0) : 0; }
  int64_t num_rays() const { return offsets.defined() ? offsets.size(0) - 1 : 0; }
  at::Tensor midpoints() const { return (t_starts + t_ends) * 0.5f; }
  // World positions of the interval midpoints: origins/directions are [R,3].
  at::Tensor Positions(const at::Tensor& origins, const at::Tensor& directions) const;

  // Packs dense per-ray intervals (bin edges [R,S+1]) into the layout above.
  static RaySamples FromDenseEdges(const at::Tensor& edges);
};

}  // namespace nerfedit
