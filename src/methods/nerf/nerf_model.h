// The `nerf` pipeline's model: a field, a sampler and the compositor, composed as
// RayBatch -> samples -> field -> composite. Implements Renderable, so the CLI, viewer and edits render it.
#pragma once
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <vector>

#include "fields/field.h"
#include "methods/nerf/nerf_config.h"
#include "render/camera.h"
#include "render/occupancy_grid.h"
#include "render/renderable.h"
#include "render/samples.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

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
  // features=false renders colour, depth and opacity only (Field::QueryColour); otherwise features, when the field
  // has them, are composited with the colour's weights in the same pass. sample_offsets [R] f32 in [0,1): the
  // occupancy sampler's jitter drawn by the caller (PixelBatch::sample_offsets); undefined = drawn here.
  RenderOutputs RenderRays(const RayBatch& rays, const at::Tensor& background, bool training, bool features = true,
                           const at::Tensor& sample_offsets = {});

  // The pieces of RenderRays for methods that composite their own way (dff's feature loss): samples along the
  // rays of a single-pass sampler (occupancy marching or stratified; the hierarchical one needs a coarse pass) and
  // the colour compositing of field outputs over them.
  RaySamples SampleRays(const RayBatch& rays, bool training, const at::Tensor& sample_offsets = {});
  RenderOutputs CompositeColour(const RaySamples& samples, const FieldOutputs& out, const at::Tensor& background);

  RenderedView Render(const Camera& camera) override { return RenderView(camera, true); }  // chunked, no grad
  RenderedView RenderColour(const Camera& camera) override { return RenderView(camera, false); }
  std::vector<Camera> TrainingCameras() const override { return cameras_; }
  at::Tensor Aabb() const override { return aabb_; }

  // Re-estimates the occupancy grid every config.grid_update_every steps (occupancy sampler only).
  // Returns whether it did.
  bool MaybeUpdateGrid(int64_t step);

  const FieldPtr& field() const { return field_; }
  // Replaces the field (edits wrap the trained one). The occupancy grid is left as it is: a caller whose new field
  // can put content where the old one had none calls RebuildOccupancyGrid().
  void set_field(FieldPtr field) { field_ = std::move(field); }
  // Re-estimates the occupancy grid from scratch for the current field (an edit can move content into cells the
  // trained grid marked empty). No-op for the other samplers.
  void RebuildOccupancyGrid();
  OccupancyGrid& grid() { return grid_; }

  // Field weights and occupancy grid, for checkpoints.
  void SaveState(torch::serialize::OutputArchive& archive);
  void LoadState(torch::serialize::InputArchive& archive);
  const NerfConfig& config() const { return config_; }
  double step_size() const { return step_size_; }
  c10::Device device() const { return device_; }
  int64_t render_chunk() const { return render_chunk_; }
  void set_render_chunk(int64_t rays) { render_chunk_ = rays; }
  // Rays per pixel side of Render/RenderColour (config.render_supersample; the viewer sets 1 for speed).
  int64_t supersample() const { return supersample_; }
  void set_supersample(int64_t s) { supersample_ = std::max<int64_t>(1, s); }

 private:
  RenderOutputs CompositeSamples(const RayBatch& rays, const RaySamples& samples, const at::Tensor& background,
                                 bool features);
  RenderedView RenderView(const Camera& camera, bool features);
  RenderedView RenderPass(const Camera& camera, bool features, float offset_x, float offset_y);

  NerfConfig config_;
  at::Tensor aabb_;  // [2,3] f32 CPU
  std::vector<Camera> cameras_;
  c10::Device device_;
  FieldPtr field_;
  OccupancyGrid grid_;
  double step_size_ = 0;
  int64_t render_chunk_ = 1 << 14;
  int64_t supersample_ = 1;
};

}  // namespace nerfedit
