// Cameras and canonical landmarks of a LOLNeRF run (Rebain et al. 2022, §3.3): the joint landmark fit over the
// training images (data/landmark_pose.h) gives the canonical 3D landmarks that fitting a new photo needs, and — with
// "poses": "landmarks" — the training cameras themselves, written to RUN/estimated_cameras.json for inspection.
#pragma once
#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/landmark_pose.h"
#include "render/camera.h"

namespace nerfedit {

struct CategoryDataset;
struct LolnerfConfig;

// What a run keeps of the landmark fit (run.json "landmarks"): enough to place a new photo's camera.
struct LolnerfLandmarkModel {
  at::Tensor canonical;         // [K,3] f32 canonical landmark positions
  at::Tensor centre;            // [3] f32 the centring prior's point, undefined without the prior
  at::Tensor centre_in_camera;  // [3] f32
  at::Tensor up;                // [3] f32 the roll prior's world up (canonical frame), undefined without the prior
  LandmarkPoseOptions options;  // huber scale, iterations, centring and roll weights

  bool defined() const { return canonical.defined(); }
  nlohmann::json ToJson() const;
  static LolnerfLandmarkModel FromJson(const nlohmann::json& json, const std::string& context);
  // A new image's camera: landmarks [K,2] pixel coordinates, intrinsics [4] (fx, fy, cx, cy). Throws naming
  // `what` for a wrong count or non-finite values.
  at::Tensor FitCamera(const at::Tensor& landmarks, const at::Tensor& intrinsics, const std::string& what,
                       double* residual_px = nullptr) const;
};

struct LolnerfPoses {
  LolnerfLandmarkModel landmarks;  // undefined when the data carries no landmarks
  std::vector<Camera> cameras;     // the cameras training uses (estimated or the dataset's)
  double rotation_error_deg = -1;  // estimated vs the dataset's cameras (mean, gauge aligned); -1: not estimated
  nlohmann::json report;           // estimated_cameras.json
};

// Runs the joint landmark fit when the data has landmarks (canonical points for fitting; the cameras too when
// config.poses == "landmarks", which then requires landmarks). `kind` picks the template (MeanInstance).
LolnerfPoses EstimateLolnerfPoses(const CategoryDataset& data, const LolnerfConfig& config);

}  // namespace nerfedit
