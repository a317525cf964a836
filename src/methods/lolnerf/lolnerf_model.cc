#include "methods/lolnerf/lolnerf_model.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "fields/box_render.h"
#include "fields/coded_model.h"
#include "render/compositing.h"
#include "util/error.h"

namespace nerfedit {

LolnerfModel::LolnerfModel(const LolnerfConfig& config, const at::Tensor& aabb, int64_t num_codes, c10::Device device)
    : config_(config), aabb_(aabb.detach().to(at::kCPU, at::kFloat).reshape({2, 3}).contiguous()), device_(device) {
  auto a = aabb_.reshape(-1);
  field_ = LolnerfField(config_.FieldOptions(std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6)));
  field_->to(device_);
  if (config_.fg_bg) {
    background_ = LolnerfBackground(config_.BackgroundOptions());
    background_->to(device_);
  }
  codes_ = CodeTable(CodeTableOptions()
                         .num_codes(num_codes)
                         .part_dims({config_.code_dim})
                         .init_std(config_.code_init_std)
                         .lr(config_.code_lr)
                         .norm_weight(config_.code_norm_weight));
  codes_->to(device_);
}

LolnerfRays LolnerfModel::RenderRays(const RayBatch& rays_in, const at::Tensor& codes, bool training,
                                     const at::Tensor& jitter) {
  const RayBatch rays = rays_in.To(device_);
  const int64_t r = rays.size(), s = config_.num_samples;
  NE_CHECK(codes.dim() == 2 && codes.size(0) == r, "lolnerf render: codes must be [", r, ",C], got ", codes.sizes());
  // Stratified samples in the box, dense compositing (NeRF Eq. 3) over [R,S] (fields/box_render.h).
  BoxRenderOptions options;
  options.num_samples = s;
  options.near = config_.near;
  options.training = training;
  const BoxRender box = RenderInBox(
      rays, aabb_.to(device_), options,
      [&](const at::Tensor& positions, const at::Tensor&, const at::Tensor& ray_of_sample) {
        return field_->QueryRays(positions, codes, ray_of_sample);
      },
      jitter);
  LolnerfRays result;
  result.weights = box.weights;
  Composited front;
  front.values = box.rgb;
  front.opacity = box.opacity;
  front.depth = box.depth;
  result.fg_rgb = front.values;
  result.fg_opacity = front.opacity;
  result.fg_depth = front.depth;
  if (background_) {
    // The environment map is at infinity: opacity 1, and it adds no depth.
    Composited back;
    result.background = background_->forward(rays.directions, codes);
    back.values = result.background;
    back.opacity = torch::ones({r}, front.opacity.options());
    back.depth = torch::zeros({r}, front.depth.options());
    result.rgb = CompositeOver(front, back).values;
  } else {
    result.rgb = front.values;  // over black
  }
  return result;
}

RenderedView LolnerfModel::RenderCamera(const Camera& camera, const at::Tensor& code, int64_t chunk) {
  return RenderCameraWithCode(camera, code, device_, chunk, [this](const RayBatch& rays, const at::Tensor& codes) {
    const LolnerfRays out = RenderRays(rays, codes, /*training=*/false);
    return CodedRays{out.rgb, out.fg_depth, out.fg_opacity};
  });
}

std::vector<at::Tensor> LolnerfModel::SharedParameters() const {
  std::vector<at::Tensor> params = field_->parameters();
  if (background_) {
    for (const auto& p : background_->parameters()) params.push_back(p);
  }
  return params;
}

void LolnerfModel::SetTraining(bool training) {
  field_->train(training);
  if (background_) background_->train(training);
  codes_->train(training);
}

CodedModelParts LolnerfModel::Parts() {
  return {field_.get(), field_->Kind(), background_ ? background_.get() : nullptr, codes_.get()};
}

void LolnerfModel::SaveState(torch::serialize::OutputArchive& archive) { SaveCodedModel(archive, Parts()); }

void LolnerfModel::LoadState(torch::serialize::InputArchive& archive) {
  LoadCodedModel(archive, Parts(), device_, "lolnerf");
}

}  // namespace nerfedit
