// Cameras from 2D landmarks (LOLNeRF, Rebain et al. 2022, §3.3): a dataset where each object is seen once and only
// a few semantic landmarks are known per image. The canonical 3D positions of the K landmarks (shared by every
// image) and each image's camera (rotation, translation; the intrinsics come from the data) are estimated jointly so
// that the projections match the 2D landmarks, under a robust reprojection loss:
//   min_{X, R_i, t_i}  mean_{i,k} rho(|| pi(K_i, R_i X_k + t_i) - u_ik ||),  rho(r) = d^2 (sqrt(1 + (r/d)^2) - 1)
// (pseudo-Huber with scale d pixels: quadratic below d, linear above, smooth for L-BFGS). Solved with torch autograd
// and L-BFGS (strong Wolfe line search) in double precision, from a weak-perspective (affine) initialisation of each
// camera against the initial canonical points.
// Gauge: the canonical points are kept centred with a fixed RMS radius (their parametrisation normalises them), so
// scale and translation are fixed; the global rotation is free during the fit, and the result is finally expressed in
// the initial points' frame (the rotation and translation that best align the fitted points to them), so cameras
// come out in the frame the template was given in (the category's object box).
// Optional centring prior (aligned crops, e.g. FFHQ-style face crops, or a rig that looks at the object): with
// centring_weight > 0 one more canonical point c (the object's centre) and one camera-frame position m are estimated
// so that every camera sees c at m (R_i c + t_i = m: the object centred in the frame at a common distance),
// penalised by the same pseudo-Huber in pixels at the object's distance, times the weight. Five landmarks fix a free
// 6-DoF camera poorly at low resolution (1 px of noise on a 64-px face moves a free camera by ~10 degrees); the prior
// leaves 3 rotational degrees of freedom per image. It runs as a second stage from the first stage's cameras, c and m
// starting from their closed-form least-squares fit.
// Optional roll prior (upright photos: a camera on a tripod or a hand-held photo, or crops aligned by the eye line):
// with roll_weight > 0 one world up direction u is estimated and every camera's x axis is pulled into the plane
// perpendicular to it, penalised by the same pseudo-Huber on the pixels the roll moves the image's landmarks by (the
// roll's sine times their RMS distance from their centroid), times the weight. The roll about the view axis is the
// worst-determined of the three angles (the five landmarks sit within ~7 px of their centroid on a 64-px face: 1 px
// of noise turns it by ~4 degrees). LOLNeRF fits no such prior (a deviation); its face sets (FFHQ, CelebA-HQ) are
// crops rotated upright by the eye line, so they satisfy it.
// Both priors run in a second stage from the first stage's cameras; u starts as the direction the first stage's
// camera x axes are most nearly perpendicular to.
// Camera convention as transforms.json: world_from_cam with OpenGL axes (the camera looks down -z, +y up); pixel
// coordinates have pixel centres at +0.5 and y down (as ProjectPoints and GenerateRays).
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <nlohmann/json.hpp>

namespace nerfedit {

struct LandmarkPoseOptions {
  TORCH_ARG(int, iterations) = 300;         // L-BFGS iterations (each a few loss evaluations)
  TORCH_ARG(double, huber_delta_px) = 1.0;  // pseudo-Huber scale, pixels
  // RMS distance of the canonical points from their centroid; 0: that of the initial points (a flat prior needs it).
  TORCH_ARG(double, canonical_scale) = 0;
  TORCH_ARG(bool, refine_canonical) = true;  // false: the initial points are kept and only cameras are fitted
  TORCH_ARG(double, centring_weight) = 0;    // the centring prior's weight against the landmark loss; 0: off
  TORCH_ARG(double, roll_weight) = 0;        // the roll (upright) prior's weight against the landmark loss; 0: off

 public:  // TORCH_ARG leaves the section private
  void Check() const;
  nlohmann::json ToJson() const;
  static LandmarkPoseOptions FromJson(const nlohmann::json& json);  // strict; calls Check()
};

struct LandmarkPoseResult {
  at::Tensor canonical;       // [K,3] f32 canonical landmark positions (in the initial points' frame)
  at::Tensor world_from_cam;  // [N,4,4] f32 estimated cameras
  at::Tensor residual_px;     // [N,K] f32 reprojection distance of each landmark
  double mean_residual_px = 0;
  double loss = 0;              // final robust landmark loss (mean over images of their mean over landmarks)
  at::Tensor centre;            // [3] f32 the centring prior's canonical point; undefined when the prior is off
  at::Tensor centre_in_camera;  // [3] f32 where every camera sees it (camera frame, OpenGL axes)
  at::Tensor up;                // [3] f32 unit world up of the roll prior (canonical frame); undefined when it is off
};

// landmarks [N,K,2] (K >= 4) pixel coordinates; intrinsics [N,4] or [4] (fx, fy, cx, cy) in pixels.
// init_canonical [K,3]: a mean shape to start from (e.g. MeanInstance(kind).landmarks); undefined: a flat prior (the
// mean 2D layout of the landmarks, normalised, in the plane z = 0, scaled to canonical_scale, default 1; the cameras
// start frontal). Throws naming the argument for wrong shapes or non-finite values.
LandmarkPoseResult FitLandmarkPoses(const at::Tensor& landmarks, const at::Tensor& intrinsics,
                                    const at::Tensor& init_canonical,
                                    const LandmarkPoseOptions& options = LandmarkPoseOptions());

// One new image's camera against known canonical points (fitting a new photo to a trained category): landmarks
// [K,2], intrinsics [4], canonical [K,3] (kept as given). With options.centring_weight > 0, centre and
// centre_in_camera (a training fit's result) must be given and the prior uses them; with options.roll_weight > 0,
// up [3] (a training fit's result) must be given. Returns N = 1.
LandmarkPoseResult FitCameraToCanonical(const at::Tensor& landmarks, const at::Tensor& intrinsics,
                                        const at::Tensor& canonical,
                                        const LandmarkPoseOptions& options = LandmarkPoseOptions(),
                                        const at::Tensor& centre = at::Tensor(),
                                        const at::Tensor& centre_in_camera = at::Tensor(),
                                        const at::Tensor& up = at::Tensor());

// Angle in degrees [N] between estimated and true camera rotations (world_from_cam [N,4,4] each). With
// align_globally, the estimates are first turned by the one rotation G minimising sum_i ||G R_est_i - R_true_i||
// (Procrustes), since a canonical frame is defined only up to a rotation.
at::Tensor RotationErrorDegrees(const at::Tensor& estimated, const at::Tensor& truth, bool align_globally);

}  // namespace nerfedit
