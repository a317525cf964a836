// What category models (LOLNeRF, CLIP-NeRF) share beyond rendering rays: a whole camera rendered with one code in
// chunks, their checkpoint record (the conditional field with its kind, an optional background module, the code
// table), and one instance - a model with a fixed code - as a Renderable, so that `render`, `eval` and the viewer
// show a category run or a fitted photo without knowing about codes.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fields/code_table.h"
#include "render/camera.h"
#include "render/renderable.h"
#include "util/error.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace nerfedit {

struct CodedRays {
  at::Tensor rgb;      // [R,3] f32 the composited colour
  at::Tensor depth;    // [R] f32 sum w t (not normalised, as Renderable's depth)
  at::Tensor opacity;  // [R] f32 the foreground's opacity
};
// rays on any device, codes [R,C] f32 on the model's device.
using CodedRayRenderer = std::function<CodedRays(const RayBatch& rays, const at::Tensor& codes)>;

// camera's rays in chunks, each with `code` [C] repeated, without gradients: rgb [H,W,3] clamped, depth, opacity.
RenderedView RenderCameraWithCode(const Camera& camera, const at::Tensor& code, c10::Device device, int64_t chunk,
                                  const CodedRayRenderer& render);

// The trained parts of a category model; background may be null (no background model).
struct CodedModelParts {
  torch::nn::Module* field = nullptr;
  std::string field_kind;
  torch::nn::Module* background = nullptr;
  CodeTableImpl* codes = nullptr;
};
void SaveCodedModel(torch::serialize::OutputArchive& archive, const CodedModelParts& parts);
// Checks the field's kind, the number of codes and the background's presence against `parts` (what the run's config
// and data built) and names `method` in the errors; moves everything to device.
void LoadCodedModel(torch::serialize::InputArchive& archive, const CodedModelParts& parts, c10::Device device,
                    const std::string& method);

// One instance of a category model (anything with RenderCamera(camera, code), aabb() and code_dim()).
template <typename Model>
class CodedInstance : public Renderable {
 public:
  CodedInstance(std::shared_ptr<Model> model, const at::Tensor& code, std::vector<Camera> cameras)
      : model_(std::move(model)), code_(code.detach().to(at::kCPU, at::kFloat).reshape(-1).clone()),
        cameras_(std::move(cameras)) {
    NE_CHECK(code_.size(0) == model_->code_dim(), "instance: the code has ", code_.size(0),
             " values but the model takes ", model_->code_dim());
  }
  RenderedView Render(const Camera& camera) override { return model_->RenderCamera(camera, code_); }
  std::vector<Camera> TrainingCameras() const override { return cameras_; }
  at::Tensor Aabb() const override { return model_->aabb(); }
  const at::Tensor& code() const { return code_; }
  Model& model() { return *model_; }

 private:
  std::shared_ptr<Model> model_;
  at::Tensor code_;  // [C] f32
  std::vector<Camera> cameras_;
};

}  // namespace nerfedit
