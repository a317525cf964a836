// The `nerf` pipeline's model: a field, a sampler and the compositor, composed as
// RayBatch -> samples -> field -> composite. Implements Renderable, so the CLI, viewer and edits render it.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "fields/field.h"
#include "methods/nerf/nerf_config.h"
#include "render/camera.h"
#include "render/occupancy_grid.h"
#include "render/renderable.h"

namespace nerfedit {

struct RenderOutputs {
  at::Tensor rgb;          // [R,3] f32 composited on the background
  at::Tensor opacity;      // [R] f32
  at::Tensor depth;        // [R] f32 expected distance (sum w t)
  at::Tensor features;     // [R,F] f32 or undefined
  at::Tensor coarse_rgb;   // [R,3] f32 coarse pass of the hierarchical sampler, else undefined
  int64_t num_samples = 0; // field evaluations of the final pass
};

class NerfModel : public Renderable {
 public:
  // aabb [2,3]: scene bounds from the data; cameras: the training views (for viewers and orbit paths).
  NerfModel(const NerfConfig& config, const at::Tensor& aabb, std::vector<Camera> cameras, c10::Device device);

  // background: [3] or [R,3]. training=true jitters samples; gradients flow unless the caller disables them.
  // features=false renders colour, depth and opacity only (Field::QueryColour).
  RenderOutputs RenderRays(const RayBatch& rays, const at::Tensor& background, bool training, bool features = true);

  RenderedView Render(const Camera& camera) override { return RenderView(camera, true); }  // chunked, no grad
  RenderedView RenderColour(const Camera& camera) override { return RenderView(camera, false); }
  std::vector<Camera> TrainingCameras() const override { return cameras_; }
  at::Tensor Aabb() const override { return aabb_; }

  // Re-estimates the occupancy grid every config.grid_update_every steps (occupancy sampler only).
  // Returns whether it did.
  bool MaybeUpdateGrid(int64_t step);

  const FieldPtr& field() const { return field_; }
  // Replaces the field (an edit wrapping the trained one) and re-estimates the occupancy grid for it, since an edit
  // can move content into cells the trained grid marked empty.
  void SetField(FieldPtr field);
  void set_field(FieldPtr field) { field_ = std::move(field); }  // edits wrap the field
  OccupancyGrid& grid() { return grid_; }
  const NerfConfig& config() const { return config_; }
  double step_size() const { return step_size_; }
  c10::Device device() const { return device_; }
  int64_t render_chunk() const { return render_chunk_; }
  void set_render_chunk(int64_t rays) { render_chunk_ = rays; }

 private:
  RenderOutputs CompositeSamples(const RayBatch& rays, const struct RaySamples& samples, const at::Tensor& background,
                                 bool features);
  RenderedView RenderView(const Camera& camera, bool features);

  NerfConfig config_;
  at::Tensor aabb_;  // [2,3] f32 CPU
  std::vector<Camera> cameras_;
  c10::Device device_;
  FieldPtr field_;
  OccupancyGrid grid_;
  double step_size_ = 0;
  int64_t render_chunk_ = 1 << 14;
};

}  // namespace nerfedit
