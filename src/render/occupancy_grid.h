// Occupancy grid for empty-space skipping (Instant-NGP Sec. 4 / nerfacc's OccGridEstimator): a res^3 grid over
// the scene box holding an exponential moving average of density * step, and the bitfield of cells above a
// threshold. Ray marching emits fixed-size steps only inside occupied cells (packed, variable count per ray).
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <functional>

#include "render/camera.h"
#include "render/samples.h"

namespace nerfedit {

struct OccupancyGridOptions {
  TORCH_ARG(int64_t, resolution) = 128;
  TORCH_ARG(double, decay) = 0.95;      // EMA decay per update (Instant-NGP)
  TORCH_ARG(double, threshold) = 0.01;  // cell occupied when its density*step exceeds min(threshold, mean)
  TORCH_ARG(int64_t, warmup_steps) = 256;  // before this, every update re-evaluates every cell
};

struct MarchOptions {
  TORCH_ARG(double, step_size) = 0.01;           // world units between samples
  TORCH_ARG(int64_t, max_samples_per_ray) = 1024;
  TORCH_ARG(bool, jitter) = false;               // random start offset in [0, step) (training)
  // [R] f32 in [0, 1): the jitter's draws, made by the caller (a data-parallel rank's share of a global batch's
  // draws); undefined = drawn here.
  TORCH_ARG(at::Tensor, offsets);
};

class OccupancyGrid {
 public:
  OccupancyGrid() = default;
  OccupancyGrid(const at::Tensor& aabb, OccupancyGridOptions options);

  // density_fn: world positions [N,3] -> density [N] (no grad needed). `step` is the training step number.
  void Update(int64_t step, double step_size, const std::function<at::Tensor(const at::Tensor&)>& density_fn);

  // Packed samples inside occupied cells between near [R] and far [R] (CPU kernel; other devices fall back to CPU).
  RaySamples March(const RayBatch& rays, const at::Tensor& near, const at::Tensor& far, const MarchOptions& options) const;

  bool IsOccupied(const at::Tensor& positions) const;  // any of positions [N,3] in an occupied cell (tests)
  at::Tensor OccupiedMask(const at::Tensor& positions) const;  // [N] bool
  double OccupiedFraction() const;
  void MarkAllOccupied();

  // State for checkpoints.
  at::Tensor density() const { return density_; }
  at::Tensor occupied() const { return occupied_; }
  void LoadState(const at::Tensor& density, const at::Tensor& occupied);
  const at::Tensor& aabb() const { return aabb_; }
  const OccupancyGridOptions& options() const { return options_; }

 private:
  at::Tensor CellIndexOf(const at::Tensor& positions) const;  // [N] i64, -1 outside the box

  at::Tensor aabb_;      // [2,3] f32 CPU
  OccupancyGridOptions options_;
  at::Tensor density_;   // [res^3] f32 CPU: EMA of density * step
  at::Tensor occupied_;  // [res^3] bool CPU
};

}  // namespace nerfedit
