#include "data/procedural_scene.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "data/dataset.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A scene holding just one object (plus the ground), odd-sized cameras so a pixel centre lies on the principal ray.
ProceduralScene OneObject(const std::string& shape, std::array<float, 3> center, std::array<float, 3> size,
                          float rotation_z = 0) {
  ProceduralScene s;
  s.objects = {{"thing", shape, {0.8f, 0.2f, 0.2f}, center, size, rotation_z, 0.25f}};
  return s;
}

struct CentreSample {
  float depth;
  int label;
};

CentreSample RenderCentre(const ProceduralScene& scene, std::array<float, 3> eye, std::array<float, 3> target,
                          std::array<float, 3> up = {0, 0, 1}) {
  const Camera c = Camera::LookAt(eye, target, up, 21, 21, 0.5);
  const ProceduralRender r = RenderProcedural(scene, c, 1);
  return {r.depth[10][10].item<float>(), r.labels[10][10].item<int>()};
}

TEST(ProceduralScene, SphereDepthIsDistanceMinusRadius) {
  const auto scene = OneObject("sphere", {0.2f, -0.1f, 0.5f}, {0.4f, 0.4f, 0.4f});
  const auto hit = RenderCentre(scene, {3.2f, -0.1f, 0.5f}, {0.2f, -0.1f, 0.5f});
  EXPECT_NEAR(hit.depth, 3.0f - 0.4f, 1e-5);
  EXPECT_EQ(hit.label, 2);
  // Oblique view: distance from the eye to the centre minus the radius.
  const std::array<float, 3> eye = {2.0f, 1.5f, 1.7f};
  const double dist = std::sqrt(1.8 * 1.8 + 1.6 * 1.6 + 1.2 * 1.2);
  EXPECT_NEAR(RenderCentre(scene, eye, {0.2f, -0.1f, 0.5f}).depth, dist - 0.4, 1e-5);
}

TEST(ProceduralScene, RotatedBoxShowsItsEdge) {
  // Rotated 45 degrees about z, the box's vertical edge faces +x at distance half*sqrt(2) from the centre.
  const auto scene = OneObject("box", {0, 0, 0.3f}, {0.3f, 0.3f, 0.3f}, M_PI / 4);
  EXPECT_NEAR(RenderCentre(scene, {3, 0, 0.3f}, {0, 0, 0.3f}).depth, 3 - 0.3 * std::sqrt(2.0), 1e-5);
  // From above the top face is at z = 0.6.
  EXPECT_NEAR(RenderCentre(scene, {0, 0, 3}, {0, 0, 0}, {0, 1, 0}).depth, 3 - 0.6, 1e-5);
}

TEST(ProceduralScene, CylinderSideAndCap) {
  const auto scene = OneObject("cylinder", {0.1f, 0.2f, 0.4f}, {0.25f, 0.25f, 0.4f});
  EXPECT_NEAR(RenderCentre(scene, {-2.9f, 0.2f, 0.5f}, {0.1f, 0.2f, 0.5f}).depth, 3 - 0.25, 1e-5);
  EXPECT_NEAR(RenderCentre(scene, {0.1f, 0.2f, 3}, {0.1f, 0.2f, 0}, {0, 1, 0}).depth, 3 - 0.8, 1e-5);
  // An elliptic cross-section: semi-axis 0.5 along x.
  const auto ellipse = OneObject("cylinder", {0, 0, 0.4f}, {0.5f, 0.25f, 0.4f});
  EXPECT_NEAR(RenderCentre(ellipse, {3, 0, 0.4f}, {0, 0, 0.4f}).depth, 3 - 0.5, 1e-5);
  EXPECT_NEAR(RenderCentre(ellipse, {0, 3, 0.4f}, {0, 0, 0.4f}).depth, 3 - 0.25, 1e-5);
}

TEST(ProceduralScene, ConeRadiusShrinksLinearlyToTheApex) {
  // Base radius 0.3 at z = 0, apex at z = 1: at height 0.5 the radius is 0.15.
  const auto scene = OneObject("cone", {0, 0, 0.5f}, {0.3f, 0.3f, 0.5f});
  EXPECT_NEAR(RenderCentre(scene, {0, -3, 0.5f}, {0, 0, 0.5f}).depth, 3 - 0.15, 1e-5);
  EXPECT_NEAR(RenderCentre(scene, {3, 0, 0.25f}, {0, 0, 0.25f}).depth, 3 - 0.225, 1e-5);
  // A cone floating above the ground, seen from right under its base.
  const auto floating = OneObject("cone", {0, 0, 0.8f}, {0.3f, 0.3f, 0.5f});
  EXPECT_NEAR(RenderCentre(floating, {0, 0, 0.1f}, {0, 0, 1}, {0, 1, 0}).depth, 0.2, 1e-5);
}

TEST(ProceduralScene, TorusTubeAndHole) {
  // Major radius 0.4, tube radius 0.1, centre height 0.1.
  const auto scene = OneObject("torus", {0, 0, 0.1f}, {0.5f, 0.5f, 0.1f});
  // Side view through the centre: the outer tube at x = 0.5.
  auto side = RenderCentre(scene, {3, 0, 0.1f}, {0, 0, 0.1f});
  EXPECT_NEAR(side.depth, 3 - 0.5, 1e-5);
  EXPECT_EQ(side.label, 2);
  // From above the tube's top at (0.4, 0, 0.2).
  EXPECT_NEAR(RenderCentre(scene, {0.4f, 0, 3}, {0.4f, 0, 0}, {0, 1, 0}).depth, 3 - 0.2, 1e-5);
  // Straight down the hole: the ground.
  auto hole = RenderCentre(scene, {0, 0, 3}, {0, 0, 0}, {0, 1, 0});
  EXPECT_NEAR(hole.depth, 3, 1e-5);
  EXPECT_EQ(hole.label, 1);
}

TEST(ProceduralScene, GroundAndBackground) {
  ProceduralScene scene;  // no objects
  // Looking down at 45 degrees from height 1: the ground is sqrt(2) away.
  EXPECT_NEAR(RenderCentre(scene, {1, 0, 1}, {0, 0, 0}).depth, std::sqrt(2.0), 1e-5);
  // Looking at the sky: background colour, depth 0, label 0.
  scene.background = {0.2f, 0.4f, 0.6f};
  const Camera up = Camera::LookAt({0, 0, 1}, {3, 0, 2}, {0, 0, 1}, 9, 9, 0.3);
  auto r = RenderProcedural(scene, up, 2);
  EXPECT_TRUE(torch::equal(r.labels, torch::zeros({9, 9}, torch::kInt)));
  EXPECT_TRUE(torch::equal(r.depth, torch::zeros({9, 9})));
  EXPECT_TRUE(torch::allclose(r.rgb, torch::tensor({0.2f, 0.4f, 0.6f}).expand({9, 9, 3})));
}

TEST(ProceduralScene, ShadowsAndSpecularAreThere) {
  // The ground right under a sphere, with the light straight above, is in shadow: ambient only.
  ProceduralScene scene = OneObject("sphere", {0.5f, 0.5f, 0.6f}, {0.3f, 0.3f, 0.3f});
  scene.light_direction = {0, 0, 1};
  scene.ground_color_a = scene.ground_color_b = {1, 1, 1};
  const Camera c = Camera::LookAt({0.5f, -2, 0.3f}, {0.5f, 0.5f, 0}, {0, 0, 1}, 41, 41, 0.9);
  // Find, along the centre column, a ground pixel under the sphere by its depth.
  auto r = RenderProcedural(scene, c, 1);
  auto rays = GenerateRays(c);
  auto points = rays.origins + rays.directions * r.depth.reshape({-1, 1});
  auto ground = (r.labels.reshape(-1) == 1);
  auto under = ground & ((points.slice(1, 0, 2) - torch::tensor({0.5f, 0.5f})).norm(2, 1) < 0.2f);
  auto open = ground & ((points.slice(1, 0, 2) - torch::tensor({0.5f, 0.5f})).norm(2, 1) > 0.5f);
  ASSERT_GT(under.sum().item<int64_t>(), 0);
  ASSERT_GT(open.sum().item<int64_t>(), 0);
  auto grey = r.rgb.reshape({-1, 3}).mean(1);
  EXPECT_NEAR(grey.index({under}).max().item<float>(), scene.ambient, 1e-5);
  EXPECT_NEAR(grey.index({open}).min().item<float>(), 1.0f, 1e-5);
  // A shiny sphere's highlight brightens it beyond its Lambert colour somewhere; a matte one does not.
  ProceduralScene matte = scene;
  matte.objects[0].specular = 0;
  auto shiny_img = RenderProcedural(scene, c, 1).rgb, matte_img = RenderProcedural(matte, c, 1).rgb;
  EXPECT_GT((shiny_img - matte_img).max().item<float>(), 0.1f);
  EXPECT_GE((shiny_img - matte_img).min().item<float>(), 0.0f);
}

TEST(ProceduralScene, DefaultSceneLabelsAndRemoval) {
  const ProceduralScene scene = DefaultScene();
  ASSERT_EQ(scene.objects.size(), 5u);
  EXPECT_EQ(scene.FindObject("purple torus"), 4);
  EXPECT_EQ(scene.FindObject("unicorn"), -1);
  const Camera c = Camera::LookAt({0.62f, -3, 2.2f}, {0.62f, 0.52f, 0.34f}, {0, 0, 1}, 31, 31, 1.2);
  auto before = RenderProcedural(scene, c, 1);
  // The camera looks straight at the red sphere's centre.
  EXPECT_EQ(before.labels[15][15].item<int>(), 2 + scene.FindObject("red sphere"));
  for (size_t k = 0; k < scene.objects.size(); ++k) {
    // Every object is visible from this view.
    EXPECT_GT((before.labels == static_cast<int>(2 + k)).sum().item<int64_t>(), 0) << scene.objects[k].name;
  }
  ProceduralScene removed = scene;
  removed.objects.erase(removed.objects.begin());
  auto after = RenderProcedural(removed, c, 1);
  auto was_sphere = before.labels == 2;
  // Away from the sphere the same objects are seen, with ids shifted down by one.
  for (int64_t i = 0; i < 31 * 31; ++i) {
    const int b = before.labels.view(-1)[i].item<int>(), a = after.labels.view(-1)[i].item<int>();
    if (b > 2) {
      EXPECT_EQ(a, b - 1) << i;
    }
  }
  EXPECT_GT((after.rgb - before.rgb).abs().sum(2).index({was_sphere}).min().item<float>(), 0.05f);
  // What was behind the sphere shows through: more ground, and no pixel is labelled past the last object.
  EXPECT_GT((after.labels == 1).sum().item<int64_t>(), (before.labels == 1).sum().item<int64_t>());
  EXPECT_LE(after.labels.max().item<int>(), 1 + static_cast<int>(removed.objects.size()));
}

TEST(ProceduralScene, JsonRoundTripAndStrictness) {
  ProceduralScene scene = DefaultScene();
  scene.objects[1].rotation_z = 0.25f;
  const auto json = scene.ToJson();
  const ProceduralScene back = ProceduralScene::FromJson(json);
  EXPECT_EQ(back.ToJson(), json);
  EXPECT_EQ(back.objects[3].name, "yellow cone");

  auto expect_error = [](nlohmann::json j, const std::string& part) {
    try {
      ProceduralScene::FromJson(j);
      ADD_FAILURE() << "expected an error containing " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto j = json;
  j["lights"] = 2;
  expect_error(j, "unknown key(s) \"lights\"");
  j = json;
  j["objects"][0]["colour"] = {1, 0, 0};
  expect_error(j, "objects[0]: unknown key(s) \"colour\"");
  j = json;
  j["objects"][2]["shape"] = "pyramid";
  expect_error(j, "unknown shape \"pyramid\"");
  j = json;
  j["objects"][0]["center"] = {0, 0};
  expect_error(j, "\"center\" must be 3 numbers");
  j = json;
  j["objects"][0]["center"] = {1.4, 0, 0.34};
  expect_error(j, "outside the scene aabb");
  j = json;
  j["objects"][4]["size"] = {0.3, 0.4, 0.1};
  expect_error(j, "torus needs size.x == size.y");
  j = json;
  j["objects"][1]["name"] = "red sphere";
  expect_error(j, "duplicate name");
  j = json;
  j.erase("objects");
  expect_error(j, "missing required key \"objects\"");
}

TEST(ProceduralScene, HemisphereCamerasAreDeterministicAndInRange) {
  const auto options = ProceduralDatasetOptions().num_views(20).width(16).height(12);
  const auto a = HemisphereCameras(options), b = HemisphereCameras(options);
  const auto c = HemisphereCameras(ProceduralDatasetOptions(options).seed(1));
  ASSERT_EQ(a.size(), 20u);
  double max_change = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].world_from_cam, b[i].world_from_cam));
    max_change = std::max(max_change, (a[i].Center() - c[i].Center()).abs().max().item<double>());
    const auto offset = a[i].Center() - torch::tensor({0.0f, 0.0f, kLookAtHeight});
    EXPECT_NEAR(offset.norm().item<float>(), 4.0f, 1e-5);
    const double elevation = std::asin(offset[2].item<float>() / 4.0) * 180 / M_PI;
    EXPECT_GE(elevation, 15 - 1e-3);
    EXPECT_LE(elevation, 70 + 1e-3);
    // The camera looks at the target: its -z axis points from the centre to it.
    const auto forward = -a[i].world_from_cam.index({torch::indexing::Slice(0, 3), 2});
    EXPECT_TRUE(torch::allclose(forward, -offset / offset.norm(), 1e-5, 1e-5));
    EXPECT_EQ(a[i].width, 16);
    EXPECT_EQ(a[i].height, 12);
  }
  EXPECT_GT(max_change, 0.1);
  EXPECT_THROW(HemisphereCameras(ProceduralDatasetOptions().min_elevation_degrees(80)), Error);
}

TEST(ProceduralScene, WrittenDatasetLoadsBackExactly) {
  TempDir dir;
  const std::string out = dir / "scene";
  const auto options = ProceduralDatasetOptions().num_views(3).width(24).height(20);
  const ProceduralScene scene = DefaultScene();
  WriteProceduralDataset(scene, options, out);
  EXPECT_FALSE(fs::exists(out + ".tmp-" + std::to_string(::getpid())));
  const Dataset d = LoadTransformsDataset(out);
  ASSERT_EQ(d.size(), 3);
  ASSERT_TRUE(d.alphas.defined());  // RGBA: rays that miss everything are transparent
  ASSERT_TRUE(d.depths.defined() && d.labels.defined());
  EXPECT_TRUE(torch::equal(d.aabb, torch::tensor(scene.aabb).reshape({2, 3})));
  const auto cameras = HemisphereCameras(options);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(d.cameras[i].world_from_cam, cameras[i].world_from_cam));
    EXPECT_NEAR(d.cameras[i].fx, cameras[i].fx, 1e-9);
    const auto r = RenderProcedural(scene, d.cameras[i], options.supersample());
    // Composited back on the background, within the 8-bit rounding of the straight colour and of alpha.
    EXPECT_LE((d.images[i] - r.rgb).abs().max().item<float>(), 1.0f / 255 + 1e-6);
    EXPECT_LE((d.alphas[i] - r.alpha).abs().max().item<float>(), 0.5f / 255 + 1e-6);
    EXPECT_GT(r.alpha.mean().item<float>(), 0.2f);
    EXPECT_LT(r.alpha.min().item<float>(), 1.0f);  // some sky in every view
    EXPECT_TRUE(torch::equal(d.depths[i], r.depth));
    EXPECT_TRUE(torch::equal(d.labels[i], r.labels));
  }
  // Without alpha the images are the renders composited on the background, exactly.
  WriteProceduralDataset(scene, ProceduralDatasetOptions(options).alpha(false), dir / "rgb");
  const Dataset rgb = LoadTransformsDataset(dir / "rgb");
  EXPECT_FALSE(rgb.alphas.defined());
  EXPECT_LE((rgb.images[0] - RenderProcedural(scene, rgb.cameras[0], options.supersample()).rgb).abs().max().item<float>(),
            0.5f / 255 + 1e-6);
  // The scene travels with the data, and the object list names every label id.
  const auto transforms = nlohmann::json::parse(ReadTextFile(out + "/transforms.json"));
  EXPECT_EQ(ProceduralScene::FromJson(transforms.at("scene")).ToJson(), scene.ToJson());
  const auto objects = nlohmann::json::parse(ReadTextFile(out + "/objects.json"));
  ASSERT_EQ(objects.size(), 6u);
  EXPECT_EQ(objects[1]["id"], 2);
  EXPECT_EQ(objects[1]["name"], "red sphere");
  EXPECT_EQ(objects[0]["name"], "ground");
  // Refuses to overwrite; leaves the existing dataset alone.
  try {
    WriteProceduralDataset(scene, options, out);
    ADD_FAILURE() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to overwrite " + out), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(out + "/images/r_002.png"));
  // An existing empty directory is fine.
  fs::create_directories(dir / "empty");
  WriteProceduralDataset(scene, ProceduralDatasetOptions(options).num_views(1), dir / "empty/");
  EXPECT_TRUE(fs::exists(dir / "empty/transforms.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 3);  // no leftovers
}

// Timing only (run with --gtest_also_run_disabled_tests): the default 100-view 128x128 dataset. Set
// NERFEDIT_PROCEDURAL_OUT to keep it (for looking at the images).
TEST(ProceduralScene, DISABLED_WriteDefaultDatasetTiming) {
  TempDir dir;
  const char* keep = std::getenv("NERFEDIT_PROCEDURAL_OUT");
  const std::string out = keep ? std::string(keep) : dir / "scene";
  const double t0 = NowSeconds();
  WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions(), out);
  std::printf("procedural dataset 100 views 128x128: %.2f s\n", NowSeconds() - t0);
  const double t1 = NowSeconds();
  LoadTransformsDataset(out);
  std::printf("loading it back: %.2f s\n", NowSeconds() - t1);
}

}  // namespace
}  // namespace nerfedit
