// LOLNeRF's model: the conditional foreground field inside the object box, the latent-conditioned background behind
// it, and the GLO latent table; rays -> stratified samples in the box -> field(x, z) -> compositing (dense, so the
// per-sample weights keep their gradient for the hard-surface loss) -> foreground over background.
// LolnerfInstance is one instance of it (a fixed code and a list of cameras) as a Renderable, so `render`, `eval`
// and the viewer show a category run or a fitted photo without knowing about latents.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "fields/code_table.h"
#include "fields/coded_model.h"
#include "methods/lolnerf/lolnerf_config.h"
#include "methods/lolnerf/lolnerf_field.h"
#include "render/camera.h"
#include "render/renderable.h"

namespace nerfedit {

struct LolnerfRays {
  at::Tensor rgb;         // [R,3] f32 foreground over background (over black without the fg/bg split)
  at::Tensor fg_rgb;      // [R,3] f32 sum_i w_i c_i (premultiplied foreground)
  at::Tensor fg_opacity;  // [R] f32 sum_i w_i
  at::Tensor fg_depth;    // [R] f32 sum_i w_i t_i (not normalised)
  at::Tensor background;  // [R,3] f32 the background model's colour; undefined without the split
  at::Tensor weights;     // [R,S] f32 per-sample compositing weights (differentiable)
};

class LolnerfModel {
 public:
  // aabb [2,3] f32: the object box; num_codes: training images (latents).
  LolnerfModel(const LolnerfConfig& config, const at::Tensor& aabb, int64_t num_codes, c10::Device device);

  // rays [R], codes [R,C] (one latent per ray: a batch may mix instances). training: jittered samples.
  // jitter: the stratified sampler's uniforms [R, num_samples + 1] (training; undefined: drawn here).
  LolnerfRays RenderRays(const RayBatch& rays, const at::Tensor& codes, bool training,
                         const at::Tensor& jitter = at::Tensor());
  // A whole camera with one code, in chunks, without gradients: rgb [H,W,3], depth (sum w t, as Renderable) and
  // foreground opacity [H,W].
  RenderedView RenderCamera(const Camera& camera, const at::Tensor& code, int64_t chunk = 8192);

  // Field and background parameters (what data-parallel ranks share); the codes are each rank's own.
  std::vector<at::Tensor> SharedParameters() const;
  void SetTraining(bool training);
  void SaveState(torch::serialize::OutputArchive& archive);
  void LoadState(torch::serialize::InputArchive& archive);

  const LolnerfConfig& config() const { return config_; }
  const at::Tensor& aabb() const { return aabb_; }
  int64_t code_dim() const { return config_.code_dim; }
  c10::Device device() const { return device_; }
  LolnerfField& field() { return field_; }
  LolnerfBackground& background() { return background_; }  // null without the fg/bg split
  CodeTable& codes() { return codes_; }

 private:
  CodedModelParts Parts();  // what a checkpoint holds

  LolnerfConfig config_;
  at::Tensor aabb_;  // [2,3] f32 CPU
  c10::Device device_;
  LolnerfField field_{nullptr};
  LolnerfBackground background_{nullptr};
  CodeTable codes_{nullptr};
};

// One instance of a trained model (a fixed code and a list of cameras) as a Renderable.
using LolnerfInstance = CodedInstance<LolnerfModel>;

}  // namespace nerfedit
