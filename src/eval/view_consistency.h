// Multi-view consistency of a sequence of frames: the warping error (Lai et al. 2018, "Learning Blind Video Temporal
// Consistency"; StylizedNeRF's short/long-range consistency): frame j is warped into view i with view i's depth,
// and the RMSE is taken over the pixels visible in both views. Works the same on per-frame 2D stylisations and on
// renders of a stylized field, so the two can be compared.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <vector>

#include "render/camera.h"

namespace nerfedit {

struct ViewConsistencyOptions {
  // A pixel of view i counts only when its surface point, seen from view j, is the surface view j shows there:
  // every bilinear tap of j's depth agrees with the point's distance from j within depth_tolerance * that distance.
  TORCH_ARG(double, depth_tolerance) = 0.03;
  TORCH_ARG(double, long_range_degrees) = 45;  // long-range pairs: viewing directions at least this far apart
  TORCH_ARG(int64_t, max_long_pairs) = 0;      // 0 = every long-range pair; else evenly chosen among them
  TORCH_ARG(double, min_visible_fraction) = 0.01;  // pairs sharing fewer pixels (of H*W) are skipped

 public:
  void Check() const;
};

struct WarpResult {
  at::Tensor warped;  // [H,W,C] f32: frame j sampled (bilinearly) where view i's pixels land in view j
  at::Tensor mask;    // [H,W] bool: the pixel has a surface in i, lands inside j, and is not occluded in j
};

// Warps image_j [Hj,Wj,C] (view camera_j, ray depth depth_j [Hj,Wj]) into view camera_i using depth_i [H,W].
// Depths are distances along each pixel-centre ray (data/procedural_scene.h's convention); 0 = no surface.
WarpResult WarpFrame(const at::Tensor& image_j, const at::Tensor& depth_j, const Camera& camera_j,
                     const at::Tensor& depth_i, const Camera& camera_i, const ViewConsistencyOptions& options = {});

struct PairError {
  double rmse = 0;      // sqrt(mean over visible pixels and channels of (image_i - warped_j)^2)
  int64_t visible = 0;  // pixels counted
};

PairError WarpingError(const at::Tensor& image_i, const at::Tensor& depth_i, const Camera& camera_i,
                       const at::Tensor& image_j, const at::Tensor& depth_j, const Camera& camera_j,
                       const ViewConsistencyOptions& options = {});

// Angle in degrees between two cameras' viewing directions (their -z axes).
double ViewAngleDegrees(const Camera& a, const Camera& b);

struct ConsistencyResult {
  double short_range = 0;   // mean pair RMSE over adjacent frames (k, k+1)
  double long_range = 0;    // mean pair RMSE over pairs >= long_range_degrees apart
  int64_t short_pairs = 0;  // pairs that shared enough pixels to count
  int64_t long_pairs = 0;
};

// frames [H,W,C] (f32), depths [H,W] and cameras of an ordered sequence (an orbit). Throws naming the frame for
// inconsistent sizes. A side with no usable pair reports 0 with 0 pairs.
ConsistencyResult MeasureConsistency(const std::vector<at::Tensor>& frames, const std::vector<at::Tensor>& depths,
                                     const std::vector<Camera>& cameras, const ViewConsistencyOptions& options = {});

}  // namespace nerfedit
