#include "eval/view_consistency.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "data/procedural_scene.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

// The default scene without highlights: a Lambertian scene looks the same from every view, so exact warping must
// reproduce it (Blinn-Phong highlights move with the eye and would be a real, view-dependent difference).
ProceduralScene MatteScene() {
  ProceduralScene s = DefaultScene();
  for (auto& o : s.objects) o.specular = 0;
  return s;
}

Camera OrbitCamera(double azimuth_degrees, int64_t size, double elevation_degrees = 30, double radius = 4) {
  const double a = azimuth_degrees * M_PI / 180, e = elevation_degrees * M_PI / 180;
  const std::array<float, 3> eye = {static_cast<float>(radius * std::cos(e) * std::cos(a)),
                                    static_cast<float>(radius * std::cos(e) * std::sin(a)),
                                    static_cast<float>(kLookAtHeight + radius * std::sin(e))};
  return Camera::LookAt(eye, {0, 0, kLookAtHeight}, {0, 0, 1}, size, size, 40 * M_PI / 180);
}

TEST(ViewConsistency, ExactDepthWarpsAViewOntoAnotherWithNearZeroError) {
  const ProceduralScene scene = MatteScene();
  const Camera ci = OrbitCamera(20, 96), cj = OrbitCamera(32, 96);
  const ProceduralRender ri = RenderProcedural(scene, ci, 2), rj = RenderProcedural(scene, cj, 2);
  const PairError e = WarpingError(ri.rgb, ri.depth, ci, rj.rgb, rj.depth, cj);
  // Most of the surface seen in i is seen in j 12 degrees away.
  EXPECT_GT(e.visible, 0.5 * ri.depth.gt(0).sum().item<int64_t>());
  // What is left is bilinear resampling of anti-aliased checker and object edges.
  EXPECT_LT(e.rmse, 0.035) << "visible " << e.visible;
  // A frame rendered from elsewhere (a 2-pixel shift of the view) or a perturbed frame is clearly worse.
  const Camera shifted = OrbitCamera(22, 96);
  const ProceduralRender rs = RenderProcedural(scene, shifted, 2);
  const PairError wrong_view = WarpingError(ri.rgb, ri.depth, ci, rs.rgb, rj.depth, cj);
  EXPECT_GT(wrong_view.rmse, 3 * e.rmse) << e.rmse << " vs " << wrong_view.rmse;
  const at::Tensor noisy = (rj.rgb + 0.1 * torch::randn_like(rj.rgb)).clamp(0, 1);
  EXPECT_GT(WarpingError(ri.rgb, ri.depth, ci, noisy, rj.depth, cj).rmse, 2.5 * e.rmse);
  // Identity: a view warped onto itself is exact.
  EXPECT_LT(WarpingError(ri.rgb, ri.depth, ci, ri.rgb, ri.depth, ci).rmse, 1e-5);
}

TEST(ViewConsistency, OcclusionMaskExcludesWhatViewJCannotSee) {
  // A tall box seen from +x (view i) and from +y (view j); a sphere on the +y side hides part of the box's face
  // from j only. The sphere is bright red, the box blue: warping without the mask would copy red onto blue.
  ProceduralScene scene;
  scene.objects = {{"box", "box", {0.1f, 0.2f, 0.9f}, {0, 0, 0.5f}, {0.4f, 0.4f, 0.5f}, 0.4f, 0},
                   {"ball", "sphere", {0.95f, 0.1f, 0.05f}, {0.2f, 0.95f, 0.35f}, {0.3f, 0.3f, 0.3f}, 0, 0}};
  scene.Check();
  const Camera ci = Camera::LookAt({3.2f, 1.6f, 1.2f}, {0, 0, 0.4f}, {0, 0, 1}, 80, 80, 0.8);
  const Camera cj = Camera::LookAt({0.5f, 3.6f, 0.8f}, {0, 0, 0.4f}, {0, 0, 1}, 80, 80, 0.8);
  const ProceduralRender ri = RenderProcedural(scene, ci, 2), rj = RenderProcedural(scene, cj, 2);
  const WarpResult warp = WarpFrame(rj.rgb, rj.depth, cj, ri.depth, ci);
  // Ground truth per pixel of i: the label j shows where the pixel's point projects (nearest pixel).
  const WarpResult label_warp = WarpFrame(rj.labels.unsqueeze(2).to(torch::kFloat), rj.depth, cj, ri.depth, ci,
                                          ViewConsistencyOptions().depth_tolerance(1e9));  // no occlusion test
  const at::Tensor in_j = label_warp.mask;
  const at::Tensor label_seen = label_warp.warped.squeeze(2).round().to(torch::kInt);
  const at::Tensor box_in_i = ri.labels.eq(2), ball_in_j = label_seen.eq(3);
  const at::Tensor hidden = box_in_i & in_j & ball_in_j;  // box surface in i that j sees as the ball
  ASSERT_GT(hidden.sum().item<int64_t>(), 30) << "the test scene must have box pixels of i hidden from j";
  // Bilinear taps straddle the ball's outline on a few pixels; in the interior none may pass.
  const at::Tensor hidden_interior = hidden & label_seen.eq(3);
  EXPECT_EQ((warp.mask & hidden_interior).sum().item<int64_t>(), 0);
  // Box pixels j sees unoccluded are kept.
  const at::Tensor visible_box = box_in_i & in_j & label_seen.eq(2);
  EXPECT_GT((warp.mask & visible_box).sum().item<int64_t>(), 0.7 * visible_box.sum().item<int64_t>());
  // With the mask, the error over what both see is small; with the depth test off, the red ball is copied onto the
  // blue box and the error jumps.
  const PairError masked = WarpingError(ri.rgb, ri.depth, ci, rj.rgb, rj.depth, cj);
  const PairError unmasked =
      WarpingError(ri.rgb, ri.depth, ci, rj.rgb, rj.depth, cj, ViewConsistencyOptions().depth_tolerance(1e9));
  // (What remains sits on anti-aliased outlines: a pixel whose centre ray hits the box still blends some red ball.)
  EXPECT_LT(masked.rmse, 0.08) << "unmasked " << unmasked.rmse;
  EXPECT_GT(unmasked.rmse, 3 * masked.rmse) << masked.rmse << " vs " << unmasked.rmse;
  // Background pixels of i (depth 0) and points outside j never count.
  EXPECT_EQ((warp.mask & ri.depth.eq(0)).sum().item<int64_t>(), 0);
}

TEST(ViewConsistency, SequenceShortAndLongRange) {
  const ProceduralScene scene = MatteScene();
  std::vector<at::Tensor> frames, depths, noisy;
  std::vector<Camera> cameras;
  for (int k = 0; k < 8; ++k) {  // 15 degrees apart: 105 degrees in all
    cameras.push_back(OrbitCamera(15.0 * k, 48));
    const ProceduralRender r = RenderProcedural(scene, cameras.back(), 2);
    frames.push_back(r.rgb);
    depths.push_back(r.depth);
    noisy.push_back((r.rgb + 0.08 * torch::randn_like(r.rgb)).clamp(0, 1));  // per-frame flicker
  }
  const ConsistencyResult exact = MeasureConsistency(frames, depths, cameras);
  EXPECT_EQ(exact.short_pairs, 7);
  // Pairs whose viewing directions are >= 45 degrees apart: at 30 degrees elevation, 4 steps of 15 degrees of azimuth
  // (51 degrees) but not 3 (39 degrees): (i, j) with j - i >= 4.
  EXPECT_EQ(exact.long_pairs, 10);
  EXPECT_LT(exact.short_range, 0.05);
  EXPECT_LT(exact.long_range, 0.07);
  const ConsistencyResult flicker = MeasureConsistency(noisy, depths, cameras);
  EXPECT_GT(flicker.short_range, 1.5 * exact.short_range);
  EXPECT_GT(flicker.long_range, 1.5 * exact.long_range);
  const double c30 = std::cos(30 * M_PI / 180), s30 = std::sin(30 * M_PI / 180);
  EXPECT_NEAR(ViewAngleDegrees(cameras[0], cameras[3]),
              std::acos(c30 * c30 * std::cos(45 * M_PI / 180) + s30 * s30) * 180 / M_PI, 1e-2);
  const ConsistencyResult capped = MeasureConsistency(frames, depths, cameras,
                                                      ViewConsistencyOptions().max_long_pairs(4));
  EXPECT_EQ(capped.long_pairs, 4);
  EXPECT_NE(ErrorOf([&] { MeasureConsistency(frames, {depths[0]}, cameras); }).find("8 frames, 1 depth maps"),
            std::string::npos);
}

}  // namespace
}  // namespace nerfedit
