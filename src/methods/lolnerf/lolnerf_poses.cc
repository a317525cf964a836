#include "methods/lolnerf/lolnerf_poses.h"

#include <torch/torch.h>

#include "data/category_scene.h"
#include "methods/lolnerf/lolnerf_config.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/thread_policy.h"

namespace nerfedit {

namespace {

std::vector<float> ToVector(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous().reshape(-1);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

nlohmann::json LolnerfLandmarkModel::ToJson() const {
  nlohmann::json j = {{"canonical", ToVector(canonical)}, {"options", options.ToJson()}};
  if (centre.defined()) {
    j["centre"] = ToVector(centre);
    j["centre_in_camera"] = ToVector(centre_in_camera);
  }
  if (up.defined()) j["up"] = ToVector(up);
  return j;
}

LolnerfLandmarkModel LolnerfLandmarkModel::FromJson(const nlohmann::json& json, const std::string& context) {
  LolnerfLandmarkModel m;
  std::vector<float> canonical, centre, centre_in_camera, up;
  nlohmann::json options = nlohmann::json::object();
  JsonReader r(json, context);
  r.Required("canonical", &canonical).Optional("centre", &centre).Optional("centre_in_camera", &centre_in_camera);
  r.Optional("options", &options).Optional("up", &up);
  r.Finish();
  NE_CHECK(canonical.size() == 3 * kNumLandmarks, context, ": \"canonical\" must hold ", 3 * kNumLandmarks,
           " numbers, got ", canonical.size());
  m.canonical = torch::tensor(canonical).view({kNumLandmarks, 3});
  if (!centre.empty()) {
    NE_CHECK(centre.size() == 3 && centre_in_camera.size() == 3, context,
             ": \"centre\" and \"centre_in_camera\" must hold 3 numbers each");
    m.centre = torch::tensor(centre);
    m.centre_in_camera = torch::tensor(centre_in_camera);
  }
  if (!up.empty()) {
    NE_CHECK(up.size() == 3, context, ": \"up\" must hold 3 numbers, got ", up.size());
    m.up = torch::tensor(up);
  }
  m.options = LandmarkPoseOptions::FromJson(options);
  return m;
}

at::Tensor LolnerfLandmarkModel::FitCamera(const at::Tensor& landmarks, const at::Tensor& intrinsics,
                                           const std::string& what, double* residual_px) const {
  NE_CHECK(defined(),
           "this run has no canonical landmarks (its data carried none): it cannot place a new photo's "
           "camera from landmarks");
  NE_CHECK(landmarks.dim() == 2 && landmarks.size(0) == canonical.size(0) && landmarks.size(1) == 2, what,
           ": expected ", canonical.size(0), " landmarks (x, y pixel pairs), got shape ", landmarks.sizes());
  NE_CHECK(torch::isfinite(landmarks).all().item<bool>(), what, ": a landmark coordinate is NaN or infinite");
  LandmarkPoseOptions options = this->options;
  if (!centre.defined()) options.centring_weight(0);
  if (!up.defined()) options.roll_weight(0);  // runs made before the roll prior
  ScopedThreads threads(1, 1);                // small tensor ops, as EstimateLolnerfPoses
  const LandmarkPoseResult fit = FitCameraToCanonical(landmarks.to(at::kFloat), intrinsics.to(at::kFloat), canonical,
                                                      options, centre, centre_in_camera, up);
  if (residual_px != nullptr) *residual_px = fit.mean_residual_px;
  return fit.world_from_cam[0];
}

LolnerfPoses EstimateLolnerfPoses(const CategoryDataset& data, const LolnerfConfig& config) {
  LolnerfPoses poses;
  poses.cameras = data.data.cameras;
  const bool estimate = config.poses == "landmarks";
  if (!data.landmarks.defined()) {
    NE_CHECK(!estimate, config.data,
             ": \"poses\": \"landmarks\" needs per-frame \"landmarks\", and the frames carry "
             "none");
    return poses;
  }
  const std::string kind = data.kind.empty() ? "heads" : data.kind;
  const at::Tensor template_points = MeanInstance(kind).landmarks;
  const int64_t n = data.data.size();
  at::Tensor intrinsics = torch::empty({n, 4});
  at::Tensor truth = torch::empty({n, 4, 4});
  for (int64_t i = 0; i < n; ++i) {
    const Camera& c = data.data.cameras[i];
    intrinsics[i] = torch::tensor({c.fx, c.fy, c.cx, c.cy}, torch::kFloat);
    truth[i] = c.world_from_cam;
  }
  const LandmarkPoseOptions options = LandmarkPoseOptions()
                                          .iterations(config.landmark_iterations)
                                          .huber_delta_px(config.landmark_huber_px)
                                          .centring_weight(config.landmark_centring_weight)
                                          .roll_weight(config.landmark_roll_weight);
  // The fit is thousands of small tensor ops: one thread is as fast idle and far faster on a busy machine, where two
  // spinning OpenMP threads made it ~20x slower (measured: 24 images 0.3 s vs 10 s).
  ScopedThreads threads(1, 1);
  const LandmarkPoseResult fit = FitLandmarkPoses(data.landmarks, intrinsics, template_points, options);
  poses.landmarks.canonical = fit.canonical;
  poses.landmarks.centre = fit.centre;
  poses.landmarks.centre_in_camera = fit.centre_in_camera;
  poses.landmarks.up = fit.up;
  poses.landmarks.options = options;
  if (!estimate) return poses;
  const at::Tensor error = RotationErrorDegrees(fit.world_from_cam, truth, /*align_globally=*/true);
  poses.rotation_error_deg = error.mean().item<double>();
  nlohmann::json frames = nlohmann::json::array();
  for (int64_t i = 0; i < n; ++i) {
    poses.cameras[i].world_from_cam = fit.world_from_cam[i].contiguous().clone();
    nlohmann::json frame = poses.cameras[i].ToJson();
    frame["image"] = data.data.image_paths[i];
    frame["residual_px"] = ToVector(fit.residual_px[i]);
    frame["rotation_error_deg"] = error[i].item<double>();
    frames.push_back(frame);
  }
  poses.report = {{"kind", kind},
                  {"mean_residual_px", fit.mean_residual_px},
                  {"rotation_error_deg_mean", poses.rotation_error_deg},
                  {"rotation_error_deg_median", error.median().item<double>()},
                  {"rotation_error_deg_max", error.max().item<double>()},
                  {"landmarks", poses.landmarks.ToJson()},
                  {"frames", frames}};
  return poses;
}

}  // namespace nerfedit
