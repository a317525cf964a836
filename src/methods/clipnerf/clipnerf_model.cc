#include "methods/clipnerf/clipnerf_model.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "fields/box_render.h"
#include "fields/coded_model.h"
#include "util/error.h"

namespace nerfedit {

ClipnerfModel::ClipnerfModel(const ClipnerfConfig& config, const at::Tensor& aabb, int64_t num_codes,
                             c10::Device device)
    : config_(config), aabb_(aabb.detach().to(at::kCPU, at::kFloat).reshape({2, 3}).contiguous()), device_(device) {
  config_.Check();
  auto a = aabb_.reshape(-1);
  const std::vector<float> box(a.data_ptr<float>(), a.data_ptr<float>() + 6);
  if (config_.field == "disentangled") {
    disentangled_ = std::make_shared<DisentangledFieldImpl>(config_.DisentangledOptions(box));
    field_ = disentangled_;
  } else {
    trivial_ = std::make_shared<LolnerfFieldImpl>(config_.TrivialOptions(box));
    field_ = trivial_;
  }
  field_->to(device_);
  if (config_.background == "env") {
    background_ = LolnerfBackground(config_.BackgroundOptions());
    background_->to(device_);
  }
  codes_ = CodeTable(CodeTableOptions()
                         .num_codes(num_codes)
                         .part_dims({config_.shape_code_dim, config_.appearance_code_dim})
                         .init_std(config_.code_init_std)
                         .lr(config_.code_lr)
                         .norm_weight(config_.code_norm_weight));
  codes_->to(device_);
}

ClipnerfRays ClipnerfModel::RenderRays(const RayBatch& rays_in, const at::Tensor& codes_in, bool training,
                                       const at::Tensor& jitter) {
  const RayBatch rays = rays_in.To(device_);
  const int64_t r = rays.size();
  NE_CHECK(codes_in.dim() == 2 && codes_in.size(0) == r && codes_in.size(1) == config_.code_dim(),
           "clipnerf render: codes must be [", r, ",", config_.code_dim(), "], got ", codes_in.sizes());
  const at::Tensor codes = codes_in.to(device_);
  BoxRenderOptions options;
  options.num_samples = config_.num_samples;
  options.near = config_.near;
  options.training = training;
  const BoxRender front = RenderInBox(
      rays, aabb_.to(device_), options,
      [&](const at::Tensor& positions, const at::Tensor& directions, const at::Tensor& ray_of_sample) {
        return disentangled_ ? disentangled_->QueryRays(positions, directions, codes, ray_of_sample)
                             : trivial_->QueryRays(positions, codes, ray_of_sample);
      },
      jitter);
  ClipnerfRays out;
  out.fg_opacity = front.opacity;
  out.fg_depth = front.depth;
  out.weights = front.weights;
  const at::Tensor back = background_ ? background_->forward(rays.directions, AppearancePart(codes))
                                      : torch::tensor(std::vector<float>(config_.bg_color.begin(),
                                                                         config_.bg_color.end()),
                                                      front.rgb.options())
                                            .view({1, 3});
  out.rgb = front.rgb + (1 - front.opacity).unsqueeze(1) * back;  // foreground over the background
  return out;
}

RenderedView ClipnerfModel::RenderCamera(const Camera& camera, const at::Tensor& code, int64_t chunk) {
  return RenderCameraWithCode(camera, code, device_, chunk, [this](const RayBatch& rays, const at::Tensor& codes) {
    const ClipnerfRays out = RenderRays(rays, codes, /*training=*/false);
    return CodedRays{out.rgb, out.fg_depth, out.fg_opacity};
  });
}

std::vector<at::Tensor> ClipnerfModel::FieldParameters() const {
  std::vector<at::Tensor> params = field_->parameters();
  if (background_) {
    for (const auto& p : background_->parameters()) params.push_back(p);
  }
  return params;
}

void ClipnerfModel::SetTraining(bool training) {
  field_->train(training);
  if (background_) background_->train(training);
  codes_->train(training);
}

CodedModelParts ClipnerfModel::Parts() {
  return {field_.get(), field_->Kind(), background_ ? background_.get() : nullptr, codes_.get()};
}

void ClipnerfModel::SaveState(torch::serialize::OutputArchive& archive) { SaveCodedModel(archive, Parts()); }

void ClipnerfModel::LoadState(torch::serialize::InputArchive& archive) {
  LoadCodedModel(archive, Parts(), device_, "clipnerf");
}

}  // namespace nerfedit
