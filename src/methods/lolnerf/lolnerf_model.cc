#include "methods/lolnerf/lolnerf_model.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "render/compositing.h"
#include "render/samplers.h"
#include "render/samples.h"
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
  at::Tensor near, far;
  IntersectAabb(rays, aabb_.to(device_), config_.near, &near, &far);
  const at::Tensor hit = near < far;  // rays that miss the box get zero-length intervals (weight 0)
  const at::Tensor zero = at::zeros_like(near);
  const at::Tensor near_hit = at::where(hit, near, zero), far_hit = at::where(hit, far, zero);
  const at::Tensor edges = training && jitter.defined() ? StratifiedEdges(near_hit, far_hit, s, jitter.to(device_))
                                                        : StratifiedEdges(near_hit, far_hit, s, training);
  const RaySamples samples = RaySamples::FromDenseEdges(edges);
  const at::Tensor positions = samples.Positions(rays.origins, rays.directions);
  const FieldOutputs out = field_->QueryRays(positions, codes, samples.ray_indices);
  // Dense compositing (NeRF Eq. 3) over [R,S]: w_i = T_i (1 - e^{-sigma_i delta_i}), differentiable end to end.
  const at::Tensor delta = (samples.t_ends - samples.t_starts).view({r, s});
  const at::Tensor sigma_delta = out.density.view({r, s}) * delta;
  LolnerfRays result;
  result.weights = DenseCompositingWeights(sigma_delta);
  Composited front;
  front.values = (result.weights.unsqueeze(2) * out.rgb.view({r, s, 3})).sum(1);
  front.opacity = result.weights.sum(1);
  front.depth = (result.weights * samples.midpoints().view({r, s})).sum(1);
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
  torch::NoGradGuard no_grad;
  const RayBatch rays = GenerateRays(camera);
  const at::Tensor z = code.to(device_, at::kFloat).reshape({1, -1});
  std::vector<at::Tensor> rgb, depth, opacity;
  for (int64_t b = 0; b < rays.size(); b += chunk) {
    const RayBatch part = rays.Slice(b, std::min(b + chunk, rays.size()));
    const LolnerfRays out = RenderRays(part, z.expand({part.size(), z.size(1)}), false);
    rgb.push_back(out.rgb.cpu());
    depth.push_back(out.fg_depth.cpu());
    opacity.push_back(out.fg_opacity.cpu());
  }
  RenderedView view;
  view.rgb = torch::cat(rgb).view({camera.height, camera.width, 3}).clamp(0, 1);
  view.opacity = torch::cat(opacity).view({camera.height, camera.width});
  view.depth = torch::cat(depth).view({camera.height, camera.width});
  return view;
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

void LolnerfModel::SaveState(torch::serialize::OutputArchive& archive) {
  torch::serialize::OutputArchive field_archive, codes_archive;
  field_->save(field_archive);
  archive.write("field", field_archive);
  archive.write("field_kind", c10::IValue(field_->Kind()));
  if (background_) {
    torch::serialize::OutputArchive background_archive;
    background_->save(background_archive);
    archive.write("background", background_archive);
  }
  codes_->save(codes_archive);
  archive.write("codes", codes_archive);
  archive.write("num_codes", torch::tensor(codes_->size()), /*is_buffer=*/true);
}

void LolnerfModel::LoadState(torch::serialize::InputArchive& archive) {
  c10::IValue kind;
  NE_CHECK(archive.try_read("field_kind", kind) && kind.isString(), "the checkpoint holds no lolnerf field");
  NE_CHECK(kind.toStringRef() == field_->Kind(), "the checkpoint holds a \"", kind.toStringRef(),
           "\" field but the run config builds \"", field_->Kind(), "\"");
  torch::Tensor num_codes;
  archive.read("num_codes", num_codes, /*is_buffer=*/true);
  NE_CHECK(num_codes.item<int64_t>() == codes_->size(), "the checkpoint holds ", num_codes.item<int64_t>(),
           " latent codes but the run's data has ", codes_->size(), " training images");
  torch::serialize::InputArchive field_archive, codes_archive;
  archive.read("field", field_archive);
  field_->load(field_archive);
  if (background_) {
    torch::serialize::InputArchive background_archive;
    NE_CHECK(archive.try_read("background", background_archive),
             "the checkpoint has no background model but the config has fg_bg on");
    background_->load(background_archive);
  }
  archive.read("codes", codes_archive);
  codes_->load(codes_archive);
  field_->to(device_);
  if (background_) background_->to(device_);
  codes_->to(device_);
}

LolnerfInstance::LolnerfInstance(std::shared_ptr<LolnerfModel> model, const at::Tensor& code,
                                 std::vector<Camera> cameras)
    : model_(std::move(model)), code_(code.detach().to(at::kCPU, at::kFloat).reshape(-1).clone()),
      cameras_(std::move(cameras)) {
  NE_CHECK(code_.size(0) == model_->config().code_dim, "lolnerf instance: the code has ", code_.size(0),
           " values but the model takes ", model_->config().code_dim);
}

}  // namespace nerfedit
