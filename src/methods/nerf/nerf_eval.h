// Held-out evaluation of any Renderable against a dataset: PSNR, SSIM and (when the data has exact depth) depth MAE.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/dataset.h"
#include "render/renderable.h"

namespace nerfedit {

struct ViewMetrics {
  int64_t frame_index = 0;
  double psnr = 0, ssim = 0;
  double depth_mae = -1;  // mean |depth - gt| over pixels where the ground truth hits a surface; -1 without gt
};

struct EvalResult {
  std::vector<ViewMetrics> views;
  double psnr = 0, ssim = 0, depth_mae = -1;  // means over views
  double seconds = 0;
  nlohmann::json ToJson() const;
};

struct EvalOptions {
  int64_t max_views = 0;     // 0 = all views
  bool compute_ssim = true;
  std::string image_dir;     // when set, writes <frame>_render.png, <frame>_gt.png, <frame>_depth.png there
};

EvalResult EvaluateViews(Renderable& scene, const Dataset& views, const EvalOptions& options);

// Depth as a grey image: near (bright) to far (dark) within the given range; 0 (no hit) stays black.
at::Tensor DepthToImage(const at::Tensor& depth, double near, double far);

}  // namespace nerfedit
