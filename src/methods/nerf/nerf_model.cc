#include "methods/nerf/nerf_model.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "fields/feature_field.h"
#include "fields/field_registry.h"
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
}

bool NerfModel::MaybeUpdateGrid(int64_t step) {
  if (config_.sampler != "occupancy" || step % config_.grid_update_every != 0) return false;
  grid_.Update(step, step_size_, [&](const at::Tensor& x) { return field_->QueryDensity(x.to(device_)); });
  return true;
}

void NerfModel::SetField(FieldPtr field) {
  field_ = std::move(field);
  if (config_.sampler != "occupancy") return;
  grid_ = OccupancyGrid(aabb_, grid_.options());
  // Warm-up updates evaluate every cell at a random point inside it; three of them catch thin content.
  for (int i = 0; i < 3; ++i) {
    grid_.Update(0, step_size_, [&](const at::Tensor& x) { return field_->QueryDensity(x.to(device_)); });
  }
}

namespace {

// The samples of rays [0, rays): a prefix of the packed layout.
RaySamples FirstRays(const RaySamples& samples, int64_t rays) {
  const int64_t m = samples.offsets[rays].item<int64_t>();
  return {samples.offsets.slice(0, 0, rays + 1), samples.ray_indices.slice(0, 0, m), samples.t_starts.slice(0, 0, m),
          samples.t_ends.slice(0, 0, m)};
}

}  // namespace

RenderOutputs NerfModel::CompositeSamples(const RayBatch& rays, const RaySamples& samples, const at::Tensor& background,
                                          bool features) {
  auto positions = samples.Positions(rays.origins, rays.directions);
  auto directions = rays.directions.index_select(0, samples.ray_indices);
  // Training a feature field with feature_ray_fraction < 1: features only for the batch's first rays (a random
  // subset: training rays are drawn at random), so the feature head runs on that share of the samples.
  auto* feature_field = at::GradMode::is_enabled() && config_.feature_ray_fraction < 1
                            ? dynamic_cast<FeatureFieldImpl*>(field_.get())
                            : nullptr;
  FieldOutputs out;
  RaySamples feature_samples = samples;
  if (!features) {
    out = field_->QueryColour(positions, directions);
  } else if (feature_field != nullptr) {
    const auto feature_rays = static_cast<int64_t>(std::ceil(samples.num_rays() * config_.feature_ray_fraction));
    feature_samples = FirstRays(samples, std::max<int64_t>(1, feature_rays));
    out = feature_field->radiance->Query(positions, directions);
    out.features = feature_field->QueryFeatures(positions.slice(0, 0, feature_samples.num_samples()));
  } else {
    out = field_->Query(positions, directions);
  }
  // Features use the same weights as colour, F(r) = sum_i w_i f(x_i) (DFF Eq. 2); with the stop-gradient they are
  // composited a second time on detached densities so the feature loss cannot reach the geometry.
  const bool separate =
      out.features.defined() && ((config_.feature_stop_grad && at::GradMode::is_enabled()) || feature_field != nullptr);
  at::Tensor values = out.features.defined() && !separate ? at::cat({out.rgb, out.features}, 1) : out.rgb;
  Composited c = CompositeAlongRays(out.density, values, samples);
  RenderOutputs r;
  auto bg = background.to(device_, at::kFloat);
  r.rgb = c.values.slice(1, 0, 3) + (1 - c.opacity).unsqueeze(1) * bg;
  if (separate) {
    at::Tensor density = out.density.slice(0, 0, feature_samples.num_samples());
    if (config_.feature_stop_grad) density = density.detach();
    r.features = CompositeAlongRays(density, out.features, feature_samples).values;
  } else if (out.features.defined()) {
    r.features = c.values.slice(1, 3);
  }
  r.opacity = c.opacity;
  r.depth = c.depth;
  r.num_samples = samples.num_samples();
  return r;
}

RenderOutputs NerfModel::RenderRays(const RayBatch& rays_in, const at::Tensor& background, bool training,
                                    bool features) {
  RayBatch rays = rays_in.To(device_);
  at::Tensor near, far;
  IntersectAabb(rays, aabb_.to(device_), config_.near, &near, &far);
  if (config_.sampler == "occupancy") {
    RaySamples samples = grid_.March(rays, near, far, MarchOptions().step_size(step_size_).jitter(training));
    return CompositeSamples(rays, samples, background, features);
  }
  // Stratified (and the coarse pass of hierarchical). Rays that miss the box get zero-length intervals (alpha 0).
  auto hit = near < far;
  auto edges = StratifiedEdges(at::where(hit, near, at::zeros_like(near)), at::where(hit, far, at::zeros_like(far)),
                               config_.num_samples, training);
  RenderOutputs coarse = CompositeSamples(rays, RaySamples::FromDenseEdges(edges), background, features);
  if (config_.sampler == "stratified") return coarse;
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
  torch::NoGradGuard no_grad;
  RayBatch rays = GenerateRays(camera);
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
