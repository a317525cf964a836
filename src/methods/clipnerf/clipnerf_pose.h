// The pose prior of a category dataset, as CLIP-NeRF's GAN and inversion use it (GRAF's convention): cameras on a
// sphere around a look-at point, parametrised by azimuth about the world's +z and elevation, with one set of
// intrinsics. The prior is fitted from the dataset's own training cameras (no kind-specific rig is assumed): the
// look-at point closest to every optical axis, the mean distance to it, the range of elevations and of azimuths.
// Poses are built with differentiable tensor operations, so inversion can optimise the camera by gradient descent.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <nlohmann/json.hpp>
#include <vector>

#include "render/camera.h"

namespace nerfedit {

struct PosePrior {
  std::array<float, 3> target{0, 0, 0};         // look-at point (world)
  double radius = 1;                            // camera distance from target
  double elevation_min = 0, elevation_max = 0;  // radians above the xy plane through target
  double azimuth_min = 0, azimuth_max = 0;      // radians; [0, 2 pi) when the cameras go all around
  Camera intrinsics;                            // width, height, fx, fy, cx, cy (world_from_cam unused)

  // Fits the prior to cameras (all with the same intrinsics, world up +z). Throws for fewer than 2 cameras or
  // cameras whose axes do not meet near one point (all parallel).
  static PosePrior Fit(const std::vector<Camera>& cameras);

  // [N,4,4] f32 world_from_cam of cameras at (azimuth, elevation) [N] (differentiable w.r.t. both), on the sphere of
  // `radius`, looking at target, up +z. Azimuth 0 puts the camera on +y; positive azimuth moves it towards +x.
  at::Tensor Poses(const at::Tensor& azimuth, const at::Tensor& elevation) const;
  Camera MakeCamera(double azimuth, double elevation) const;
  // Azimuth and elevation of a camera's centre seen from target.
  std::array<double, 2> AnglesOf(const Camera& camera) const;
  // n draws: azimuth uniform over its range, elevation area-uniform (uniform in sin) over its range; [n] f32 each.
  void Sample(int64_t n, at::Tensor* azimuth, at::Tensor* elevation) const;

  nlohmann::json ToJson() const;
};

// Rays through pixel centres pixel_xy [P,2] (continuous pixel coordinates) of the cameras poses [C,4,4] with the
// prior's intrinsics: camera c's rays are rows c*P .. c*P+P-1. Differentiable w.r.t. poses.
RayBatch PriorRays(const PosePrior& prior, const at::Tensor& poses, const at::Tensor& pixel_xy);
// pixel_xy [H*W,2] of every pixel centre, row-major, for an image of width x height.
at::Tensor PixelCentres(int64_t width, int64_t height);

}  // namespace nerfedit
