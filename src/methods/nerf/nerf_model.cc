#include "methods/nerf/nerf_model.h"

#include <ATen/ATen.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "fields/field_registry.h"
#include "fields/module_state.h"
#include "render/compositing.h"
#include "render/samplers.h"
#include "util/error.h"

namespace nerfedit {

NerfModel::NerfModel(const NerfConfig& config, const at::Tensor& aabb, std::vector<Camera> cameras, c10::Device device)
    : config_(config),
      aabb_(aabb.detach().to(at::kCPU, at::kFloat).reshape({2, 3}).contiguous()),
      cameras_(std::move(cameras)),
      device_(device) {
  nlohmann::json field_config = config_.field_config;
  if (!field_config.contains("aabb")) {
    auto a = aabb_.reshape(-1);
    field_config["aabb"] = std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6);
  }
  field_ = MakeField(config_.field, field_config);
  field_->to(device_);
  const double diagonal = (aabb_[1] - aabb_[0]).norm().item<double>();
  step_size_ = config_.step_size > 0 ? config_.step_size : diagonal / 512.0;
  grid_ = OccupancyGrid(aabb_, OccupancyGridOptions()
                                   .resolution(config_.grid_resolution)
                                   .warmup_steps(config_.grid_warmup_steps));
  supersample_ = config_.render_supersample;
}

bool NerfModel::MaybeUpdateGrid(int64_t step) {
  if (config_.sampler != "occupancy" || step % config_.grid_update_every != 0) return false;
  grid_.Update(step, step_size_, [&](const at::Tensor& x) { return field_->QueryDensity(x.to(device_)); });
  return true;
}

void NerfModel::RebuildOccupancyGrid() {
  if (config_.sampler != "occupancy") return;
  grid_ = OccupancyGrid(aabb_, grid_.options());
  // Warm-up updates evaluate every cell at a random point inside it; three of them catch thin content.
  for (int i = 0; i < 3; ++i) {
    grid_.Update(0, step_size_, [&](const at::Tensor& x) { return field_->QueryDensity(x.to(device_)); });
  }
}

void NerfModel::SaveState(torch::serialize::OutputArchive& archive) {
  torch::serialize::OutputArchive field_archive;
  field_->save(field_archive);
  archive.write("field", field_archive);
  archive.write("field_kind", c10::IValue(field_->Kind()));
  archive.write("grid_density", grid_.density(), /*is_buffer=*/true);
  archive.write("grid_occupied", grid_.occupied(), /*is_buffer=*/true);
}

void NerfModel::LoadState(torch::serialize::InputArchive& archive) {
  c10::IValue kind;
  NE_CHECK(archive.try_read("field_kind", kind) && kind.isString(), "the checkpoint holds no field");
  NE_CHECK(kind.toStringRef() == field_->Kind(), "the checkpoint holds a \"", kind.toStringRef(),
           "\" field but the run config builds \"", field_->Kind(), "\"");
  torch::serialize::InputArchive field_archive;
  archive.read("field", field_archive);
  LoadModuleState(*field_, field_archive, "the " + field_->Kind() + " field");
  torch::Tensor density, occupied;
  archive.read("grid_density", density, /*is_buffer=*/true);
  archive.read("grid_occupied", occupied, /*is_buffer=*/true);
  grid_.LoadState(density, occupied);
  field_->to(device_);
}

RaySamples NerfModel::SampleRays(const RayBatch& rays, bool training, const at::Tensor& sample_offsets) {
  at::Tensor near, far;
  IntersectAabb(rays, aabb_.to(device_), config_.near, &near, &far);
  if (config_.sampler == "occupancy") {
    return grid_.March(rays, near, far, MarchOptions().step_size(step_size_).jitter(training).offsets(sample_offsets));
  }
  NE_CHECK(config_.sampler == "stratified", "SampleRays: the ", config_.sampler,
           " sampler needs a coarse pass (use RenderRays)");
  // Rays that miss the box get zero-length intervals (alpha 0).
  auto hit = near < far;
  return RaySamples::FromDenseEdges(StratifiedEdges(at::where(hit, near, at::zeros_like(near)),
                                                    at::where(hit, far, at::zeros_like(far)), config_.num_samples,
                                                    training));
}

RenderOutputs NerfModel::CompositeColour(const RaySamples& samples, const FieldOutputs& out,
                                         const at::Tensor& background) {
  Composited c = CompositeAlongRays(out.density, out.rgb, samples);
  RenderOutputs r;
  r.rgb = c.values + (1 - c.opacity).unsqueeze(1) * background.to(device_, at::kFloat);
  r.opacity = c.opacity;
  r.depth = c.depth;
  r.num_samples = samples.num_samples();
  return r;
}

RenderOutputs NerfModel::CompositeSamples(const RayBatch& rays, const RaySamples& samples, const at::Tensor& background,
                                          bool features) {
  auto positions = samples.Positions(rays.origins, rays.directions);
  auto directions = rays.directions.index_select(0, samples.ray_indices);
  FieldOutputs out = features ? field_->Query(positions, directions) : field_->QueryColour(positions, directions);
  if (!out.features.defined()) return CompositeColour(samples, out, background);
  // Features use the same weights as colour, F(r) = sum_i w_i f(x_i) (DFF Eq. 2): one pass over [rgb, features].
  Composited c = CompositeAlongRays(out.density, at::cat({out.rgb, out.features}, 1), samples);
  RenderOutputs r;
  r.rgb = c.values.slice(1, 0, 3) + (1 - c.opacity).unsqueeze(1) * background.to(device_, at::kFloat);
  r.features = c.values.slice(1, 3);
  r.opacity = c.opacity;
  r.depth = c.depth;
  r.num_samples = samples.num_samples();
  return r;
}

RenderOutputs NerfModel::RenderRays(const RayBatch& rays_in, const at::Tensor& background, bool training,
                                    bool features, const at::Tensor& sample_offsets) {
  RayBatch rays = rays_in.To(device_);
  if (config_.sampler != "hierarchical") {
    return CompositeSamples(rays, SampleRays(rays, training, sample_offsets), background, features);
  }
  // Hierarchical: a stratified coarse pass (rays that miss the box get zero-length intervals, alpha 0).
  at::Tensor near, far;
  IntersectAabb(rays, aabb_.to(device_), config_.near, &near, &far);
  auto hit = near < far;
  auto edges = StratifiedEdges(at::where(hit, near, at::zeros_like(near)), at::where(hit, far, at::zeros_like(far)),
                               config_.num_samples, training);
  RenderOutputs coarse = CompositeSamples(rays, RaySamples::FromDenseEdges(edges), background, features);
  // Hierarchical: resample from the coarse weights and evaluate the union with the same field (as mip-NeRF does,
  // one field serves both passes instead of NeRF's two networks; the coarse pass is still supervised).
  at::Tensor weights;
  {
    at::NoGradGuard no_grad;
    auto coarse_samples = RaySamples::FromDenseEdges(edges);
    auto positions = coarse_samples.Positions(rays.origins, rays.directions);
    auto density = field_->QueryDensity(positions);
    weights = CompositeAlongRays(density, at::zeros({density.size(0), 1}, density.options()), coarse_samples)
                  .weights.view({rays.size(), config_.num_samples});
  }
  auto fine_edges = HierarchicalEdges(edges, weights, config_.num_fine_samples, training, /*include_coarse=*/true);
  RenderOutputs fine = CompositeSamples(rays, RaySamples::FromDenseEdges(fine_edges), background, features);
  fine.coarse_rgb = coarse.rgb;
  return fine;
}

RenderedView NerfModel::RenderView(const Camera& camera, bool features) {
  if (supersample_ <= 1) return RenderPass(camera, features, 0.5f, 0.5f);
  // The mean of supersample^2 passes through the centres of a stratified sub-pixel grid.
  RenderedView sum;
  const int64_t s = supersample_;
  for (int64_t i = 0; i < s * s; ++i) {
    RenderedView pass = RenderPass(camera, features, (i % s + 0.5f) / s, (i / s + 0.5f) / s);
    if (i == 0) {
      sum = pass;
      continue;
    }
    sum.rgb += pass.rgb;
    sum.depth += pass.depth;
    sum.opacity += pass.opacity;
    if (sum.features.defined()) sum.features += pass.features;
  }
  const float n = static_cast<float>(s * s);
  sum.rgb /= n;
  sum.depth /= n;
  sum.opacity /= n;
  if (sum.features.defined()) sum.features /= n;
  return sum;
}

RenderedView NerfModel::RenderPass(const Camera& camera, bool features, float offset_x, float offset_y) {
  torch::NoGradGuard no_grad;
  RayBatch rays = GenerateRays(camera, offset_x, offset_y);
  auto background = at::tensor(config_.background);
  std::vector<at::Tensor> rgb, depth, opacity, feature_chunks;
  for (int64_t b = 0; b < rays.size(); b += render_chunk_) {
    RenderOutputs out =
        RenderRays(rays.Slice(b, std::min(b + render_chunk_, rays.size())), background, false, features);
    rgb.push_back(out.rgb.cpu());
    depth.push_back(out.depth.cpu());
    opacity.push_back(out.opacity.cpu());
    if (out.features.defined()) feature_chunks.push_back(out.features.cpu());
  }
  const int64_t h = camera.height, w = camera.width;
  RenderedView view;
  view.rgb = at::cat(rgb).view({h, w, 3}).clamp(0, 1);
  view.depth = at::cat(depth).view({h, w});
  view.opacity = at::cat(opacity).view({h, w});
  if (!feature_chunks.empty()) view.features = at::cat(feature_chunks).view({h, w, -1});
  return view;
}

}  // namespace nerfedit
