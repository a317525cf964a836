#include "methods/clipnerf/clipnerf_pose.h"

#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace nerfedit {

namespace {
constexpr double kTwoPi = 2 * M_PI;
}  // namespace

PosePrior PosePrior::Fit(const std::vector<Camera>& cameras) {
  NE_CHECK(cameras.size() >= 2, "pose prior: needs at least 2 cameras, got ", cameras.size());
  const Camera& first = cameras.front();
  for (const Camera& c : cameras) {
    NE_CHECK(c.width == first.width && c.height == first.height && std::abs(c.fx - first.fx) < 1e-3 * first.fx,
             "pose prior: the cameras must share their intrinsics; got ", c.width, "x", c.height, " fx ", c.fx, " and ",
             first.width, "x", first.height, " fx ", first.fx);
  }
  // The point closest to every optical axis (o + t d): sum_i (I - d d^T) (p - o_i) = 0, a 3x3 system.
  at::Tensor a = torch::zeros({3, 3}, at::kDouble), b = torch::zeros({3}, at::kDouble);
  std::vector<at::Tensor> centres;
  for (const Camera& c : cameras) {
    const at::Tensor m = c.world_from_cam.to(at::kDouble);
    const at::Tensor o = m.slice(0, 0, 3).select(1, 3);
    const at::Tensor d = -m.slice(0, 0, 3).select(1, 2) / m.slice(0, 0, 3).select(1, 2).norm();
    const at::Tensor proj = torch::eye(3, at::kDouble) - torch::outer(d, d);
    a += proj;
    b += proj.matmul(o);
    centres.push_back(o);
  }
  NE_CHECK(torch::linalg::det(a).item<double>() > 1e-6 * std::pow(static_cast<double>(cameras.size()), 3),
           "pose prior: the cameras' optical axes are (nearly) parallel; no common look-at point");
  const at::Tensor p = torch::linalg::solve(a, b, true);
  PosePrior prior;
  for (int i = 0; i < 3; ++i) prior.target[i] = static_cast<float>(p[i].item<double>());
  prior.intrinsics = first;
  prior.intrinsics.world_from_cam = torch::eye(4, at::kFloat);
  const at::Tensor rel = torch::stack(centres) - p;  // [N,3]
  const at::Tensor dist = rel.norm(2, 1);
  prior.radius = dist.mean().item<double>();
  const at::Tensor elevation = torch::asin((rel.select(1, 2) / dist).clamp(-1, 1));
  prior.elevation_min = elevation.min().item<double>();
  prior.elevation_max = elevation.max().item<double>();
  // Azimuths: all around when the largest gap between sorted azimuths is small, else the arc the gap leaves.
  const at::Tensor azimuth = torch::remainder(torch::atan2(rel.select(1, 0), rel.select(1, 1)), kTwoPi);
  const at::Tensor sorted = std::get<0>(azimuth.sort());
  const at::Tensor gaps =
      torch::cat({sorted.slice(0, 1) - sorted.slice(0, 0, -1), (sorted[0] + kTwoPi - sorted[-1]).unsqueeze(0)});
  const int64_t widest = gaps.argmax().item<int64_t>();
  const double gap = gaps[widest].item<double>();
  if (gap < kTwoPi / 8) {  // cameras all around (a gap of 45 degrees or less is sampling noise)
    prior.azimuth_min = 0;
    prior.azimuth_max = kTwoPi;
  } else {  // the arc from after the widest gap round to its start
    const int64_t n = sorted.size(0);
    prior.azimuth_min = sorted[(widest + 1) % n].item<double>();
    prior.azimuth_max = prior.azimuth_min + kTwoPi - gap;
  }
  return prior;
}

at::Tensor PosePrior::Poses(const at::Tensor& azimuth, const at::Tensor& elevation) const {
  NE_CHECK(azimuth.dim() == 1 && elevation.sizes() == azimuth.sizes(), "pose prior: azimuth and elevation must be [N]",
           ", got ", azimuth.sizes(), " and ", elevation.sizes());
  const at::Tensor target_t = torch::tensor({target[0], target[1], target[2]}, azimuth.options());
  const at::Tensor ce = torch::cos(elevation);
  const at::Tensor out_dir =
      torch::stack({ce * torch::sin(azimuth), ce * torch::cos(azimuth), torch::sin(elevation)}, 1);
  const at::Tensor eye = target_t + radius * out_dir;  // [N,3]
  const at::Tensor forward = -out_dir;
  const at::Tensor up = torch::tensor({0.f, 0.f, 1.f}, azimuth.options()).expand_as(forward);
  at::Tensor right = torch::cross(forward, up, 1);
  right = right / right.norm(2, 1, true).clamp_min(1e-8);
  const at::Tensor true_up = torch::cross(right, forward, 1);
  const at::Tensor top = torch::stack({right, true_up, -forward, eye}, 2);  // [N,3,4]: columns
  const at::Tensor bottom =
      torch::tensor({0.f, 0.f, 0.f, 1.f}, azimuth.options()).view({1, 1, 4}).expand({azimuth.size(0), 1, 4});
  return torch::cat({top, bottom}, 1);
}

Camera PosePrior::MakeCamera(double azimuth, double elevation) const {
  Camera c = intrinsics;
  c.world_from_cam = Poses(torch::tensor({static_cast<float>(azimuth)}), torch::tensor({static_cast<float>(elevation)}))
                         .squeeze(0)
                         .contiguous();
  return c;
}

std::array<double, 2> PosePrior::AnglesOf(const Camera& camera) const {
  const at::Tensor o = camera.world_from_cam.to(at::kDouble).slice(0, 0, 3).select(1, 3);
  const at::Tensor rel = o - torch::tensor({target[0], target[1], target[2]}, at::kDouble);
  const double az = std::atan2(rel[0].item<double>(), rel[1].item<double>());
  const double el = std::asin(std::clamp(rel[2].item<double>() / rel.norm().item<double>(), -1.0, 1.0));
  return {az < 0 ? az + kTwoPi : az, el};
}

void PosePrior::Sample(int64_t n, at::Tensor* azimuth, at::Tensor* elevation) const {
  *azimuth = torch::rand({n}) * (azimuth_max - azimuth_min) + azimuth_min;
  const double s0 = std::sin(elevation_min), s1 = std::sin(elevation_max);
  *elevation = torch::asin(torch::rand({n}) * (s1 - s0) + s0);
}

nlohmann::json PosePrior::ToJson() const {
  return {{"target", target},
          {"radius", radius},
          {"elevation_deg", {elevation_min * 180 / M_PI, elevation_max * 180 / M_PI}},
          {"azimuth_deg", {azimuth_min * 180 / M_PI, azimuth_max * 180 / M_PI}},
          {"width", intrinsics.width},
          {"height", intrinsics.height},
          {"fx", intrinsics.fx}};
}

at::Tensor PixelCentres(int64_t width, int64_t height) {
  const auto grid =
      torch::meshgrid({torch::arange(height, at::kFloat) + 0.5, torch::arange(width, at::kFloat) + 0.5}, "ij");
  return torch::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, 1);
}

RayBatch PriorRays(const PosePrior& prior, const at::Tensor& poses, const at::Tensor& pixel_xy) {
  const int64_t c = poses.size(0), p = pixel_xy.size(0);
  const Camera& k = prior.intrinsics;
  const at::Tensor intrinsics = torch::tensor({static_cast<float>(k.fx), static_cast<float>(k.fy),
                                               static_cast<float>(k.cx), static_cast<float>(k.cy)},
                                              poses.options())
                                    .view({1, 4})
                                    .expand({c, 4});
  const at::Tensor camera_index = torch::arange(c, poses.options().dtype(at::kLong)).repeat_interleave(p);
  return GenerateRays(intrinsics, poses, camera_index, pixel_xy.to(poses.options()).repeat({c, 1}));
}

}  // namespace nerfedit
