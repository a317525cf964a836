// Pinhole cameras and the rays through their pixels.
// Axes follow OpenGL/Blender (what transforms.json stores): the camera looks down -z, +y is up, +x is right.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>

namespace nerfedit {

struct Camera {
  int64_t width = 0;
  int64_t height = 0;
  double fx = 0, fy = 0;  // focal lengths in pixels
  double cx = 0, cy = 0;  // principal point in pixels (image centre = width/2, height/2)
  at::Tensor world_from_cam;  // [4,4] f32 CPU: x_in_world = R * x_in_cam + t

  // Same view at 1/factor resolution (intrinsics scaled; width/height rounded down).
  Camera Downscaled(int factor) const;
  at::Tensor Center() const;  // [3] f32, camera centre in world

  // A camera at `eye` looking at `target`; `up` is the world's up direction (Blender: +z).
  static Camera LookAt(const std::array<float, 3>& eye, const std::array<float, 3>& target,
                       const std::array<float, 3>& up, int64_t width, int64_t height, double fov_x_radians);

  nlohmann::json ToJson() const;  // {"w","h","fl_x","fl_y","cx","cy","transform_matrix"}
  static Camera FromJson(const nlohmann::json& j);
};

// A batch of rays. Directions are unit length, so a distance t along a ray is a world distance.
struct RayBatch {
  at::Tensor origins;     // [N,3] f32
  at::Tensor directions;  // [N,3] f32, unit length

  int64_t size() const { return origins.defined() ? origins.size(0) : 0; }
  RayBatch Index(const at::Tensor& index) const;  // rows `index` ([M] i64 or bool mask)
  RayBatch Slice(int64_t begin, int64_t end) const;
  RayBatch To(const c10::Device& device) const;
};

// Rays through every pixel centre, row-major: ray y*W + x passes through pixel (x+0.5, y+0.5). offset_x/offset_y
// (in [0,1)) move every ray to the point (x+offset_x, y+offset_y) of its pixel instead (supersampled renders).
RayBatch GenerateRays(const Camera& camera, float offset_x = 0.5f, float offset_y = 0.5f);

// Vectorised rays for many cameras at once (training batches):
//   intrinsics      [C,4] f32 (fx, fy, cx, cy)
//   world_from_cam  [C,4,4] f32
//   camera_index    [N] i64 into C
//   pixel_xy        [N,2] f32 continuous pixel coordinates (pixel centres are at +0.5)
RayBatch GenerateRays(const at::Tensor& intrinsics, const at::Tensor& world_from_cam, const at::Tensor& camera_index,
                      const at::Tensor& pixel_xy);

// Stacks the cameras' intrinsics [C,4] and poses [C,4,4] for the vectorised GenerateRays.
void StackCameras(const std::vector<Camera>& cameras, at::Tensor* intrinsics, at::Tensor* world_from_cam);

// Entry and exit distances of each ray through an axis-aligned box aabb [2,3] (min row, max row).
// Rays that miss get near = far (= a large value). near is clamped to >= min_near.
void IntersectAabb(const RayBatch& rays, const at::Tensor& aabb, double min_near, at::Tensor* near, at::Tensor* far);

}  // namespace nerfedit
