#include "render/camera.h"

#include <ATen/ATen.h>

#include <cmath>

#include "util/error.h"

namespace nerfedit {

Camera Camera::Downscaled(int factor) const {
  NE_CHECK(factor >= 1, "downscale factor must be >= 1, got ", factor);
  Camera c = *this;
  c.width = width / factor;
  c.height = height / factor;
  c.fx = fx / factor;
  c.fy = fy / factor;
  c.cx = cx / factor;
  c.cy = cy / factor;
  return c;
}

at::Tensor Camera::Center() const { return world_from_cam.index({at::indexing::Slice(0, 3), 3}).clone(); }

Camera Camera::LookAt(const std::array<float, 3>& eye, const std::array<float, 3>& target,
                      const std::array<float, 3>& up, int64_t width, int64_t height, double fov_x_radians) {
  auto e = at::tensor({eye[0], eye[1], eye[2]});
  auto forward = at::tensor({target[0], target[1], target[2]}) - e;
  forward = forward / forward.norm();
  auto u = at::tensor({up[0], up[1], up[2]});
  auto right = at::cross(forward, u, 0);
  NE_CHECK(right.norm().item<float>() > 1e-6, "LookAt: view direction is parallel to up");
  right = right / right.norm();
  auto true_up = at::cross(right, forward, 0);
  Camera c;
  c.width = width;
  c.height = height;
  c.fx = c.fy = 0.5 * width / std::tan(0.5 * fov_x_radians);
  c.cx = 0.5 * width;
  c.cy = 0.5 * height;
  c.world_from_cam = at::eye(4, at::kFloat);
  // Columns are the camera axes in world: +x right, +y up, +z backwards (camera looks down -z).
  c.world_from_cam.index_put_({at::indexing::Slice(0, 3), 0}, right);
  c.world_from_cam.index_put_({at::indexing::Slice(0, 3), 1}, true_up);
  c.world_from_cam.index_put_({at::indexing::Slice(0, 3), 2}, -forward);
  c.world_from_cam.index_put_({at::indexing::Slice(0, 3), 3}, e);
  return c;
}

nlohmann::json Camera::ToJson() const {
  auto m = world_from_cam.contiguous();
  nlohmann::json rows = nlohmann::json::array();
  for (int r = 0; r < 4; ++r) {
    rows.push_back({m[r][0].item<float>(), m[r][1].item<float>(), m[r][2].item<float>(), m[r][3].item<float>()});
  }
  return {{"w", width}, {"h", height}, {"fl_x", fx}, {"fl_y", fy}, {"cx", cx}, {"cy", cy}, {"transform_matrix", rows}};
}

namespace {
constexpr int64_t kMaxCameraSide = 1 << 16;  // pixels: beyond any sensor, and w * h stays far from overflow
}  // namespace

Camera Camera::FromJson(const nlohmann::json& j) {
  // Cameras come from files (run.json): numbers are read as doubles and checked before any narrowing, because
  // nlohmann's get<int64_t> of 1e300 is a static_cast out of range (undefined behaviour, found by fuzzing run.json).
  NE_CHECK(j.is_object(), "camera: expected an object, got ", j.dump().substr(0, 100));
  auto number = [&](const char* key) {
    const nlohmann::json& v = j.at(key);
    NE_CHECK(v.is_number() && std::isfinite(v.get<double>()), "camera \"", key, "\" must be a finite number, got ",
             v.dump());
    return v.get<double>();
  };
  auto side = [&](const char* key) {
    const double v = number(key);
    NE_CHECK(v >= 1 && v <= kMaxCameraSide && v == std::floor(v), "camera \"", key,
             "\" must be a whole number of pixels in [1, ", kMaxCameraSide, "], got ", v);
    return static_cast<int64_t>(v);
  };
  Camera c;
  c.width = side("w");
  c.height = side("h");
  c.fx = number("fl_x");
  c.fy = number("fl_y");
  c.cx = number("cx");
  c.cy = number("cy");
  std::vector<float> values;
  const nlohmann::json& matrix = j.at("transform_matrix");
  NE_CHECK(matrix.is_array() && matrix.size() == 4, "camera transform_matrix must be 4x4, got ",
           matrix.dump().substr(0, 100));
  for (const auto& row : matrix) {
    NE_CHECK(row.is_array() && row.size() == 4, "camera transform_matrix must be 4x4, got a row ", row.dump());
    for (const auto& v : row) {
      NE_CHECK(v.is_number() && std::isfinite(v.get<float>()), "camera transform_matrix holds ", v.dump(),
               ", not a finite number");
      values.push_back(v.get<float>());
    }
  }
  NE_CHECK(values.size() == 16, "camera transform_matrix must be 4x4, got ", values.size(), " values");
  c.world_from_cam = at::tensor(values).reshape({4, 4});
  return c;
}

RayBatch RayBatch::Index(const at::Tensor& index) const { return {origins.index({index}), directions.index({index})}; }

RayBatch RayBatch::Slice(int64_t begin, int64_t end) const {
  return {origins.slice(0, begin, end), directions.slice(0, begin, end)};
}

RayBatch RayBatch::To(const c10::Device& device) const { return {origins.to(device), directions.to(device)}; }

void StackCameras(const std::vector<Camera>& cameras, at::Tensor* intrinsics, at::Tensor* world_from_cam) {
  std::vector<float> k;
  std::vector<at::Tensor> poses;
  for (const auto& c : cameras) {
    k.insert(k.end(), {static_cast<float>(c.fx), static_cast<float>(c.fy), static_cast<float>(c.cx),
                       static_cast<float>(c.cy)});
    poses.push_back(c.world_from_cam.to(at::kFloat));
  }
  *intrinsics = at::tensor(k).reshape({static_cast<int64_t>(cameras.size()), 4});
  *world_from_cam = at::stack(poses);
}

RayBatch GenerateRays(const at::Tensor& intrinsics, const at::Tensor& world_from_cam, const at::Tensor& camera_index,
                      const at::Tensor& pixel_xy) {
  auto k = intrinsics.index_select(0, camera_index);         // [N,4]
  auto pose = world_from_cam.index_select(0, camera_index);  // [N,4,4]
  auto x = (pixel_xy.select(1, 0) - k.select(1, 2)) / k.select(1, 0);
  auto y = -(pixel_xy.select(1, 1) - k.select(1, 3)) / k.select(1, 1);  // image rows go down, camera +y goes up
  auto dir_in_cam = at::stack({x, y, -at::ones_like(x)}, 1);            // [N,3]
  auto rotation = pose.slice(1, 0, 3).slice(2, 0, 3);                   // [N,3,3]
  auto dir_in_world = at::bmm(rotation, dir_in_cam.unsqueeze(2)).squeeze(2);
  dir_in_world = dir_in_world / dir_in_world.norm(2, 1, true);
  auto origin = pose.slice(1, 0, 3).select(2, 3);
  return {origin.contiguous(), dir_in_world.contiguous()};
}

RayBatch GenerateRays(const Camera& camera, float offset_x, float offset_y) {
  auto ys = at::arange(camera.height, at::kFloat) + offset_y;
  auto xs = at::arange(camera.width, at::kFloat) + offset_x;
  auto grid = at::meshgrid({ys, xs}, "ij");
  auto pixel_xy = at::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, 1);
  at::Tensor k, pose;
  StackCameras({camera}, &k, &pose);
  return GenerateRays(k, pose, at::zeros({pixel_xy.size(0)}, at::kLong), pixel_xy);
}

void IntersectAabb(const RayBatch& rays, const at::Tensor& aabb, double min_near, at::Tensor* near, at::Tensor* far) {
  auto box = aabb.to(rays.origins.device(), at::kFloat);
  // Slab method; a zero direction component gives +-inf, which min/max handle.
  auto inv = 1.0f / rays.directions;
  auto t0 = (box[0] - rays.origins) * inv;
  auto t1 = (box[1] - rays.origins) * inv;
  auto tmin = at::minimum(t0, t1).nan_to_num(-1e10).amax(1);
  auto tmax = at::maximum(t0, t1).nan_to_num(1e10).amin(1);
  tmin = tmin.clamp_min(min_near);
  auto miss = tmax <= tmin;
  *near = at::where(miss, at::full_like(tmin, 1e10), tmin);
  *far = at::where(miss, at::full_like(tmax, 1e10), tmax);
}

}  // namespace nerfedit
