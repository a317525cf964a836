#include "data/landmark_pose.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace {

using torch::indexing::Slice;

// [N,3] -> [N,3,3] cross-product matrices.
torch::Tensor Skew(const torch::Tensor& w) {
  const auto zero = torch::zeros_like(w.select(1, 0));
  const auto x = w.select(1, 0), y = w.select(1, 1), z = w.select(1, 2);
  return torch::stack({torch::stack({zero, -z, y}, 1), torch::stack({z, zero, -x}, 1), torch::stack({-y, x, zero}, 1)},
                      1);
}

// Rodrigues: exp([w]x) = I + A [w]x + B [w]x^2, A = sin t / t, B = (1 - cos t) / t^2, with Taylor forms near t = 0
// (both branches stay finite, so the gradient through torch::where is too).
torch::Tensor ExpSo3(const torch::Tensor& w) {
  const auto theta2 = (w * w).sum(1, true).unsqueeze(-1);  // [N,1,1]
  const auto small = theta2 < 1e-8;
  const auto safe2 = torch::where(small, torch::ones_like(theta2), theta2);
  const auto theta = safe2.sqrt();
  const auto a = torch::where(small, 1 - theta2 / 6, torch::sin(theta) / theta);
  const auto b = torch::where(small, 0.5 - theta2 / 24, (1 - torch::cos(theta)) / safe2);
  const auto k = Skew(w);
  const auto eye = torch::eye(3, w.options()).expand({w.size(0), 3, 3});
  return eye + a * k + b * torch::matmul(k, k);
}

// Pixel coordinates [N,K,2] of points x_cam [N,K,3] (OpenGL axes: depth = -z).
torch::Tensor ProjectCam(const torch::Tensor& x_cam, const torch::Tensor& intrinsics) {
  const auto depth = (-x_cam.select(2, 2)).clamp_min(1e-9);
  const auto fx = intrinsics.select(1, 0).unsqueeze(1), fy = intrinsics.select(1, 1).unsqueeze(1);
  const auto cx = intrinsics.select(1, 2).unsqueeze(1), cy = intrinsics.select(1, 3).unsqueeze(1);
  return torch::stack({cx + fx * x_cam.select(2, 0) / depth, cy - fy * x_cam.select(2, 1) / depth}, 2);
}

// Pixel -> normalised camera coordinates with y up: x_cam / depth.
torch::Tensor Normalised(const torch::Tensor& pixels, const torch::Tensor& intrinsics) {
  const auto fx = intrinsics.select(1, 0).unsqueeze(1), fy = intrinsics.select(1, 1).unsqueeze(1);
  const auto cx = intrinsics.select(1, 2).unsqueeze(1), cy = intrinsics.select(1, 3).unsqueeze(1);
  return torch::stack({(pixels.select(2, 0) - cx) / fx, -(pixels.select(2, 1) - cy) / fy}, 2);
}

torch::Tensor Centred(const torch::Tensor& points) { return points - points.mean(0, true); }

double Rms(const torch::Tensor& centred) { return centred.pow(2).sum(1).mean().sqrt().item<double>(); }

// Weak-perspective initialisation of every camera against centred points X [K,3]: the least-squares affine map
// X -> normalised image coordinates gives the first two rotation rows over the depth; they are made orthonormal
// (SVD), the third is their cross product, and the translation puts the centroid at its observed image position.
void AffineInit(const torch::Tensor& x, const torch::Tensor& normalised, torch::Tensor* rotation,
                torch::Tensor* translation) {
  const auto mean = normalised.mean(1, true);                              // [N,1,2]
  const auto a = torch::matmul(torch::linalg_pinv(x), normalised - mean);  // [N,3,2]
  const auto m = a.transpose(1, 2);                                        // [N,2,3]: rows r1/d, r2/d
  torch::Tensor u, s, vh;
  std::tie(u, s, vh) = torch::linalg_svd(m, /*full_matrices=*/false);
  const auto rows = torch::matmul(u, vh);  // [N,2,3] orthonormal rows
  const auto r1 = rows.select(1, 0), r2 = rows.select(1, 1);
  *rotation = torch::stack({r1, r2, torch::cross(r1, r2, 1)}, 1);
  const auto depth = 1 / s.mean(1).clamp_min(1e-12);  // [N]
  const auto c = mean.squeeze(1);
  *translation = torch::stack({c.select(1, 0) * depth, c.select(1, 1) * depth, -depth}, 1);
}

// Rotation Q [3,3] minimising sum_k ||Q a_k - b_k||^2 for centred point sets a, b [K,3].
torch::Tensor Procrustes(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor u, s, vh;
  std::tie(u, s, vh) = torch::linalg_svd(torch::matmul(b.t(), a), false);
  auto d = torch::ones({3}, a.options());
  d[2] = torch::det(torch::matmul(u, vh));
  return torch::matmul(u * d, vh);
}

torch::Tensor CheckedIntrinsics(const at::Tensor& intrinsics, int64_t n) {
  NE_CHECK(intrinsics.defined() && ((intrinsics.dim() == 1 && intrinsics.size(0) == 4) ||
                                    (intrinsics.dim() == 2 && intrinsics.size(0) == n && intrinsics.size(1) == 4)),
           "landmark poses: intrinsics must be [4] or [", n, ",4] (fx, fy, cx, cy), got ",
           intrinsics.defined() ? c10::str(intrinsics.sizes()) : "undefined");
  auto k = intrinsics.to(torch::kCPU, torch::kDouble).reshape({-1, 4}).expand({n, 4}).contiguous();
  NE_CHECK(torch::isfinite(k).all().item<bool>() && (k.slice(1, 0, 2) > 0).all().item<bool>(),
           "landmark poses: intrinsics must be finite with positive focal lengths, got ", k.slice(0, 0, 1));
  return k;
}

void CheckLandmarks(const at::Tensor& landmarks) {
  NE_CHECK(landmarks.defined() && landmarks.dim() == 3 && landmarks.size(0) >= 1 && landmarks.size(1) >= 4 &&
               landmarks.size(2) == 2,
           "landmark poses: landmarks must be [N,K,2] with N >= 1 and K >= 4, got ",
           landmarks.defined() ? c10::str(landmarks.sizes()) : "undefined");
  const auto finite = torch::isfinite(landmarks).all(2).all(1);
  if (!finite.all().item<bool>()) {
    const int64_t i = torch::nonzero(~finite)[0][0].item<int64_t>();
    NE_FAIL("landmark poses: image ", i, " has a non-finite landmark: ", landmarks[i].to(torch::kFloat));
  }
}

struct Fit {
  torch::Tensor canonical, rotation, translation;  // [K,3], [N,3,3] cam_from_world, [N,3]
  torch::Tensor residual;                          // [N,K]
  torch::Tensor centre, centre_in_camera;          // [3], [3]; undefined without the centring prior
  torch::Tensor up;                                // [3] unit; undefined without the roll prior
  double loss = 0;
};

void RunLbfgs(const std::vector<torch::Tensor>& params, int iterations, const std::function<torch::Tensor()>& loss) {
  torch::optim::LBFGS lbfgs(params, torch::optim::LBFGSOptions(1)
                                        .max_iter(iterations)
                                        .max_eval(iterations * 5 / 4 + 1)
                                        .history_size(30)
                                        .tolerance_grad(1e-12)
                                        .tolerance_change(1e-16)
                                        .line_search_fn("strong_wolfe"));
  lbfgs.step([&]() {
    lbfgs.zero_grad();
    auto value = loss();
    value.backward();
    return value;
  });
}

// The joint (refine) or camera-only fit, all in double. `init` is in the output frame. `prior_centre` /
// `prior_in_camera` ([3] each, output frame / camera frame) fix the centring prior's point instead of estimating it.
Fit Solve(const torch::Tensor& observed, const torch::Tensor& intrinsics, const torch::Tensor& init,
          const LandmarkPoseOptions& options, bool refine, const torch::Tensor& prior_centre = {},
          const torch::Tensor& prior_in_camera = {}, const torch::Tensor& prior_up = {}) {
  const int64_t n = observed.size(0);
  const auto centroid = init.mean(0);
  const auto x0 = init - centroid;
  const double scale = options.canonical_scale() > 0 ? options.canonical_scale() : Rms(x0);
  NE_CHECK(scale > 1e-9, "landmark poses: the initial canonical points all coincide");
  const auto x_start = refine ? x0 * (scale / Rms(x0)) : x0;
  torch::Tensor r0, t0;
  AffineInit(x_start, Normalised(observed, intrinsics), &r0, &t0);
  const auto depth0 = (-t0.select(1, 2)).abs().clamp_min(1e-6).unsqueeze(1);  // translation steps in depth units
  auto omega = torch::zeros({n, 3}, observed.options()).requires_grad_(true);
  auto dt = torch::zeros({n, 3}, observed.options()).requires_grad_(true);
  auto p = x_start.clone().requires_grad_(refine);
  std::vector<torch::Tensor> params = {omega, dt};
  if (refine) params.push_back(p);
  auto canonical = [&]() {
    if (!refine) return x_start;
    const auto c = Centred(p);
    return c * (scale / c.pow(2).sum(1).mean().sqrt());
  };
  std::function<torch::Tensor()> rotation = [&]() { return torch::matmul(ExpSo3(omega), r0); };
  std::function<torch::Tensor()> translation = [&]() { return t0 + dt * depth0; };
  const double delta2 = options.huber_delta_px() * options.huber_delta_px();
  auto rho = [&](const torch::Tensor& r2) { return delta2 * ((1 + r2 / delta2).sqrt() - 1); };
  auto landmark_loss = [&](torch::Tensor* residual) {
    const auto x_cam = torch::matmul(canonical().unsqueeze(0), rotation().transpose(1, 2)) + translation().unsqueeze(1);
    const auto r2 = (ProjectCam(x_cam, intrinsics) - observed).pow(2).sum(2);  // [N,K]
    if (residual) *residual = r2.detach().sqrt();
    // Sum over images of each image's mean: every camera's gradient is O(1) whatever N.
    return rho(r2).mean(1).sum();
  };
  RunLbfgs(params, options.iterations(), [&]() { return landmark_loss(nullptr); });

  // Centring prior (aligned crops): one canonical point c seen at one camera-frame position m by every camera,
  // R_i c + t_i = m. The translations are re-parametrised as t_i = m - R_i c + e_i and the offsets e_i penalised
  // (pixels at the object's distance), which keeps the problem well conditioned however strong the prior. c and m
  // start from the closed-form least-squares fit to the first stage's cameras (linear in c, m).
  const bool centring = options.centring_weight() > 0;
  const bool roll = options.roll_weight() > 0;
  torch::Tensor c, m, e, up;
  std::vector<torch::Tensor> stage2 = {omega};
  if (refine) stage2.push_back(p);
  if (centring) {
    {
      torch::NoGradGuard no_grad;
      const auto r = rotation(), t = translation();
      if (prior_centre.defined()) {
        c = (prior_centre - centroid).clone();  // fixed points are used only without refinement: no gauge turn
        m = prior_in_camera.clone();
      } else {
        const auto a = torch::cat({r, -torch::eye(3, r.options()).expand({n, 3, 3})}, 2).reshape({3 * n, 6});
        const auto solution = std::get<0>(torch::linalg_lstsq(a, -t.reshape({3 * n, 1}))).squeeze(1);
        c = solution.slice(0, 0, 3).clone();
        m = solution.slice(0, 3, 6).clone();
      }
      e = (t - (m - torch::matmul(r, c))).clone();
    }
    const bool estimate = !prior_centre.defined();
    c.requires_grad_(estimate);
    m.requires_grad_(estimate);
    e.requires_grad_(true);
    stage2.push_back(e);
    if (estimate) {
      stage2.push_back(c);
      stage2.push_back(m);
    }
    translation = [&]() { return m - torch::matmul(rotation(), c) + e; };
  } else {
    stage2.push_back(dt);
  }
  // Roll prior (upright photos): every camera's x axis is horizontal, perpendicular to one world up vector u
  // (estimated, so the prior does not depend on the template's frame). The roll's sine is x_i . u; it is penalised
  // as the pixels it moves the image's landmarks by (times their RMS distance from their centroid). u starts as the
  // direction the first stage's x axes are most nearly perpendicular to (smallest eigenvector of sum x_i x_i^T).
  torch::Tensor spread_px;
  if (roll) {
    torch::NoGradGuard no_grad;
    spread_px = (observed - observed.mean(1, true)).pow(2).sum(2).mean(1).sqrt();  // [N]
    if (prior_up.defined()) {
      up = prior_up.clone();
    } else {
      const auto x_axes = rotation().select(1, 0);  // [N,3] camera x axes in the world
      const auto eig = torch::linalg_eigh(torch::matmul(x_axes.t(), x_axes));
      up = std::get<1>(eig).select(1, 0).clone(at::MemoryFormat::Contiguous);
      // Sign: the cameras' mean y axis (image up) points along u.
      if ((rotation().select(1, 1).sum(0) * up).sum().item<double>() < 0) up = -up;
    }
    up.requires_grad_(!prior_up.defined());
    if (!prior_up.defined()) stage2.push_back(up);
  }
  auto unit_up = [&]() { return up / up.norm(); };
  const auto focal = intrinsics.select(1, 0);
  auto prior_loss = [&]() {
    auto total = torch::zeros({}, observed.options());
    if (centring) {
      const auto px2 = e.pow(2).sum(1) * (focal / m.select(0, 2).abs().clamp_min(1e-9)).pow(2);
      total = total + options.centring_weight() * rho(px2).sum();
    }
    if (roll) {
      const auto sine = torch::matmul(rotation().select(1, 0), unit_up());  // [N]
      total = total + options.roll_weight() * rho((sine * spread_px).pow(2)).sum();
    }
    return total;
  };
  if (centring || roll) {
    RunLbfgs(stage2, options.iterations(), [&]() { return landmark_loss(nullptr) + prior_loss(); });
  }

  Fit fit;
  torch::NoGradGuard no_grad;
  fit.loss = landmark_loss(&fit.residual).item<double>() / n;
  auto x = canonical();
  // Express the result in the initial points' frame: x_out = Q x + centroid, so R_out = R Q^T and
  // t_out = t - R_out centroid.
  const auto q = refine ? Procrustes(x, x_start) : torch::eye(3, x.options());
  fit.canonical = torch::matmul(x, q.t()) + centroid;
  fit.rotation = torch::matmul(rotation(), q.t());
  fit.translation = translation() - torch::matmul(fit.rotation, centroid);
  if (centring) {
    fit.centre = torch::matmul(q, c) + centroid;
    fit.centre_in_camera = m.detach().clone();
  }
  if (roll) fit.up = torch::matmul(q, unit_up());
  return fit;
}

LandmarkPoseResult ToResult(const Fit& fit) {
  LandmarkPoseResult out;
  const int64_t n = fit.rotation.size(0);
  auto pose = torch::eye(4, torch::kDouble).repeat({n, 1, 1});
  const auto r_wc = fit.rotation.transpose(1, 2);
  pose.index_put_({Slice(), Slice(0, 3), Slice(0, 3)}, r_wc);
  pose.index_put_({Slice(), Slice(0, 3), 3}, -torch::matmul(r_wc, fit.translation.unsqueeze(2)).squeeze(2));
  out.world_from_cam = pose.to(torch::kFloat);
  out.canonical = fit.canonical.to(torch::kFloat);
  out.residual_px = fit.residual.to(torch::kFloat);
  out.mean_residual_px = fit.residual.mean().item<double>();
  out.loss = fit.loss;
  if (fit.centre.defined()) {
    out.centre = fit.centre.to(torch::kFloat);
    out.centre_in_camera = fit.centre_in_camera.to(torch::kFloat);
  }
  if (fit.up.defined()) out.up = fit.up.to(torch::kFloat);
  return out;
}

}  // namespace

void LandmarkPoseOptions::Check() const {
  NE_CHECK(iterations() >= 1, "landmark poses: iterations must be >= 1, got ", iterations());
  NE_CHECK(std::isfinite(huber_delta_px()) && huber_delta_px() > 0,
           "landmark poses: huber_delta_px must be positive, got ", huber_delta_px());
  NE_CHECK(std::isfinite(canonical_scale()) && canonical_scale() >= 0,
           "landmark poses: canonical_scale must be >= 0 (0: the initial points' own), got ", canonical_scale());
  NE_CHECK(std::isfinite(centring_weight()) && centring_weight() >= 0,
           "landmark poses: centring_weight must be >= 0 (0: off), got ", centring_weight());
  NE_CHECK(std::isfinite(roll_weight()) && roll_weight() >= 0,
           "landmark poses: roll_weight must be >= 0 (0: off), got ", roll_weight());
}

nlohmann::json LandmarkPoseOptions::ToJson() const {
  return {{"iterations", iterations()},           {"huber_delta_px", huber_delta_px()},
          {"canonical_scale", canonical_scale()}, {"refine_canonical", refine_canonical()},
          {"centring_weight", centring_weight()}, {"roll_weight", roll_weight()}};
}

LandmarkPoseOptions LandmarkPoseOptions::FromJson(const nlohmann::json& json) {
  JsonReader r(json, "landmark pose options");
  LandmarkPoseOptions o;
  int iterations = o.iterations();
  double delta = o.huber_delta_px(), scale = o.canonical_scale(), centring = o.centring_weight();
  double roll = o.roll_weight();
  bool refine = o.refine_canonical();
  r.Optional("iterations", &iterations).Optional("huber_delta_px", &delta).Optional("canonical_scale", &scale);
  r.Optional("refine_canonical", &refine).Optional("centring_weight", &centring).Optional("roll_weight", &roll);
  r.Finish();
  o.iterations(iterations).huber_delta_px(delta).canonical_scale(scale).refine_canonical(refine);
  o.centring_weight(centring).roll_weight(roll);
  o.Check();
  return o;
}

LandmarkPoseResult FitLandmarkPoses(const at::Tensor& landmarks, const at::Tensor& intrinsics,
                                    const at::Tensor& init_canonical, const LandmarkPoseOptions& options) {
  options.Check();
  CheckLandmarks(landmarks);
  const int64_t n = landmarks.size(0), k = landmarks.size(1);
  const auto observed = landmarks.to(torch::kCPU, torch::kDouble).contiguous();
  const auto intr = CheckedIntrinsics(intrinsics, n);
  torch::Tensor init;
  if (init_canonical.defined()) {
    NE_CHECK(init_canonical.dim() == 2 && init_canonical.size(0) == k && init_canonical.size(1) == 3,
             "landmark poses: init_canonical must be [", k, ",3] (one 3D point per landmark), got ",
             init_canonical.sizes());
    init = init_canonical.to(torch::kCPU, torch::kDouble);
    NE_CHECK(torch::isfinite(init).all().item<bool>(), "landmark poses: init_canonical has non-finite values");
  } else {
    // Flat prior: the mean of the images' centred, unit-RMS layouts (normalised coordinates, y up) at z = 0.
    const auto layouts = Normalised(observed, intr);
    const auto centred = layouts - layouts.mean(1, true);
    const auto rms = centred.pow(2).sum(2).mean(1, true).sqrt().clamp_min(1e-12).unsqueeze(2);
    const auto mean_layout = (centred / rms).mean(0);  // [K,2]
    const double scale = options.canonical_scale() > 0 ? options.canonical_scale() : 1.0;
    init = torch::cat({mean_layout, torch::zeros({k, 1}, mean_layout.options())}, 1) *
           (scale / mean_layout.pow(2).sum(1).mean().sqrt().clamp_min(1e-12));
  }
  return ToResult(Solve(observed, intr, init, options, options.refine_canonical()));
}

LandmarkPoseResult FitCameraToCanonical(const at::Tensor& landmarks, const at::Tensor& intrinsics,
                                        const at::Tensor& canonical, const LandmarkPoseOptions& options,
                                        const at::Tensor& centre, const at::Tensor& centre_in_camera,
                                        const at::Tensor& up) {
  options.Check();
  torch::Tensor prior_centre, prior_in_camera, prior_up;
  if (options.centring_weight() > 0) {
    const bool ok =
        centre.defined() && centre.numel() == 3 && centre_in_camera.defined() && centre_in_camera.numel() == 3;
    NE_CHECK(ok, "landmark poses: the centring prior (centring_weight ", options.centring_weight(),
             ") needs the centre [3] and centre_in_camera [3] of a training fit");
    prior_centre = centre.to(torch::kCPU, torch::kDouble).reshape({3});
    prior_in_camera = centre_in_camera.to(torch::kCPU, torch::kDouble).reshape({3});
    NE_CHECK(torch::isfinite(prior_centre).all().item<bool>() && torch::isfinite(prior_in_camera).all().item<bool>(),
             "landmark poses: centre and centre_in_camera must be finite");
  }
  if (options.roll_weight() > 0) {
    NE_CHECK(up.defined() && up.numel() == 3, "landmark poses: the roll prior (roll_weight ", options.roll_weight(),
             ") needs the up direction [3] of a training fit");
    prior_up = up.to(torch::kCPU, torch::kDouble).reshape({3});
    NE_CHECK(torch::isfinite(prior_up).all().item<bool>() && prior_up.norm().item<double>() > 1e-9,
             "landmark poses: up must be finite and non-zero, got ", up);
    prior_up = prior_up / prior_up.norm();
  }
  NE_CHECK(landmarks.defined() && landmarks.dim() == 2, "landmark poses: one image's landmarks must be [K,2], got ",
           landmarks.defined() ? c10::str(landmarks.sizes()) : "undefined");
  NE_CHECK(
      canonical.defined() && canonical.dim() == 2 && canonical.size(0) == landmarks.size(0) && canonical.size(1) == 3,
      "landmark poses: canonical points must be [", landmarks.size(0), ",3], got ",
      canonical.defined() ? c10::str(canonical.sizes()) : "undefined");
  const auto observed = landmarks.unsqueeze(0);
  CheckLandmarks(observed);
  const auto init = canonical.to(torch::kCPU, torch::kDouble);
  NE_CHECK(torch::isfinite(init).all().item<bool>(), "landmark poses: canonical points have non-finite values");
  return ToResult(Solve(observed.to(torch::kCPU, torch::kDouble).contiguous(), CheckedIntrinsics(intrinsics, 1), init,
                        options, /*refine=*/false, prior_centre, prior_in_camera, prior_up));
}

at::Tensor RotationErrorDegrees(const at::Tensor& estimated, const at::Tensor& truth, bool align_globally) {
  NE_CHECK(
      estimated.dim() == 3 && estimated.size(1) >= 3 && estimated.size(2) >= 3 && truth.sizes() == estimated.sizes(),
      "RotationErrorDegrees: poses must both be [N,4,4] (or [N,3,3]), got ", estimated.sizes(), " and ", truth.sizes());
  auto est = estimated.to(torch::kCPU, torch::kDouble).index({Slice(), Slice(0, 3), Slice(0, 3)});
  const auto tru = truth.to(torch::kCPU, torch::kDouble).index({Slice(), Slice(0, 3), Slice(0, 3)});
  if (align_globally) {
    // G = argmin sum ||G R_est_i - R_true_i||: maximise tr(G^T M), M = sum R_true_i R_est_i^T.
    torch::Tensor u, s, vh;
    std::tie(u, s, vh) = torch::linalg_svd(torch::matmul(tru, est.transpose(1, 2)).sum(0), false);
    auto d = torch::ones({3}, torch::kDouble);
    d[2] = torch::det(torch::matmul(u, vh));
    est = torch::matmul(torch::matmul(u * d, vh), est);
  }
  // ||R_a - R_b||_F = 2 sqrt(2) sin(theta / 2): accurate for small angles, where acos((trace - 1) / 2) loses
  // half the digits (a float pose's rounding alone reads as 0.02 degrees through acos).
  const auto chord = (est - tru).pow(2).sum({1, 2}).sqrt() / (2 * std::sqrt(2.0));
  return (2 * torch::asin(chord.clamp(0, 1)) * (180 / M_PI)).to(torch::kFloat);
}

}  // namespace nerfedit
