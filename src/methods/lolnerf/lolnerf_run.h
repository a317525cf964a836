// LOLNeRF runs after training: loading one to render (the instance with the mean code, `render_latent`'s code, or a
// fitted photo's), and fitting a new photo — its camera from its 2D landmarks through the run's canonical landmarks,
// then its latent optimised with the field frozen, starting from the mean code (Rebain et al. 2022, §3.6) — into a
// run folder of its own that `nerfedit render` renders from any camera.
#pragma once
#include <torch/arg.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "methods/lolnerf/lolnerf_config.h"
#include "methods/lolnerf/lolnerf_model.h"
#include "methods/lolnerf/lolnerf_poses.h"

namespace nerfedit {

struct LolnerfRunInfo {
  std::string run_dir;
  LolnerfConfig config;
  at::Tensor aabb;               // [2,3] f32
  std::vector<Camera> cameras;   // training cameras (a fit run: the photo's camera)
  int64_t num_latents = 0;
  LolnerfLandmarkModel landmarks;  // undefined when the training data had no landmarks
  nlohmann::json instance;         // a fit run's {"code", "psnr", ...}; null for a trained run
  nlohmann::json run_json;         // the whole run.json
};

LolnerfRunInfo ReadLolnerfRun(const std::string& run_dir);
// The model with the checkpoint's weights and codes.
std::shared_ptr<LolnerfModel> LoadLolnerfModel(const LolnerfRunInfo& info, const std::string& device);
// The run as a Renderable: a fit run's code, else the config's render_latent (-1: the mean code).
std::shared_ptr<LolnerfInstance> LoadLolnerfRun(const std::string& run_dir, const std::string& device);

// The training cameras' intrinsics for an image of width x height (the first camera's field of view), at the origin.
Camera IntrinsicsFor(const LolnerfRunInfo& info, int64_t width, int64_t height);

struct LolnerfFitOptions {
  TORCH_ARG(int64_t, steps) = 200;      // Adam steps on the latent
  TORCH_ARG(int64_t, rays) = 1024;      // random pixels per step (all when the image has fewer)
  TORCH_ARG(double, lr) = 2e-2;
  TORCH_ARG(double, mask_weight) = -1;  // with a mask: -1 = the run's mask_weight
  TORCH_ARG(int64_t, seed) = 0;

 public:
  void Check() const;
};

struct LolnerfFit {
  Camera camera;
  at::Tensor code;                  // [C] f32
  double psnr = 0;                  // the fitted render against the photo
  double landmark_residual_px = 0;  // of the camera fit
};

// image [H,W,3] f32 in [0,1]; landmarks [K,2] pixel coordinates; mask [H,W] f32 or undefined; camera: the photo's
// intrinsics (IntrinsicsFor) — its pose comes from the landmarks, unless `camera_known` (tests, ablations).
LolnerfFit FitLolnerfImage(LolnerfModel& model, const LolnerfLandmarkModel& landmarks, const Camera& camera,
                           const at::Tensor& image, const at::Tensor& landmarks_px, const at::Tensor& mask,
                           const LolnerfFitOptions& options, bool camera_known = false);

// A run folder for the fitted photo: the trained run's config and checkpoint, the photo's camera as its one training
// camera and "instance" (the code and how it was fitted) in run.json. `source`: what was fitted (file names).
void WriteLolnerfFitRun(const LolnerfRunInfo& trained, const LolnerfFit& fit, const nlohmann::json& source,
                        const std::string& out_dir);

}  // namespace nerfedit
