#include "data/landmark_pose.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "data/category_scene.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {
namespace {

// Cameras of the heads rig (training-view distribution), their stacked intrinsics and poses, and each instance's
// exact 3D landmarks (the per-instance shapes vary around the mean head).
struct Views {
  at::Tensor intrinsics, poses, shapes;  // [N,4], [N,4,4], [N,5,3]
  std::vector<Camera> cameras;
};

Views HeadViews(int n, int seed = 0) {
  CategoryDatasetOptions options;
  options.instances(n).seed(seed).eval_views(0);
  Views v;
  std::vector<at::Tensor> shapes;
  for (int i = 0; i < n; ++i) {
    const CategorySample s = MakeCategorySample(options, i);
    v.cameras.push_back(s.train_camera);
    shapes.push_back(s.instance.landmarks);
  }
  StackCameras(v.cameras, &v.intrinsics, &v.poses);
  v.shapes = torch::stack(shapes);
  return v;
}

// [N,5,2] projections of points [5,3] (one shape for all) or [N,5,3] (one per camera).
at::Tensor Project(const Views& v, const at::Tensor& points) {
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < v.cameras.size(); ++i) {
    out.push_back(ProjectPoints(v.cameras[i], points.dim() == 2 ? points : points[i]));
  }
  return torch::stack(out);
}

at::Tensor AlignedPointError(const at::Tensor& a, const at::Tensor& b) {
  // Max distance after the best rotation + translation (Kabsch) of a onto b.
  const auto ac = a - a.mean(0), bc = b - b.mean(0);
  torch::Tensor u, s, vh;
  std::tie(u, s, vh) = torch::linalg_svd(torch::matmul(bc.t(), ac), false);
  auto d = torch::ones({3});
  d[2] = torch::det(torch::matmul(u, vh));
  const auto q = torch::matmul(u * d, vh);
  return (torch::matmul(ac, q.t()) - bc).norm(2, 1).max();
}

TEST(LandmarkPose, RotationErrorAlignsTheGauge) {
  const Views v = HeadViews(5);
  // Turn every camera by the same rotation about the world's z: aligned error 0, unaligned the angle.
  auto g = torch::eye(4);
  g[0][0] = g[1][1] = std::cos(0.3);
  g[0][1] = -std::sin(0.3);
  g[1][0] = std::sin(0.3);
  const auto turned = torch::matmul(g, v.poses);
  EXPECT_LT(RotationErrorDegrees(turned, v.poses, true).max().item<float>(), 1e-3);
  EXPECT_NEAR(RotationErrorDegrees(turned, v.poses, false).mean().item<float>(), 0.3 * 180 / M_PI, 1e-3);
}

TEST(LandmarkPose, RecoversCamerasFromExactLandmarks) {
  const Views v = HeadViews(40);
  const at::Tensor truth = MeanInstance("heads").landmarks;
  const at::Tensor observed = Project(v, truth);
  // Start from a wrong shape (3 cm noise on a head ~1 unit tall): the shape is refined with the cameras.
  const at::Tensor init = truth + 0.03 * torch::randn({5, 3});
  const double start = NowSeconds();
  const LandmarkPoseResult fit = FitLandmarkPoses(observed, v.intrinsics, init);
  const double seconds = NowSeconds() - start;
  const at::Tensor err = RotationErrorDegrees(fit.world_from_cam, v.poses, true);
  std::printf("exact landmarks, 40 cameras: rotation error mean %.2e max %.2e deg, residual %.2e px, %.2f s\n",
              err.mean().item<float>(), err.max().item<float>(), fit.mean_residual_px, seconds);
  EXPECT_LT(err.max().item<float>(), 1.0);
  EXPECT_LT(err.mean().item<float>(), 0.05);
  EXPECT_LT(fit.mean_residual_px, 0.01);
  // The canonical points are the true shape up to the gauge (their scale is the initial points', ~ the truth's).
  const double scale = (truth - truth.mean(0)).pow(2).sum(1).mean().sqrt().item<double>();
  const double fitted = (fit.canonical - fit.canonical.mean(0)).pow(2).sum(1).mean().sqrt().item<double>();
  EXPECT_LT(AlignedPointError(fit.canonical * (scale / fitted), truth).item<float>(), 0.01);
  // The cameras agree with the points: reprojecting gives back the landmarks.
  std::vector<Camera> estimated = v.cameras;
  for (size_t i = 0; i < estimated.size(); ++i) estimated[i].world_from_cam = fit.world_from_cam[i];
  Views e = v;
  e.cameras = estimated;
  EXPECT_LT((Project(e, fit.canonical) - observed).abs().max().item<float>(), 0.05);
}

TEST(LandmarkPose, FlatPriorAlsoConverges) {
  const Views v = HeadViews(40);
  const at::Tensor truth = MeanInstance("heads").landmarks;
  const LandmarkPoseResult fit =
      FitLandmarkPoses(Project(v, truth), v.intrinsics, at::Tensor(), LandmarkPoseOptions().iterations(600));
  const at::Tensor err = RotationErrorDegrees(fit.world_from_cam, v.poses, true);
  std::printf("flat prior, exact landmarks: rotation error mean %.2e max %.2e deg, residual %.2e px\n",
              err.mean().item<float>(), err.max().item<float>(), fit.mean_residual_px);
  EXPECT_LT(err.max().item<float>(), 1.0);
}

TEST(LandmarkPose, OnePixelNoiseOnHeadsDataset) {
  // The real setting: each head has its own shape (proportions vary), only the mean head is known, landmarks carry
  // 0 or 1 px Gaussian noise (64x64 images).
  const Views v = HeadViews(300);
  const at::Tensor exact = Project(v, v.shapes);
  const at::Tensor mean_shape = MeanInstance("heads").landmarks;
  for (double noise : {0.0, 1.0}) {
    torch::manual_seed(1);
    const at::Tensor observed = exact + noise * torch::randn(exact.sizes());
    const double start = NowSeconds();
    // The rig looks at the head and its photos are upright: both priors (lolnerf's defaults).
    const LandmarkPoseResult joint = FitLandmarkPoses(observed, v.intrinsics, mean_shape,
                                                      LandmarkPoseOptions().centring_weight(1.0).roll_weight(3.0));
    const double seconds = NowSeconds() - start;
    const LandmarkPoseResult centring =
        FitLandmarkPoses(observed, v.intrinsics, mean_shape, LandmarkPoseOptions().centring_weight(1.0));
    const LandmarkPoseResult free = FitLandmarkPoses(observed, v.intrinsics, mean_shape);
    const at::Tensor err = RotationErrorDegrees(joint.world_from_cam, v.poses, true);
    const at::Tensor err_centring = RotationErrorDegrees(centring.world_from_cam, v.poses, true);
    const at::Tensor err_free = RotationErrorDegrees(free.world_from_cam, v.poses, true);
    std::printf(
        "heads, 300 instances, %.0f px noise: rotation error mean %.2f median %.2f max %.2f deg (centring "
        "prior only: mean %.2f, no prior: %.2f), residual %.2f px, %.1f s\n",
        noise, err.mean().item<float>(), err.median().item<float>(), err.max().item<float>(),
        err_centring.mean().item<float>(), err_free.mean().item<float>(), joint.mean_residual_px, seconds);
    std::fflush(stdout);
    // Measured (2026-11-30): 3.2 / 4.1 deg with both priors, 3.4 / 5.5 with the centring prior alone, 8.4 / 13.6
    // without. The roll (worst determined by five landmarks ~7 px from their centroid) is what 1 px of noise spoils;
    // what remains is noise in yaw and pitch (~2.1 deg with every head's exact shape) and the heads' varying
    // proportions (~3 deg without noise): see DISABLED_ErrorBudget.
    EXPECT_LT(err.mean().item<float>(), noise == 0 ? 3.6 : 4.4);
    EXPECT_LT(err.mean().item<float>(), 0.7 * err_free.mean().item<float>());
    if (noise > 0) {
      EXPECT_LT(err.mean().item<float>(), 0.8 * err_centring.mean().item<float>());
    }
    // The estimated up is the category's +z (the frame the mean head is given in).
    EXPECT_GT(joint.up[2].item<float>(), std::cos(3 * M_PI / 180));
  }
}

TEST(LandmarkPose, RollPriorPlacesANewImageUpright) {
  // New photos against known points with 1 px of noise (and the centring prior): the roll prior (with the true up)
  // keeps the estimate upright; without it the roll carries most of the error.
  const Views v = HeadViews(40, 3);
  const at::Tensor canonical = MeanInstance("heads").landmarks;
  torch::manual_seed(2);
  const at::Tensor observed = Project(v, canonical) + torch::randn({40, 5, 2});
  const at::Tensor up = torch::tensor({0.f, 0.f, 1.f});
  // The rig's centre and distance (the centring prior, as a trained lolnerf run has them).
  const CategoryRig rig = RigFor("heads");
  const at::Tensor centre = torch::tensor({rig.target[0], rig.target[1], rig.target[2]});
  const at::Tensor in_camera = torch::tensor({0.f, 0.f, static_cast<float>(-rig.radius)});
  double with = 0, without = 0, roll = 0;
  for (int i = 0; i < 40; ++i) {
    const LandmarkPoseResult fit =
        FitCameraToCanonical(observed[i], v.intrinsics[i], canonical,
                             LandmarkPoseOptions().centring_weight(1).roll_weight(3), centre, in_camera, up);
    const LandmarkPoseResult plain = FitCameraToCanonical(observed[i], v.intrinsics[i], canonical,
                                                          LandmarkPoseOptions().centring_weight(1), centre, in_camera);
    with += RotationErrorDegrees(fit.world_from_cam, v.poses.slice(0, i, i + 1), false).item<float>() / 40;
    without += RotationErrorDegrees(plain.world_from_cam, v.poses.slice(0, i, i + 1), false).item<float>() / 40;
    // The camera's x axis against the world's horizontal plane.
    roll += std::abs(std::asin(fit.world_from_cam[0][2][0].item<float>())) * 180 / M_PI / 40;
    EXPECT_TRUE(torch::allclose(fit.up, up));
  }
  std::printf(
      "new images, 1 px noise: rotation error mean %.2f deg with the roll prior (mean |roll| %.2f), %.2f "
      "without\n",
      with, roll, without);
  EXPECT_LT(with, 0.7 * without);
  EXPECT_LT(roll, 0.5);
}

TEST(LandmarkPose, FitsOneNewImageToKnownPoints) {
  const Views v = HeadViews(8);
  const at::Tensor canonical = MeanInstance("heads").landmarks;
  const at::Tensor observed = Project(v, canonical);
  for (int i = 0; i < 8; ++i) {
    const LandmarkPoseResult fit = FitCameraToCanonical(observed[i], v.intrinsics[i], canonical);
    // The frame is the canonical points' own: no gauge to align.
    EXPECT_LT(RotationErrorDegrees(fit.world_from_cam, v.poses.slice(0, i, i + 1), false).item<float>(), 0.01) << i;
    EXPECT_LT((fit.world_from_cam[0].slice(0, 0, 3).select(1, 3) - v.poses[i].slice(0, 0, 3).select(1, 3))
                  .norm()
                  .item<float>(),
              1e-3)
        << i;
    EXPECT_TRUE(torch::allclose(fit.canonical, canonical));
  }
}

TEST(LandmarkPose, HuberKeepsOneBadImageFromSpoilingTheRest) {
  const Views v = HeadViews(40);
  const at::Tensor truth = MeanInstance("heads").landmarks;
  at::Tensor observed = Project(v, truth);
  observed[0][2] += torch::tensor({25.0f, -18.0f});  // a detector's gross error on one nose tip
  const LandmarkPoseResult fit = FitLandmarkPoses(observed, v.intrinsics, truth);
  const at::Tensor err = RotationErrorDegrees(fit.world_from_cam, v.poses, true).slice(0, 1);
  // The same fit with a quadratic loss (a pseudo-Huber scale far above every residual): the outlier pulls harder.
  const LandmarkPoseResult l2 =
      FitLandmarkPoses(observed, v.intrinsics, truth, LandmarkPoseOptions().huber_delta_px(1e3));
  const at::Tensor err_l2 = RotationErrorDegrees(l2.world_from_cam, v.poses, true).slice(0, 1);
  std::printf(
      "one outlier among 40 images: rotation error of the others mean %.3f max %.3f deg (quadratic loss: mean "
      "%.3f max %.3f)\n",
      err.mean().item<float>(), err.max().item<float>(), err_l2.mean().item<float>(), err_l2.max().item<float>());
  EXPECT_LT(err.max().item<float>(), 1.5);
  EXPECT_LT(err.mean().item<float>(), err_l2.mean().item<float>());
  EXPECT_GT(fit.residual_px[0][2].item<float>(), 10);  // the outlier stays an outlier
}

TEST(LandmarkPose, BadInputsNameTheProblem) {
  const Views v = HeadViews(3);
  const at::Tensor truth = MeanInstance("heads").landmarks;
  at::Tensor observed = Project(v, truth);
  auto expect_error = [](const std::function<void()>& f, const std::string& expected) {
    try {
      f();
      FAIL() << "no error for " << expected;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  expect_error([&] { FitLandmarkPoses(observed.slice(1, 0, 3), v.intrinsics, truth.slice(0, 0, 3)); }, "K >= 4");
  expect_error([&] { FitLandmarkPoses(observed, v.intrinsics, truth.slice(0, 0, 4)); }, "init_canonical must be [5,3]");
  expect_error([&] { FitLandmarkPoses(observed, v.intrinsics.slice(1, 0, 3), truth); }, "intrinsics must be");
  at::Tensor nan = observed.clone();
  nan[2][1][0] = NAN;
  expect_error([&] { FitLandmarkPoses(nan, v.intrinsics, truth); }, "image 2 has a non-finite landmark");
  expect_error([&] { FitCameraToCanonical(observed[0], v.intrinsics[0], truth.slice(0, 0, 4)); },
               "canonical points must be [5,3]");
  expect_error([&] { LandmarkPoseOptions::FromJson({{"iterations", 0}}); }, "iterations must be >= 1");
  expect_error([&] { LandmarkPoseOptions::FromJson({{"huber", 1}}); }, "unknown key");
  expect_error([&] { LandmarkPoseOptions::FromJson({{"roll_weight", -1}}); }, "roll_weight must be >= 0");
  expect_error([&] { FitCameraToCanonical(observed[0], v.intrinsics[0], truth, LandmarkPoseOptions().roll_weight(1)); },
               "needs the up direction");
  const LandmarkPoseOptions o = LandmarkPoseOptions::FromJson(LandmarkPoseOptions().roll_weight(2.5).ToJson());
  EXPECT_EQ(o.roll_weight(), 2.5);
}

}  // namespace
}  // namespace nerfedit

namespace nerfedit {
namespace {
// Experiment: rotation error against the spread of head shapes (lambda scales every parameter's deviation from the
// mean head) and the field of view (framing), at 0 and 1 px noise.
TEST(LandmarkPose, DISABLED_ShapeSpreadSweep) {
  const HeadParams mean;
  const int n = 300;
  for (double fov : {32.0}) {
    for (double lambda : {0.0, 1.0}) {
      CategoryDatasetOptions options;
      options.instances(n).eval_views(0);
      std::vector<Camera> cameras;
      std::vector<at::Tensor> shapes;
      for (int i = 0; i < n; ++i) {
        const CategorySample s = MakeCategorySample(options, i);
        HeadParams r = HeadParams::FromJson(s.instance.params);
        HeadParams p = mean;
        auto mix = [&](float a, float b) { return static_cast<float>(a + lambda * (b - a)); };
        for (int k = 0; k < 3; ++k) p.head_size[k] = mix(mean.head_size[k], r.head_size[k]);
        p.eye_spacing = mix(mean.eye_spacing, r.eye_spacing);
        p.eye_height = mix(mean.eye_height, r.eye_height);
        p.eye_radius = mix(mean.eye_radius, r.eye_radius);
        p.nose_height = mix(mean.nose_height, r.nose_height);
        p.nose_length = mix(mean.nose_length, r.nose_length);
        p.nose_droop = mix(mean.nose_droop, r.nose_droop);
        p.mouth_height = mix(mean.mouth_height, r.mouth_height);
        p.mouth_width = mix(mean.mouth_width, r.mouth_width);
        shapes.push_back(MakeHead(p).landmarks);
        Camera c = s.train_camera;
        c.fx = c.fy = 0.5 * c.width / std::tan(0.5 * fov * M_PI / 180);
        cameras.push_back(c);
      }
      Views v;
      v.cameras = cameras;
      StackCameras(cameras, &v.intrinsics, &v.poses);
      const at::Tensor exact = Project(v, torch::stack(shapes));
      for (double noise : {0.0, 1.0}) {
        for (double w : {0.0, 1.0, 10.0, 100.0}) {
          for (int iterations : {300, 1000}) {
            torch::manual_seed(1);
            const at::Tensor observed = exact + noise * torch::randn(exact.sizes());
            const double start = NowSeconds();
            const LandmarkPoseResult joint =
                FitLandmarkPoses(observed, v.intrinsics, MeanInstance("heads").landmarks,
                                 LandmarkPoseOptions().centring_weight(w).iterations(iterations));
            const at::Tensor err = RotationErrorDegrees(joint.world_from_cam, v.poses, true);
            std::printf(
                "fov %.0f lambda %.2f noise %.0f centring %.1f it %d: mean %.2f median %.2f max %.2f deg loss %.4f "
                "%.1fs\n",
                fov, lambda, noise, w, iterations, err.mean().item<float>(), err.median().item<float>(),
                err.max().item<float>(), joint.loss, NowSeconds() - start);
          }
        }
      }
    }
  }
}
}  // namespace
}  // namespace nerfedit

namespace nerfedit {
namespace {
// Experiment: where the rotation error of the heads comes from (300 heads, seed 7: not the tests' or the bench's).
// Per-image camera fits against the exact rig (the true centre, distance and up: the priors made exact) from each
// head's own shape (landmark noise alone) or from the mean head (shape variation), and the joint fit (what lolnerf
// runs: nothing known but the mean head) with the roll prior's weight swept.
// Measured 2026-11-30: exact rig + each head's own shape 0.00 / 2.10 deg at 0 / 1 px; exact rig + mean head 3.14 /
// 3.72; joint fit, roll weight 0 / 1 / 3 / 10: 3.31 / 3.20 / 3.19 / 3.21 at 0 px, 5.35 / 3.97 / 3.77 / 3.75 at 1 px.
// Landmark noise alone, with every prior exact, costs ~2.1 deg (yaw and pitch from a ~15 px lever arm); the heads'
// depths and eye heights (the lever arm of the centring cue) cost ~3 deg on their own.
TEST(LandmarkPose, DISABLED_ErrorBudget) {
  const int n = 300, seed = 7;
  const Views v = HeadViews(n, seed);
  const at::Tensor exact = Project(v, v.shapes);
  const at::Tensor mean_shape = MeanInstance("heads").landmarks;
  const CategoryRig rig = RigFor("heads");
  const at::Tensor target = torch::tensor({rig.target[0], rig.target[1], rig.target[2]});
  const at::Tensor in_camera = torch::tensor({0.f, 0.f, static_cast<float>(-rig.radius)});
  const at::Tensor up = torch::tensor({0.f, 0.f, 1.f});
  for (double noise : {0.0, 1.0}) {
    torch::manual_seed(seed + 1);
    const at::Tensor observed = exact + noise * torch::randn(exact.sizes());
    for (bool own_shape : {true, false}) {
      std::vector<at::Tensor> poses;
      for (int i = 0; i < n; ++i) {
        poses.push_back(FitCameraToCanonical(observed[i], v.intrinsics[i], own_shape ? v.shapes[i] : mean_shape,
                                             LandmarkPoseOptions().centring_weight(1).roll_weight(10), target,
                                             in_camera, up)
                            .world_from_cam[0]);
      }
      const at::Tensor err = RotationErrorDegrees(torch::stack(poses), v.poses, false);
      std::printf("%.0f px noise, exact rig, %s: mean %.2f median %.2f max %.2f deg\n", noise,
                  own_shape ? "each head's own shape" : "the mean head", err.mean().item<float>(),
                  err.median().item<float>(), err.max().item<float>());
    }
    for (double roll : {0.0, 1.0, 3.0, 10.0}) {
      const LandmarkPoseResult fit = FitLandmarkPoses(observed, v.intrinsics, mean_shape,
                                                      LandmarkPoseOptions().centring_weight(1).roll_weight(roll));
      const at::Tensor err = RotationErrorDegrees(fit.world_from_cam, v.poses, true);
      std::printf("%.0f px noise, joint fit, roll weight %.0f: mean %.2f median %.2f max %.2f deg\n", noise, roll,
                  err.mean().item<float>(), err.median().item<float>(), err.max().item<float>());
    }
    std::fflush(stdout);
  }
}
}  // namespace
}  // namespace nerfedit
