#include "methods/nerf/nerf_eval.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "data/image_io.h"
#include "eval/image_metrics.h"
#include "util/runtime.h"

namespace nerfedit {

nlohmann::json EvalResult::ToJson() const {
  nlohmann::json per_view = nlohmann::json::array();
  for (const auto& v : views) {
    nlohmann::json j = {{"frame_index", v.frame_index}, {"psnr", v.psnr}, {"ssim", v.ssim}};
    if (v.depth_mae >= 0) j["depth_mae"] = v.depth_mae;
    per_view.push_back(j);
  }
  nlohmann::json j = {{"psnr", psnr}, {"ssim", ssim}, {"num_views", views.size()}, {"seconds", seconds}, {"views", per_view}};
  if (depth_mae >= 0) j["depth_mae"] = depth_mae;
  return j;
}

at::Tensor DepthToImage(const at::Tensor& depth, double near, double far) {
  auto d = depth.to(at::kFloat);
  auto v = (1.0f - (d - near) / std::max(far - near, 1e-6)).clamp(0, 1);
  v = at::where(d > 0, v, at::zeros_like(v));
  return v.unsqueeze(-1).expand({d.size(0), d.size(1), 3}).contiguous();
}

EvalResult EvaluateViews(Renderable& scene, const Dataset& views, const EvalOptions& options) {
  const double start = NowSeconds();
  EvalResult result;
  int64_t count = views.size();
  if (options.max_views > 0) count = std::min(count, options.max_views);
  if (!options.image_dir.empty()) std::filesystem::create_directories(options.image_dir);
  double depth_sum = 0;
  int64_t depth_views = 0;
  for (int64_t i = 0; i < count; ++i) {
    // Spread a partial evaluation over the whole set rather than the first views.
    const int64_t k = count == views.size() ? i : i * views.size() / count;
    RenderedView view = scene.RenderColour(views.cameras[k]);
    const at::Tensor& gt = views.images[k];
    ViewMetrics m;
    m.frame_index = views.frame_indices[k];
    m.psnr = Psnr(view.rgb, gt);
    m.ssim = options.compute_ssim ? Ssim(view.rgb, gt) : 0.0;
    if (views.depths.defined()) {
      auto gt_depth = views.depths[k];
      // Rendered depth normalised by opacity = the expected hit distance given a hit.
      auto expected = view.depth / view.opacity.clamp_min(1e-6f);
      m.depth_mae = MaskedMae(expected, gt_depth, gt_depth > 0);
      depth_sum += m.depth_mae;
      ++depth_views;
    }
    if (!options.image_dir.empty()) {
      const std::string stem = options.image_dir + "/" + std::to_string(m.frame_index);
      SaveImage(stem + "_render.png", view.rgb);
      SaveImage(stem + "_gt.png", gt);
      const double far = (scene.Aabb()[1] - scene.Aabb()[0]).norm().item<double>() * 2;
      SaveImage(stem + "_depth.png", DepthToImage(view.depth / view.opacity.clamp_min(1e-6f), 0.0, far));
    }
    result.psnr += m.psnr / count;
    result.ssim += m.ssim / count;
    result.views.push_back(m);
  }
  if (depth_views > 0) result.depth_mae = depth_sum / depth_views;
  result.seconds = NowSeconds() - start;
  return result;
}

}  // namespace nerfedit
