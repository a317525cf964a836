// CLIP-NeRF's inversion of one photo (Wang et al. 2022, Sec. 3.5 "Inverse manipulation"): the camera v, the shape
// code z_s and the appearance code z_a of a trained generator F that reproduce the photo I, found by alternating
// (EM-like) gradient descent, each phase with its own loss:
//   camera:      L_v = ||F(v, z_s, z_a) - I||^2 + lambda_v D_CLIP(F(v, z_s, z_a), I)
//   shape:       L_s = ||F(v, z_s + lambda_n z_n, z_a) - I||^2 + lambda_s D_CLIP(F(v, z_s + lambda_n z_n, z_a), I)
//   appearance:  L_a = ||F(v, z_s, z_a + lambda_n z_n) - I||^2 + lambda_a D_CLIP(F(v, z_s, z_a + lambda_n z_n), I)
// with D_CLIP = 1 - cos of CLIP image embeddings, z_n ~ N(0, I) drawn afresh every step and lambda_n decaying
// linearly from 1 to 0 over the code steps; lambda_v = 0.1, lambda_s = lambda_a = 0.2 (the paper's). ||.||^2 is the
// mean over pixels and channels. Start: the mean of the generator's codes and the camera of lowest L_v among the best
// `search_candidates` cameras of a coarse grid over the pose prior, each refined by camera steps first
// (methods/clipnerf/clipnerf_pose.h; no landmarks). The camera is (azimuth, elevation) on the prior's sphere, as the
// GAN samples it, its elevation kept within the prior's range +-5 degrees.
// lambda_s, lambda_a weight the CLIP term of the code losses, as lambda_v does the camera's: our reading of Sec. 3.5,
// which could not be re-checked against the paper's text here (the alternative reading, code-norm weights, would
// need the paper's image-loss scale to mean anything).
// Deviation: z_n is scaled per dimension by the spread (std) of the generator's codes — for the paper's GAN that is
// its N(0, I) prior (std 1); for a GLO generator it keeps the noise at the scale the codes actually live at.
//
// Codes file (`nerfedit clipnerf invert --out DIR` writes DIR/codes.json; `clipnerf edit --codes FILE` reads it):
//   {"format": "nerfedit-clipnerf-codes", "version": 1,
//    "shape_code": [S floats], "appearance_code": [A floats],      // z_s, z_a (the generator's code = [z_s | z_a])
//    "camera": {Camera::ToJson()}, "azimuth_deg": .., "elevation_deg": ..,   // the fitted camera v (optional keys)
//    "run": "RUN", "image": "photo.png", "psnr": ..}                           // provenance (optional keys)
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "methods/clipnerf/clipnerf_model.h"
#include "methods/clipnerf/clipnerf_pose.h"
#include "models2d/clip.h"

namespace nerfedit {

struct InversionOptions {
  TORCH_ARG(int64_t, rounds) = 3;  // alternations of (camera, shape, appearance)
  TORCH_ARG(int64_t, camera_steps) = 15;
  TORCH_ARG(int64_t, shape_steps) = 25;
  TORCH_ARG(int64_t, appearance_steps) = 25;
  TORCH_ARG(double, camera_lr) = 0.03;  // radians (Adam)
  TORCH_ARG(double, code_lr) = 0.03;    // in units of the codes' spread (Adam)
  TORCH_ARG(double, lambda_v) = 0.1;
  TORCH_ARG(double, lambda_s) = 0.2;
  TORCH_ARG(double, lambda_a) = 0.2;
  // The fit's renders: at most this many pixels across (the photo area-downscaled by an integer factor, the renders
  // at the centres of its blocks); the result is rendered at full size. 32 px is what the small CLIP sees anyway.
  TORCH_ARG(int64_t, max_fit_size) = 32;
  TORCH_ARG(int64_t, search_azimuths) = 16;  // the initial camera search over the prior
  TORCH_ARG(int64_t, search_elevations) = 5;
  TORCH_ARG(int64_t, search_candidates) = 3;  // best grid cameras refined before the codes move
  TORCH_ARG(uint64_t, seed) = 0;

 public:
  void Check() const;  // throws naming the field
};

struct InversionResult {
  at::Tensor code;  // [S + A] f32 = [z_s | z_a]
  double azimuth = 0, elevation = 0;
  Camera camera;
  at::Tensor render;                                 // [H,W,3] f32 the fit, from `camera`
  double psnr = 0;                                   // of render against the photo
  double start_psnr = 0;                             // the mean code from the searched camera, before any gradient step
  nlohmann::json history = nlohmann::json::array();  // per phase: {"phase", "round", "mse", "clip"}
};

// photo [H,W,3] f32 in [0,1] with H x W the prior's image size; clip may be null only when every lambda is 0 (the
// CLIP terms are then dropped). The model's weights are not changed.
InversionResult InvertPhoto(ClipnerfModel& model, const PosePrior& prior, const at::Tensor& photo, ClipModel* clip,
                            const InversionOptions& options = {});

// The codes file (format above): the code [S + A] alone (callers add provenance keys), or an inversion's result.
nlohmann::json ClipnerfCodesJson(const at::Tensor& code, int64_t shape_code_dim);
nlohmann::json CodesJson(const ClipnerfModel& model, const InversionResult& result);
// Reads a codes file and checks it against the model's code sizes: -> [S + A] f32. Throws naming the file and the
// problem (not JSON, another format or version, wrong sizes, non-finite values).
at::Tensor ReadClipnerfCodes(const std::string& path, int64_t shape_code_dim, int64_t appearance_code_dim);

// Inversion of unseen instances of the run's category: `instances` new instances (seeded apart from any training
// set) rendered from a random prior camera with `eval_views` held-apart views each; each photo inverted, the fit
// compared with the photo (invert_psnr) and the held-apart views rendered with the inverted codes against the exact
// renders (invert_novel_psnr); foreground-only PSNRs too.
struct UnseenInversionReport {
  int64_t instances = 0, novel_views = 0;
  double invert_psnr = 0, invert_novel_psnr = 0;
  double invert_fg_psnr = 0, invert_novel_fg_psnr = 0;
  double start_psnr = 0;            // the mean code from the searched camera (what inversion improves on)
  double mean_code_novel_psnr = 0;  // the held-apart views rendered with the mean code: the baseline
  double seconds_per_image = 0;
  nlohmann::json per_instance = nlohmann::json::array();
  nlohmann::json ToJson() const;
};
UnseenInversionReport InvertUnseenInstances(ClipnerfModel& model, const PosePrior& prior, const std::string& kind,
                                            int64_t instances, int64_t eval_views, ClipModel* clip,
                                            const InversionOptions& options, const std::string& work_dir,
                                            const std::string& image_dir = "");

}  // namespace nerfedit
