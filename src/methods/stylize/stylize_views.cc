#include "methods/stylize/stylize_views.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "render/compositing.h"
#include "util/error.h"

namespace nerfedit {

std::vector<Camera> ChooseViews(const std::vector<Camera>& cameras, int64_t count, int64_t size) {
  NE_CHECK(!cameras.empty(), "stylize: the nerf run has no training cameras");
  const int64_t n = static_cast<int64_t>(cameras.size());
  const int64_t k = count <= 0 ? n : std::min(count, n);
  std::vector<Camera> out;
  for (int64_t i = 0; i < k; ++i) {
    Camera c = cameras[i * n / k];
    const double scale = static_cast<double>(size) / std::max(c.width, c.height);
    // Sides rounded to multiples of 8: the 2D network's encoder pools three times.
    const int64_t w = std::max<int64_t>(8, 8 * std::lround(c.width * scale / 8));
    const int64_t h = std::max<int64_t>(8, 8 * std::lround(c.height * scale / 8));
    c.fx *= static_cast<double>(w) / c.width;
    c.cx *= static_cast<double>(w) / c.width;
    c.fy *= static_cast<double>(h) / c.height;
    c.cy *= static_cast<double>(h) / c.height;
    c.width = w;
    c.height = h;
    out.push_back(c);
  }
  return out;
}

std::vector<CachedView> CacheViews(NerfModel& model, const std::vector<Camera>& cameras, double min_weight) {
  NE_CHECK(model.config().sampler != "hierarchical",
           "stylize: the nerf run uses the hierarchical sampler, which "
           "the stylized run's cached samples do not support yet (train the nerf run with sampler occupancy or "
           "stratified)");
  torch::NoGradGuard no_grad;
  std::vector<CachedView> views;
  const c10::Device device = model.device();
  for (const Camera& camera : cameras) {
    CachedView v;
    v.camera = camera;
    const int64_t h = camera.height, w = camera.width;
    const RayBatch rays = GenerateRays(camera).To(device);
    const RaySamples samples = model.SampleRays(rays, /*training=*/false);
    const at::Tensor positions = samples.Positions(rays.origins, rays.directions);
    const at::Tensor density = model.field()->QueryDensity(positions);
    const Composited c = CompositeAlongRays(density, torch::zeros({density.size(0), 1}, density.options()), samples);
    const at::Tensor keep = c.weights > min_weight;
    v.positions = positions.index({keep});
    v.weights = c.weights.index({keep});
    v.pixel = samples.ray_indices.index({keep});
    v.opacity = c.opacity.reshape({h, w});
    const at::Tensor kept_sum = torch::zeros({h * w}, c.weights.options()).index_add_(0, v.pixel, v.weights);
    v.dropped_weight = (c.opacity - kept_sum).max().item<double>();
    v.depth = torch::where(v.opacity >= 0.5, c.depth.reshape({h, w}) / v.opacity.clamp_min(1e-6),
                           torch::zeros_like(v.opacity));
    v.sky = SkyPoints(rays.directions, model.Aabb());
    v.content = model.RenderColour(camera).rgb.to(device);
    views.push_back(std::move(v));
  }
  return views;
}

at::Tensor RenderCachedView(const CachedView& view, StyleModule& style, const at::Tensor& latent) {
  const int64_t h = view.camera.height, w = view.camera.width, m = view.positions.size(0);
  const at::Tensor rgb = style->forward(torch::cat({view.positions, view.sky}), latent);
  const at::Tensor sum =
      torch::zeros({h * w, 3}, rgb.options()).index_add(0, view.pixel, rgb.slice(0, 0, m) * view.weights.unsqueeze(1));
  return (sum + (1 - view.opacity.reshape({h * w, 1})) * rgb.slice(0, m)).reshape({h, w, 3});
}

}  // namespace nerfedit
