// CLIP-NeRF's generator as nerfedit renders it: a conditional field (the disentangled NeRF, or the trivial
// conditional NeRF for the ablation) inside the object box, queried with per-ray codes [z_s | z_a], composited densely
// (fields/box_render.h) over a background (a constant colour, or LOLNeRF's environment map conditioned on z_a), and
// the per-instance code table (GLO: one shape and one appearance code per training instance).
// ClipnerfInstance is one instance (a fixed code) as a Renderable, so `render`, `eval` and the viewer show it.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "fields/code_table.h"
#include "fields/coded_model.h"
#include "fields/disentangled_field.h"
#include "methods/clipnerf/clipnerf_config.h"
#include "methods/lolnerf/lolnerf_field.h"
#include "render/camera.h"
#include "render/renderable.h"

namespace nerfedit {

struct ClipnerfRays {
  at::Tensor rgb;         // [R,3] f32 foreground over the background
  at::Tensor fg_opacity;  // [R] f32
  at::Tensor fg_depth;    // [R] f32 sum w t (not normalised)
  at::Tensor weights;     // [R,S] f32 per-sample compositing weights (differentiable)
};

class ClipnerfModel {
 public:
  // aabb [2,3] f32: the object box; num_codes: training instances.
  ClipnerfModel(const ClipnerfConfig& config, const at::Tensor& aabb, int64_t num_codes, c10::Device device);

  // rays [R], codes [R, S + A] = [z_s | z_a] per ray (a batch may mix instances).
  ClipnerfRays RenderRays(const RayBatch& rays, const at::Tensor& codes, bool training,
                          const at::Tensor& jitter = at::Tensor());
  // A whole camera with one code [S + A], in chunks, without gradients.
  RenderedView RenderCamera(const Camera& camera, const at::Tensor& code, int64_t chunk = 8192);

  std::vector<at::Tensor> FieldParameters() const;  // field + background
  void SetTraining(bool training);
  void SaveState(torch::serialize::OutputArchive& archive);
  void LoadState(torch::serialize::InputArchive& archive);

  const ClipnerfConfig& config() const { return config_; }
  const at::Tensor& aabb() const { return aabb_; }
  int64_t code_dim() const { return config_.code_dim(); }
  c10::Device device() const { return device_; }
  ConditionalFieldPtr field() const { return field_; }
  CodeTable& codes() { return codes_; }
  // Codes' parts: shape [.., S] and appearance [.., A] columns of codes [.., S + A].
  at::Tensor ShapePart(const at::Tensor& codes) const { return codes.narrow(-1, 0, config_.shape_code_dim); }
  at::Tensor AppearancePart(const at::Tensor& codes) const {
    return codes.narrow(-1, config_.shape_code_dim, config_.appearance_code_dim);
  }

 private:
  CodedModelParts Parts();  // what a checkpoint holds

  ClipnerfConfig config_;
  at::Tensor aabb_;  // [2,3] f32 CPU
  c10::Device device_;
  ConditionalFieldPtr field_;                 // one of:
  std::shared_ptr<DisentangledFieldImpl> disentangled_;
  std::shared_ptr<LolnerfFieldImpl> trivial_;
  LolnerfBackground background_{nullptr};     // background "env"
  CodeTable codes_{nullptr};
};

// One instance of a trained model (a fixed code and a list of cameras) as a Renderable.
using ClipnerfInstance = CodedInstance<ClipnerfModel>;

}  // namespace nerfedit
