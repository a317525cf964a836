#include "eval/view_consistency.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace nerfedit {

void ViewConsistencyOptions::Check() const {
  NE_CHECK(depth_tolerance() > 0, "view consistency: depth_tolerance must be > 0, got ", depth_tolerance());
  NE_CHECK(long_range_degrees() >= 0 && long_range_degrees() <= 180,
           "view consistency: long_range_degrees must be in [0,180], got ", long_range_degrees());
  NE_CHECK(max_long_pairs() >= 0, "view consistency: max_long_pairs must be >= 0, got ", max_long_pairs());
  NE_CHECK(min_visible_fraction() >= 0 && min_visible_fraction() <= 1,
           "view consistency: min_visible_fraction must be in [0,1], got ", min_visible_fraction());
}

namespace {

void CheckView(const at::Tensor& depth, const Camera& camera, const char* which) {
  NE_CHECK(depth.dim() == 2 && depth.size(0) == camera.height && depth.size(1) == camera.width, "view consistency: ",
           which, " depth is ", depth.sizes(), ", its camera is ", camera.width, "x", camera.height);
  NE_CHECK(camera.world_from_cam.defined(), "view consistency: ", which, " camera has no pose");
}

at::Tensor Rotation(const Camera& c) { return c.world_from_cam.slice(0, 0, 3).slice(1, 0, 3).to(at::kFloat); }
at::Tensor Translation(const Camera& c) { return c.world_from_cam.slice(0, 0, 3).select(1, 3).to(at::kFloat); }

}  // namespace

WarpResult WarpFrame(const at::Tensor& image_j, const at::Tensor& depth_j, const Camera& camera_j,
                     const at::Tensor& depth_i, const Camera& camera_i, const ViewConsistencyOptions& options) {
  options.Check();
  CheckView(depth_i, camera_i, "view i");
  CheckView(depth_j, camera_j, "view j");
  NE_CHECK(image_j.dim() == 3 && image_j.size(0) == camera_j.height && image_j.size(1) == camera_j.width,
           "view consistency: frame j is ", image_j.sizes(), ", its camera is ", camera_j.width, "x",
           camera_j.height);
  const int64_t h = camera_i.height, w = camera_i.width, hj = camera_j.height, wj = camera_j.width;
  const int64_t channels = image_j.size(2);

  // Back-project view i's pixel centres with their ray depth.
  const RayBatch rays = GenerateRays(camera_i);
  const at::Tensor d_i = depth_i.to(at::kFloat).reshape({-1});
  const at::Tensor points = rays.origins + rays.directions * d_i.unsqueeze(1);  // [N,3] world

  // Into view j: x_in_cam = R^T (x_in_world - t); the camera looks down -z, image rows go down.
  const at::Tensor in_cam = (points - Translation(camera_j)).matmul(Rotation(camera_j));  // [N,3] = R^T (x - t)
  const at::Tensor forward = -in_cam.select(1, 2);
  const at::Tensor safe = forward.clamp_min(1e-6);
  // Continuous pixel coordinates whose integer values are pixel centres.
  const at::Tensor u = camera_j.cx + camera_j.fx * in_cam.select(1, 0) / safe - 0.5;
  const at::Tensor v = camera_j.cy - camera_j.fy * in_cam.select(1, 1) / safe - 0.5;
  const at::Tensor reprojected = (points - Translation(camera_j)).norm(2, 1);  // distance from j's centre

  at::Tensor valid = (d_i > 0) & (forward > 1e-6) & (u >= 0) & (u <= wj - 1) & (v >= 0) & (v <= hj - 1);
  const at::Tensor uc = u.clamp(0, wj - 1), vc = v.clamp(0, hj - 1);
  const at::Tensor x0 = uc.floor().to(at::kLong).clamp(0, wj - 1), y0 = vc.floor().to(at::kLong).clamp(0, hj - 1);
  const at::Tensor x1 = (x0 + 1).clamp(0, wj - 1), y1 = (y0 + 1).clamp(0, hj - 1);
  const at::Tensor fx = (uc - x0.to(at::kFloat)).unsqueeze(1), fy = (vc - y0.to(at::kFloat)).unsqueeze(1);

  // Occlusion: every tap of j's depth must show this very surface point.
  const at::Tensor dj = depth_j.to(at::kFloat).reshape({-1});
  const at::Tensor tolerance = options.depth_tolerance() * reprojected;
  for (const auto& [yy, xx] : {std::pair{y0, x0}, std::pair{y0, x1}, std::pair{y1, x0}, std::pair{y1, x1}}) {
    const at::Tensor tap = dj.index_select(0, yy * wj + xx);
    valid = valid & (tap > 0) & ((tap - reprojected).abs() <= tolerance);
  }

  const at::Tensor flat = image_j.to(at::kFloat).reshape({-1, channels});
  auto at_tap = [&](const at::Tensor& yy, const at::Tensor& xx) { return flat.index_select(0, yy * wj + xx); };
  const at::Tensor warped = (1 - fy) * ((1 - fx) * at_tap(y0, x0) + fx * at_tap(y0, x1)) +
                            fy * ((1 - fx) * at_tap(y1, x0) + fx * at_tap(y1, x1));
  WarpResult out;
  out.mask = valid.reshape({h, w});
  out.warped = (warped * valid.unsqueeze(1).to(at::kFloat)).reshape({h, w, channels});
  return out;
}

PairError WarpingError(const at::Tensor& image_i, const at::Tensor& depth_i, const Camera& camera_i,
                       const at::Tensor& image_j, const at::Tensor& depth_j, const Camera& camera_j,
                       const ViewConsistencyOptions& options) {
  NE_CHECK(image_i.dim() == 3 && image_i.size(0) == camera_i.height && image_i.size(1) == camera_i.width &&
               image_j.dim() == 3 && image_i.size(2) == image_j.size(2),
           "view consistency: frames ", image_i.sizes(), " and ", image_j.sizes(),
           " must be [H,W,C] with their cameras' sizes and equal C");
  const WarpResult warp = WarpFrame(image_j, depth_j, camera_j, depth_i, camera_i, options);
  PairError e;
  e.visible = warp.mask.sum().item<int64_t>();
  if (e.visible == 0) return e;
  const at::Tensor diff = (image_i.to(at::kFloat) - warp.warped) * warp.mask.unsqueeze(2).to(at::kFloat);
  e.rmse = std::sqrt(diff.pow(2).sum().item<double>() / (e.visible * image_i.size(2)));
  return e;
}

double ViewAngleDegrees(const Camera& a, const Camera& b) {
  const at::Tensor da = -Rotation(a).select(1, 2), db = -Rotation(b).select(1, 2);
  const double c = std::clamp((da * db).sum().item<double>() / (da.norm().item<double>() * db.norm().item<double>()),
                              -1.0, 1.0);
  return std::acos(c) * 180.0 / M_PI;
}

ConsistencyResult MeasureConsistency(const std::vector<at::Tensor>& frames, const std::vector<at::Tensor>& depths,
                                     const std::vector<Camera>& cameras, const ViewConsistencyOptions& options) {
  options.Check();
  NE_CHECK(frames.size() == depths.size() && frames.size() == cameras.size(), "view consistency: ", frames.size(),
           " frames, ", depths.size(), " depth maps and ", cameras.size(), " cameras (expected as many)");
  ConsistencyResult result;
  const size_t n = frames.size();
  auto counts = [&](size_t i, const PairError& e) {
    return e.visible > 0 &&
           e.visible >= options.min_visible_fraction() * cameras[i].width * cameras[i].height;
  };
  double sum = 0;
  for (size_t k = 0; k + 1 < n; ++k) {
    const PairError e = WarpingError(frames[k], depths[k], cameras[k], frames[k + 1], depths[k + 1], cameras[k + 1],
                                     options);
    if (!counts(k, e)) continue;
    sum += e.rmse;
    ++result.short_pairs;
  }
  result.short_range = result.short_pairs > 0 ? sum / result.short_pairs : 0;

  std::vector<std::pair<size_t, size_t>> far;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      if (ViewAngleDegrees(cameras[i], cameras[j]) >= options.long_range_degrees()) far.emplace_back(i, j);
    }
  }
  if (options.max_long_pairs() > 0 && static_cast<int64_t>(far.size()) > options.max_long_pairs()) {
    std::vector<std::pair<size_t, size_t>> chosen;
    for (int64_t k = 0; k < options.max_long_pairs(); ++k) chosen.push_back(far[k * far.size() / options.max_long_pairs()]);
    far = chosen;
  }
  sum = 0;
  for (const auto& [i, j] : far) {
    const PairError e = WarpingError(frames[i], depths[i], cameras[i], frames[j], depths[j], cameras[j], options);
    if (!counts(i, e)) continue;
    sum += e.rmse;
    ++result.long_pairs;
  }
  result.long_range = result.long_pairs > 0 ? sum / result.long_pairs : 0;
  return result;
}

}  // namespace nerfedit
