// Tests for render/camera.cc (built as nerfedit_camera in this folder).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "render/camera.h"

namespace nerfedit {
namespace {

Camera RotatedCamera() {
  Camera c;
  c.width = 40;
  c.height = 30;
  c.fx = 50;
  c.fy = 45;
  c.cx = 21;
  c.cy = 14;
  // A rotation of 0.7 rad about the axis (1,2,3)/|.| plus a translation.
  auto axis = torch::tensor({1.0f, 2.0f, 3.0f});
  axis = axis / axis.norm();
  auto k = torch::zeros({3, 3});
  k[0][1] = -axis[2];
  k[0][2] = axis[1];
  k[1][0] = axis[2];
  k[1][2] = -axis[0];
  k[2][0] = -axis[1];
  k[2][1] = axis[0];
  const float angle = 0.7f;
  auto rotation = torch::eye(3) + std::sin(angle) * k + (1 - std::cos(angle)) * k.mm(k);
  c.world_from_cam = torch::eye(4);
  c.world_from_cam.index_put_({torch::indexing::Slice(0, 3), torch::indexing::Slice(0, 3)}, rotation);
  c.world_from_cam.index_put_({torch::indexing::Slice(0, 3), 3}, torch::tensor({0.5f, -1.0f, 2.0f}));
  return c;
}

TEST(Camera, RayThroughPrincipalPointFollowsMinusZ) {
  const Camera c = RotatedCamera();
  at::Tensor k, pose;
  StackCameras({c}, &k, &pose);
  auto rays = GenerateRays(k, pose, torch::zeros({1}, torch::kLong), torch::tensor({{21.0f, 14.0f}}));
  auto minus_z = -c.world_from_cam.index({torch::indexing::Slice(0, 3), 2});
  EXPECT_TRUE(torch::allclose(rays.directions[0], minus_z, 1e-5, 1e-6)) << rays.directions << minus_z;
  EXPECT_TRUE(torch::allclose(rays.origins[0], torch::tensor({0.5f, -1.0f, 2.0f})));
  EXPECT_TRUE(torch::allclose(c.Center(), torch::tensor({0.5f, -1.0f, 2.0f})));
}

TEST(Camera, PixelOffsetsFollowImageAxes) {
  // One focal length to the right of the principal point is 45 degrees towards camera +x; a row further down is
  // towards camera -y (image rows go down).
  Camera c = RotatedCamera();
  c.world_from_cam = torch::eye(4);
  at::Tensor k, pose;
  StackCameras({c}, &k, &pose);
  auto rays = GenerateRays(k, pose, torch::zeros({2}, torch::kLong), torch::tensor({{71.0f, 14.0f}, {21.0f, 59.0f}}));
  const float s = 1 / std::sqrt(2.0f);
  EXPECT_TRUE(torch::allclose(rays.directions[0], torch::tensor({s, 0.0f, -s}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(rays.directions[1], torch::tensor({0.0f, -s, -s}), 1e-5, 1e-6));
}

TEST(Camera, GenerateRaysCoversPixelCentresRowMajor) {
  Camera c = RotatedCamera();
  auto rays = GenerateRays(c);
  ASSERT_EQ(rays.size(), 40 * 30);
  EXPECT_TRUE(torch::allclose(rays.directions.norm(2, 1), torch::ones({1200}), 1e-5, 1e-6));
  // Ray y*W + x passes through pixel (x+0.5, y+0.5): compare with the vectorised version.
  at::Tensor k, pose;
  StackCameras({c}, &k, &pose);
  auto one = GenerateRays(k, pose, torch::zeros({1}, torch::kLong), torch::tensor({{7.5f, 3.5f}}));
  EXPECT_TRUE(torch::allclose(rays.directions[3 * 40 + 7], one.directions[0], 1e-5, 1e-6));
}

TEST(Camera, LookAtGeometry) {
  const Camera c = Camera::LookAt({4, 0, 0}, {0, 0, 0}, {0, 0, 1}, 64, 48, M_PI / 2);
  const auto m = c.world_from_cam;
  // Looking down -x from +x with z up: camera +x (right) is world +y, camera +y (up) is world +z, and camera +z
  // (backwards) is world +x.
  EXPECT_TRUE(torch::allclose(m.index({torch::indexing::Slice(0, 3), 0}), torch::tensor({0.0f, 1.0f, 0.0f}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(m.index({torch::indexing::Slice(0, 3), 1}), torch::tensor({0.0f, 0.0f, 1.0f}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(m.index({torch::indexing::Slice(0, 3), 2}), torch::tensor({1.0f, 0.0f, 0.0f}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(c.Center(), torch::tensor({4.0f, 0.0f, 0.0f})));
  EXPECT_NEAR(c.fx, 32.0, 1e-9);  // 90 degree fov: f = W/2
  EXPECT_DOUBLE_EQ(c.fy, c.fx);
  EXPECT_DOUBLE_EQ(c.cx, 32.0);
  EXPECT_DOUBLE_EQ(c.cy, 24.0);
  // An oblique look-at: the principal ray points at the target.
  const Camera d = Camera::LookAt({1, 2, 3}, {-0.5f, 0.25f, 0.5f}, {0, 0, 1}, 33, 33, 0.8);
  at::Tensor k, pose;
  StackCameras({d}, &k, &pose);
  auto rays = GenerateRays(k, pose, torch::zeros({1}, torch::kLong), torch::tensor({{16.5f, 16.5f}}));
  auto expected = torch::tensor({-1.5f, -1.75f, -2.5f});
  EXPECT_TRUE(torch::allclose(rays.directions[0], expected / expected.norm(), 1e-5, 1e-6));
  auto rotation = d.world_from_cam.index({torch::indexing::Slice(0, 3), torch::indexing::Slice(0, 3)});
  EXPECT_TRUE(torch::allclose(rotation.t().mm(rotation), torch::eye(3), 1e-5, 1e-5));
  EXPECT_THROW(Camera::LookAt({0, 0, 4}, {0, 0, 0}, {0, 0, 1}, 8, 8, 1.0), std::exception);
}

TEST(Camera, IntersectAabbKnownBoxes) {
  auto aabb = torch::tensor({{-1.0f, -1.0f, -1.0f}, {1.0f, 1.0f, 1.0f}});
  RayBatch rays;
  rays.origins = torch::tensor({{-5.0f, 0.0f, 0.0f},    // straight through along +x
                                {-5.0f, 0.5f, 0.2f},    // parallel to y and z slabs, inside them
                                {-5.0f, 2.0f, 0.0f},    // parallel, outside the y slab: miss
                                {0.0f, 0.0f, 0.0f},     // starts inside
                                {-5.0f, -5.0f, 0.0f},   // diagonal through the corner region
                                {5.0f, 0.0f, 0.0f}});   // box behind the ray: miss
  const float s = 1 / std::sqrt(2.0f);
  rays.directions = torch::tensor({{1.0f, 0.0f, 0.0f},
                                   {1.0f, 0.0f, 0.0f},
                                   {1.0f, 0.0f, 0.0f},
                                   {0.0f, 0.0f, 1.0f},
                                   {s, s, 0.0f},
                                   {1.0f, 0.0f, 0.0f}});
  at::Tensor near, far;
  IntersectAabb(rays, aabb, 0.05, &near, &far);
  const float d = 4 * std::sqrt(2.0f), e = 6 * std::sqrt(2.0f);
  auto expected_near = torch::tensor({4.0f, 4.0f, 1e10f, 0.05f, d, 1e10f});
  auto expected_far = torch::tensor({6.0f, 6.0f, 1e10f, 1.0f, e, 1e10f});
  EXPECT_TRUE(torch::allclose(near, expected_near, 1e-5, 1e-4)) << near;
  EXPECT_TRUE(torch::allclose(far, expected_far, 1e-5, 1e-4)) << far;
}

TEST(Camera, DownscaledIntrinsics) {
  Camera c = RotatedCamera();
  c.width = 801;
  c.height = 600;
  const Camera d = c.Downscaled(2);
  EXPECT_EQ(d.width, 400);
  EXPECT_EQ(d.height, 300);
  EXPECT_DOUBLE_EQ(d.fx, 25);
  EXPECT_DOUBLE_EQ(d.fy, 22.5);
  EXPECT_DOUBLE_EQ(d.cx, 10.5);
  EXPECT_DOUBLE_EQ(d.cy, 7);
  EXPECT_TRUE(torch::equal(d.world_from_cam, c.world_from_cam));
  EXPECT_THROW(c.Downscaled(0), std::exception);
}

TEST(Camera, JsonRoundTrip) {
  const Camera c = RotatedCamera();
  const Camera r = Camera::FromJson(c.ToJson());
  EXPECT_EQ(r.width, c.width);
  EXPECT_EQ(r.height, c.height);
  EXPECT_DOUBLE_EQ(r.fx, c.fx);
  EXPECT_DOUBLE_EQ(r.cy, c.cy);
  EXPECT_TRUE(torch::allclose(r.world_from_cam, c.world_from_cam));
}

}  // namespace
}  // namespace nerfedit
