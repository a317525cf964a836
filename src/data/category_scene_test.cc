#include "data/category_scene.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "data/dataset.h"
#include "data/image_io.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

int PartId(const ProceduralScene& scene, const std::string& name) {
  const int k = scene.FindObject(name);
  EXPECT_GE(k, 0) << name;
  return 2 + k;
}

// The labels in the (2r+1)^2 pixels around a landmark's projection.
std::set<int> LabelsAround(const ProceduralRender& render, const at::Tensor& xy, int r) {
  std::set<int> out;
  const int64_t h = render.labels.size(0), w = render.labels.size(1);
  const int64_t px = static_cast<int64_t>(std::floor(xy[0].item<float>()));
  const int64_t py = static_cast<int64_t>(std::floor(xy[1].item<float>()));
  for (int64_t y = std::max<int64_t>(0, py - r); y <= std::min(h - 1, py + r); ++y) {
    for (int64_t x = std::max<int64_t>(0, px - r); x <= std::min(w - 1, px + r); ++x) {
      out.insert(render.labels[y][x].item<int>());
    }
  }
  return out;
}

TEST(Category, RotationXAndNoGroundInTheTracer) {
  // A cone tipped forward by rotation_x = -pi/2 points along +y: its apex is at y = size.z.
  ProceduralScene s;
  s.ground_half_extent = 0;
  ProceduralObject cone;
  cone.name = "nose";
  cone.shape = "cone";
  cone.color = {0.8f, 0.5f, 0.4f};
  cone.center = {0, 0, 0.5f};
  cone.size = {0.2f, 0.2f, 0.5f};
  cone.rotation_x = -M_PI / 2;
  s.objects = {cone};
  s.aabb = {-1, -1, -1, 1, 1, 1};
  s.Check();
  const Camera front = Camera::LookAt({0, 3, 0.5f}, {0, 0, 0.5f}, {0, 0, 1}, 21, 21, 0.5);
  const ProceduralRender r = RenderProcedural(s, front, 1);
  EXPECT_NEAR(r.depth[10][10].item<float>(), 2.5f, 1e-5);
  // Seen from above, the tipped cone's middle (half its base radius there) is 0.1 above its axis at z = 0.5.
  const Camera above = Camera::LookAt({0, 0.0f, 3}, {0, 0.0f, 0}, {0, 1, 0}, 21, 21, 0.5);
  EXPECT_NEAR(RenderProcedural(s, above, 1).depth[10][10].item<float>(), 3 - 0.6f, 1e-5);
  // No ground: a ray looking down past the object hits nothing.
  const Camera down = Camera::LookAt({0.8f, 0.8f, 3}, {0.8f, 0.8f, 0}, {0, 1, 0}, 21, 21, 0.5);
  EXPECT_EQ(RenderProcedural(s, down, 1).labels.max().item<int>(), 0);
  // rotation_x round-trips through JSON and is checked against the scene bounds as a rotated box.
  EXPECT_EQ(ProceduralScene::FromJson(s.ToJson()).ToJson(), s.ToJson());
  EXPECT_FLOAT_EQ(ProceduralScene::FromJson(s.ToJson()).objects[0].rotation_x, cone.rotation_x);
  s.objects[0].center = {0, 0.6f, 0.5f};  // the tipped cone now reaches y = 1.1 > 1
  EXPECT_THROW(s.Check(), Error);
}

TEST(Category, HeadLandmarksSitOnTheirParts) {
  const CategoryInstance head = MeanInstance("heads");
  ASSERT_EQ(head.landmarks.sizes(), (std::vector<int64_t>{5, 3}));
  const CategoryRig rig = RigFor("heads");
  // A frontal view and one turned 35 degrees: each landmark projects onto its part, at the surface's depth.
  for (double yaw : {0.0, 35.0}) {
    const double a = yaw * M_PI / 180;
    const std::array<float, 3> eye = {static_cast<float>(rig.target[0] + rig.radius * std::sin(a)),
                                      static_cast<float>(rig.target[1] + rig.radius * std::cos(a)), rig.target[2]};
    const Camera camera = Camera::LookAt(eye, rig.target, {0, 0, 1}, 128, 128, rig.fov_x_degrees * M_PI / 180);
    const ProceduralRender r = RenderProcedural(head.scene, camera, 1);
    const at::Tensor xy = ProjectPoints(camera, head.landmarks);
    EXPECT_TRUE(LabelsAround(r, xy[0], 0).count(PartId(head.scene, "left_iris"))) << yaw;
    EXPECT_TRUE(LabelsAround(r, xy[1], 0).count(PartId(head.scene, "right_iris"))) << yaw;
    EXPECT_TRUE(LabelsAround(r, xy[2], 1).count(PartId(head.scene, "nose"))) << yaw;
    for (int k : {3, 4}) {
      const auto around = LabelsAround(r, xy[k], 1);
      EXPECT_TRUE(around.count(PartId(head.scene, "mouth"))) << yaw << " landmark " << k;
    }
    // Eyes and nose tip are visible: the depth at their pixel is their distance from the camera (within a pixel's
    // footprint on the surface).
    for (int k : {0, 1, 2}) {
      const int64_t px = static_cast<int64_t>(xy[k][0].item<float>()), py = static_cast<int64_t>(xy[k][1].item<float>());
      const double dist = (head.landmarks[k] - camera.Center()).norm().item<double>();
      EXPECT_NEAR(r.depth[py][px].item<float>(), dist, 0.05) << yaw << " landmark " << k;
    }
    // Subject's left (-x) is on the image's right in a frontal view.
    if (yaw == 0) {
      EXPECT_GT(xy[0][0].item<float>(), xy[1][0].item<float>());
    }
  }
}

TEST(Category, ChairLandmarksSitOnTheirParts) {
  ChairParams p;
  p.back_tilt = 0.3f;
  const CategoryInstance chair = MakeChair(p);
  const CategoryRig rig = RigFor("chairs");
  // From the front, 45 degrees up: seat corners on the seat (or its legs' tops), the back's top on the back.
  const double e = 45 * M_PI / 180;
  const std::array<float, 3> eye = {rig.target[0], static_cast<float>(rig.target[1] + rig.radius * std::cos(e)),
                                    static_cast<float>(rig.target[2] + rig.radius * std::sin(e))};
  const Camera camera = Camera::LookAt(eye, rig.target, {0, 0, 1}, 128, 128, rig.fov_x_degrees * M_PI / 180);
  const ProceduralRender r = RenderProcedural(chair.scene, camera, 1);
  const at::Tensor xy = ProjectPoints(camera, chair.landmarks);
  for (int k : {0, 1}) EXPECT_TRUE(LabelsAround(r, xy[k], 1).count(PartId(chair.scene, "seat"))) << k;
  EXPECT_TRUE(LabelsAround(r, xy[4], 1).count(PartId(chair.scene, "back")));
  // The back leans backwards: its top is behind its foot.
  EXPECT_LT(chair.landmarks[4][1].item<float>(), -0.5f * p.seat_depth);
  EXPECT_NEAR(chair.landmarks[4][2].item<float>(),
              p.leg_length + 0.5f * p.seat_thickness + (p.back_height + 0.5f * p.seat_thickness) * std::cos(0.3f), 1e-5);
}

TEST(Category, RandomInstancesAreValidDeterministicAndFramed) {
  for (const std::string kind : {"heads", "chairs"}) {
    CategoryDatasetOptions options;
    options.kind(kind).instances(300).size(64);
    std::set<std::string> distinct;
    for (int64_t i = 0; i < options.instances(); ++i) {
      const CategorySample s = MakeCategorySample(options, i);  // every instance passes Check()
      distinct.insert(s.instance.params.dump());
      // Landmarks of every view inside the frame, in front of the camera.
      std::vector<Camera> cameras = s.eval_cameras;
      cameras.push_back(s.train_camera);
      for (const Camera& c : cameras) {
        const at::Tensor xy = ProjectPoints(c, s.instance.landmarks);
        EXPECT_GT(xy.min().item<float>(), 1.0f) << kind << " instance " << i;
        EXPECT_LT(xy.max().item<float>(), 63.0f) << kind << " instance " << i;
      }
      if (i < 3) {
        const CategorySample again = MakeCategorySample(options, i);
        EXPECT_EQ(again.instance.params, s.instance.params);
        EXPECT_TRUE(at::equal(again.train_camera.world_from_cam, s.train_camera.world_from_cam));
      }
    }
    EXPECT_EQ(distinct.size(), 300u) << kind;
  }
  // The training view's camera spread follows the rig: heads within yaw +-50, pitch +-25 of the front.
  CategoryDatasetOptions heads;
  heads.instances(200);
  double max_yaw = 0, max_pitch = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const at::Tensor dir = MakeCategorySample(heads, i).train_camera.world_from_cam.slice(0, 0, 3).select(1, 2);
    max_yaw = std::max(max_yaw, std::abs(std::atan2(dir[0].item<double>(), dir[1].item<double>())) * 180 / M_PI);
    max_pitch = std::max(max_pitch, std::abs(std::asin(dir[2].item<double>())) * 180 / M_PI);
  }
  EXPECT_GT(max_yaw, 40);
  EXPECT_LE(max_yaw, 50.01);
  EXPECT_GT(max_pitch, 18);
  EXPECT_LE(max_pitch, 25.01);
}

TEST(Category, ParamsAndOptionsJsonAreStrict) {
  const HeadParams h = RandomHeadParams(7);
  EXPECT_EQ(HeadParams::FromJson(h.ToJson()).ToJson(), h.ToJson());
  const ChairParams c = RandomChairParams(7);
  EXPECT_EQ(ChairParams::FromJson(c.ToJson()).ToJson(), c.ToJson());
  const BackdropParams b = RandomBackdrop(7);
  EXPECT_EQ(BackdropParams::FromJson(b.ToJson()).ToJson(), b.ToJson());
  CategoryDatasetOptions o;
  o.kind("chairs").instances(12).landmark_noise_px(1.5);
  EXPECT_EQ(CategoryDatasetOptions::FromJson(o.ToJson()).ToJson(), o.ToJson());
  auto bad = o.ToJson();
  bad["instancs"] = 3;
  EXPECT_THROW(CategoryDatasetOptions::FromJson(bad), Error);
  bad = o.ToJson();
  bad["kind"] = "cars";
  try {
    CategoryDatasetOptions::FromJson(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cars"), std::string::npos) << e.what();
  }
  auto hj = h.ToJson();
  hj["eye_radius"] = 0.5;
  try {
    HeadParams::FromJson(hj);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eye_radius"), std::string::npos) << e.what();
  }
}

TEST(Category, WrittenDatasetLoadsBackWithItsExtensions) {
  TempDir tmp;
  const std::string dir = tmp / "heads";
  CategoryDatasetOptions options;
  options.instances(6).size(32).eval_views(2).landmark_noise_px(1.0).seed(3);
  WriteCategoryDataset(options, dir);
  EXPECT_THROW(WriteCategoryDataset(options, dir), Error);  // not empty

  // The generic reader reads the files (the per-frame extensions are ignored by it).
  const Dataset plain = LoadTransformsDataset(dir);
  ASSERT_EQ(plain.size(), 6);
  EXPECT_EQ(plain.width(), 32);
  EXPECT_TRUE(plain.depths.defined());
  EXPECT_FALSE(plain.alphas.defined());  // RGB photos composited on their backgrounds

  const CategoryDataset data = LoadCategoryDataset(dir);
  EXPECT_EQ(data.kind, "heads");
  EXPECT_EQ(data.landmark_names, LandmarkNames("heads"));
  EXPECT_EQ(data.num_latents, 6);
  EXPECT_TRUE(at::equal(data.latent_index, at::arange(6, at::kLong)));
  ASSERT_EQ(data.landmarks.sizes(), (std::vector<int64_t>{6, 5, 2}));
  ASSERT_EQ(data.masks.sizes(), (std::vector<int64_t>{6, 32, 32}));
  std::vector<at::Tensor> residuals;
  for (int64_t i = 0; i < 6; ++i) {
    const CategorySample s = MakeCategorySample(options, i);
    EXPECT_TRUE(at::allclose(data.data.cameras[i].world_from_cam, s.train_camera.world_from_cam, 0, 1e-5));
    residuals.push_back(data.landmarks[i] - ProjectPoints(s.train_camera, s.instance.landmarks));
    // Mask and depth agree: the pixel-centre ray hits (depth > 0) where the coverage is full, misses where it is 0.
    const at::Tensor mask = data.masks[i], depth = data.data.depths[i];
    EXPECT_TRUE((depth.index({mask > 0.999f}) > 0).all().item<bool>());
    EXPECT_TRUE((depth.index({mask < 0.001f}) == 0).all().item<bool>());
    EXPECT_GT(mask.mean().item<float>(), 0.15f);
    // Where the mask is empty the photo is the instance's backdrop.
    const at::Tensor backdrop = RenderBackdrop(s.backdrop, s.train_camera);
    const at::Tensor empty = (mask < 0.001f).unsqueeze(-1).expand({-1, -1, 3});
    EXPECT_LT((data.data.images[i] - backdrop).abs().index({empty}).max().item<float>(), 1.0f / 255 + 1e-4);
  }
  // Landmark noise: sigma 1 px per coordinate.
  const double sd = at::stack(residuals).std().item<double>();
  EXPECT_GT(sd, 0.6);
  EXPECT_LT(sd, 1.5);

  // Held-apart views: eval_views per instance, flagged by their latent index, read by path.
  const CategoryDataset eval = LoadCategoryDataset(dir + "/transforms_eval.json");
  ASSERT_EQ(eval.data.size(), 12);
  EXPECT_EQ(eval.latent_index[5].item<int64_t>(), 2);
  EXPECT_EQ(eval.num_latents, 6);

  // Downscaled: landmarks in the smaller pixel grid, masks box-filtered.
  const CategoryDataset half = LoadCategoryDataset(dir, DatasetOptions().downscale(2));
  EXPECT_TRUE(at::allclose(half.landmarks, data.landmarks / 2));
  EXPECT_NEAR(half.masks.mean().item<float>(), data.masks.mean().item<float>(), 1e-4);

  const Json category = ReadJsonFile(dir + "/category.json");
  EXPECT_EQ(category.at("instances").size(), 6u);
  EXPECT_EQ(HeadParams::FromJson(category.at("instances")[4].at("params")).ToJson(),
            MakeCategorySample(options, 4).instance.params);
}

TEST(Category, ChairsAreWhiteBackgroundedAndTheWriterIsSeeded) {
  TempDir tmp;
  CategoryDatasetOptions options;
  options.kind("chairs").instances(3).size(24).eval_views(0).supersample(1);
  WriteCategoryDataset(options, tmp / "a");
  EXPECT_FALSE(fs::exists(tmp / "a/transforms_eval.json"));
  const CategoryDataset a = LoadCategoryDataset(tmp / "a");
  const at::Tensor empty = (a.masks < 0.001f).unsqueeze(-1).expand({-1, -1, -1, 3});
  EXPECT_TRUE((a.data.images.index({empty}) == 1).all().item<bool>());
  // Same options, same files; another seed, other chairs.
  WriteCategoryDataset(options, tmp / "b");
  EXPECT_EQ(ReadTextFile(tmp / "a/transforms.json"), ReadTextFile(tmp / "b/transforms.json"));
  EXPECT_EQ(ReadTextFile(tmp / "a/category.json"), ReadTextFile(tmp / "b/category.json"));
  WriteCategoryDataset(options.seed(1), tmp / "c");
  EXPECT_NE(ReadTextFile(tmp / "a/category.json"), ReadTextFile(tmp / "c/category.json"));
}

void ExpectLoadError(const std::string& dir, const std::function<void(Json&)>& edit, const std::string& expected) {
  Json t = ReadJsonFile(dir + "/transforms.json");
  edit(t);
  const std::string path = dir + "/edited.json";
  WriteTextAtomically(path, t.dump());
  try {
    LoadCategoryDataset(path);
    FAIL() << "no error for " << expected;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(expected), std::string::npos) << what;
    EXPECT_NE(what.find("edited.json"), std::string::npos) << what;
  }
}

TEST(Category, BadExtensionsGetClearErrors) {
  TempDir tmp;
  const std::string dir = tmp / "d";
  CategoryDatasetOptions options;
  options.instances(2).size(16).eval_views(0).supersample(1);
  WriteCategoryDataset(options, dir);
  ExpectLoadError(dir, [](Json& t) { t["frames"][1]["landmarks"].erase(4); }, "must be 5 [x,y] pairs, got 4");
  ExpectLoadError(dir, [](Json& t) { t["frames"][0]["landmarks"][2][1] = nullptr; }, "landmark 2 must be a pair");
  ExpectLoadError(dir, [](Json& t) { t["frames"][1].erase("landmarks"); }, "lacks \"landmarks\"");
  ExpectLoadError(dir, [](Json& t) { t["frames"][0].erase("latent_index"); }, "missing \"latent_index\"");
  ExpectLoadError(dir, [](Json& t) { t["frames"][1]["latent_index"] = -1; }, "\"latent_index\" must be an integer");
  ExpectLoadError(dir, [](Json& t) { t["frames"][0]["mask_file_path"] = "masks/none.png"; }, "none.png");
  SaveImage(dir + "/masks/small.png", at::zeros({8, 8}));
  ExpectLoadError(dir, [](Json& t) { t["frames"][1]["mask_file_path"] = "masks/small.png"; }, "is 8x8 but the image");
}

}  // namespace
}  // namespace nerfedit
