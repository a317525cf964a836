#include "data/dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/image_io.h"
#include "util/error.h"
#include "util/npy.h"
#include "util/runtime.h"
#include "util/test_util.h"

#include <ATen/Parallel.h>

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::TempDir;

#define EXPECT_ERROR_HAS(call, ...)                                                         \
  do {                                                                                      \
    const std::string message = ErrorOf([&] { call; });                                     \
    for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) {                                          \
      EXPECT_NE(message.find(part), std::string::npos) << message << "\nmissing: " << part; \
    }                                                                                       \
  } while (0)

Json Pose(int i) {
  const double a = 0.3 * i;
  return Json::array({Json::array({std::cos(a), 0, std::sin(a), 4 * std::sin(a)}), Json::array({0, 1, 0, 0.5 * i}),
                      Json::array({-std::sin(a), 0, std::cos(a), 4 * std::cos(a)}), Json::array({0, 0, 0, 1})});
}

// A Blender-style scene: train/r_i.png RGBA images (file_path without extension), camera_angle_x, extra keys.
struct Scene {
  TempDir dir;
  Json json;
  std::vector<at::Tensor> images;  // uint8 as written

  explicit Scene(int n, int w = 8, int h = 6, int channels = 4) {
    fs::create_directories(dir / "train");
    json = {{"camera_angle_x", 0.69}, {"frames", Json::array()}};
    for (int i = 0; i < n; ++i) {
      images.push_back(torch::randint(0, 256, {h, w, channels}, torch::kByte));
      SaveImage(dir / ("train/r_" + std::to_string(i) + ".png"), images.back());
      json["frames"].push_back({{"file_path", "./train/r_" + std::to_string(i)}, {"rotation", 0.0126}, {"transform_matrix", Pose(i)}});
    }
  }
  std::string Write(const std::string& name = "transforms_train.json") const {
    std::ofstream(dir / name) << json.dump(1);
    return dir / name;
  }
};

TEST(Dataset, LoadsBlenderStyle) {
  Scene s(3);
  const std::string path = s.Write();
  const Dataset d = LoadTransformsDataset(path, DatasetOptions().background({0, 0, 1}));
  ASSERT_EQ(d.size(), 3);
  EXPECT_EQ(d.height(), 6);
  EXPECT_EQ(d.width(), 8);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 6, 8, 3}));
  ASSERT_TRUE(d.alphas.defined());
  EXPECT_FALSE(d.depths.defined());
  EXPECT_FALSE(d.labels.defined());
  EXPECT_EQ(d.source, path);
  for (int i = 0; i < 3; ++i) {
    auto expected = LoadImageFloat(d.image_paths[i], {0, 0, 1});
    EXPECT_TRUE(torch::allclose(d.images[i], expected, 1e-6, 1e-6));
    EXPECT_TRUE(torch::allclose(d.alphas[i], s.images[i].select(2, 3).to(torch::kFloat) / 255));
    EXPECT_EQ(d.frame_indices[i], i);
    EXPECT_EQ(fs::path(d.image_paths[i]).filename(), "r_" + std::to_string(i) + ".png");
    const Camera& c = d.cameras[i];
    EXPECT_NEAR(c.fx, 0.5 * 8 / std::tan(0.5 * 0.69), 1e-9);
    EXPECT_DOUBLE_EQ(c.fy, c.fx);
    EXPECT_DOUBLE_EQ(c.cx, 4);
    EXPECT_DOUBLE_EQ(c.cy, 3);
    std::vector<float> pose;
    for (auto& row : Pose(i)) for (auto& v : row) pose.push_back(v.get<float>());
    EXPECT_TRUE(torch::allclose(c.world_from_cam, torch::tensor(pose).reshape({4, 4})));
  }
  EXPECT_TRUE(torch::equal(d.aabb, torch::tensor({{-1.5f, -1.5f, -1.5f}, {1.5f, 1.5f, 1.5f}})));
  EXPECT_EQ(d.background, (std::vector<float>{0, 0, 1}));
}

TEST(Dataset, FindsTransformsFileInDirectory) {
  Scene s(2);
  s.Write("transforms_train.json");
  EXPECT_EQ(fs::path(LoadTransformsDataset(s.dir.path()).source).filename(), "transforms_train.json");
  EXPECT_ERROR_HAS(LoadTransformsDataset(s.dir.path(), DatasetOptions().split("test")), s.dir.path(),
                   "transforms_test.json");
  s.Write("transforms.json");  // preferred when present
  EXPECT_EQ(fs::path(LoadTransformsDataset(s.dir.path()).source).filename(), "transforms.json");
}

TEST(Dataset, NerfstudioIntrinsicsWithPerFrameOverride) {
  Scene s(3, 10, 8, 3);
  s.json.erase("camera_angle_x");
  s.json.update({{"fl_x", 20.0}, {"fl_y", 22.0}, {"cx", 4.5}, {"cy", 3.5}, {"w", 10}, {"h", 8}, {"k1", 0.0},
                 {"camera_model", "OPENCV"}, {"aabb_scale", 4}});
  s.json["frames"][1].update({{"fl_x", 30.0}, {"cx", 5.5}});
  s.json["frames"][2].update({{"camera_angle_x", 1.0}, {"camera_angle_y", 0.8}});
  s.json["frames"][0]["file_path"] = "train/r_0.png";
  const Dataset d = LoadTransformsDataset(s.Write());
  EXPECT_FALSE(d.alphas.defined());
  EXPECT_TRUE(torch::allclose(d.images[0], s.images[0].to(torch::kFloat) / 255));
  EXPECT_DOUBLE_EQ(d.cameras[0].fx, 20);
  EXPECT_DOUBLE_EQ(d.cameras[0].fy, 22);
  EXPECT_DOUBLE_EQ(d.cameras[0].cx, 4.5);
  EXPECT_DOUBLE_EQ(d.cameras[1].fx, 30);
  EXPECT_DOUBLE_EQ(d.cameras[1].fy, 22);
  EXPECT_DOUBLE_EQ(d.cameras[1].cx, 5.5);
  EXPECT_DOUBLE_EQ(d.cameras[1].cy, 3.5);
  EXPECT_NEAR(d.cameras[2].fx, 5 / std::tan(0.5), 1e-9);
  EXPECT_NEAR(d.cameras[2].fy, 4 / std::tan(0.4), 1e-9);
  EXPECT_TRUE(torch::equal(d.aabb, torch::tensor({{-6.0f, -6.0f, -6.0f}, {6.0f, 6.0f, 6.0f}})));
}

TEST(Dataset, DownscaleAveragesColourAndPicksCentreDepthAndLabels) {
  Scene s(2, 8, 6, 4);
  s.json["aabb"] = {{-1, -2, -3}, {1, 2, 3}};
  for (int i = 0; i < 2; ++i) {
    auto depth = torch::arange(48, torch::kFloat).reshape({6, 8}) + 100 * i;
    auto labels = (torch::arange(48, torch::kInt).reshape({6, 8}) + i) % 7;
    WriteNpy(s.dir / ("d" + std::to_string(i) + ".npy"), depth);
    s.json["frames"][i]["depth_file_path"] = "d" + std::to_string(i) + ".npy";
    if (i == 0) {
      SaveImage(s.dir / "l0.png", labels.to(torch::kByte).unsqueeze(2));
      s.json["frames"][i]["label_file_path"] = "l0.png";
    } else {
      WriteNpy(s.dir / "l1.npy", labels);
      s.json["frames"][i]["label_file_path"] = "l1.npy";
    }
  }
  const Dataset d = LoadTransformsDataset(s.Write(), DatasetOptions().downscale(2));
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 3, 4, 3}));
  EXPECT_TRUE(torch::equal(d.aabb, torch::tensor({{-1.0f, -2.0f, -3.0f}, {1.0f, 2.0f, 3.0f}})));
  EXPECT_EQ(d.cameras[0].width, 4);
  EXPECT_NEAR(d.cameras[0].fx, 0.5 * 8 / std::tan(0.5 * 0.69) / 2, 1e-9);
  for (int i = 0; i < 2; ++i) {
    auto premultiplied = s.images[i].to(torch::kFloat) / 255;
    premultiplied.slice(2, 0, 3).mul_(premultiplied.slice(2, 3, 4));
    auto expected = CompositePremultiplied(DownscaleArea(premultiplied, 2), {1, 1, 1});
    EXPECT_TRUE(torch::allclose(d.images[i], expected, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(d.alphas[i], DownscaleArea(premultiplied, 2).select(2, 3)));
    auto rows = torch::tensor({1, 3, 5}, torch::kLong), cols = torch::tensor({1, 3, 5, 7}, torch::kLong);
    auto depth = torch::arange(48, torch::kFloat).reshape({6, 8}) + 100 * i;
    auto labels = (torch::arange(48, torch::kInt).reshape({6, 8}) + i) % 7;
    EXPECT_TRUE(torch::equal(d.depths[i], depth.index_select(0, rows).index_select(1, cols)));
    EXPECT_TRUE(torch::equal(d.labels[i], labels.index_select(0, rows).index_select(1, cols)));
  }
}

TEST(Dataset, SplitEveryNthAndSubset) {
  Scene s(12, 4, 4, 3);
  const Dataset all = LoadTransformsDataset(s.Write());
  Dataset train, test;
  SplitEveryNth(all, 10, &train, &test);
  EXPECT_EQ(test.frame_indices, (std::vector<int64_t>{0, 10}));
  ASSERT_EQ(train.size(), 10);
  EXPECT_EQ(train.frame_indices.front(), 1);
  EXPECT_TRUE(torch::equal(test.images[1], all.images[10]));
  EXPECT_TRUE(torch::equal(train.images[0], all.images[1]));
  EXPECT_EQ(test.image_paths[1], all.image_paths[10]);
  EXPECT_TRUE(torch::equal(train.cameras[9].world_from_cam, all.cameras[11].world_from_cam));
  EXPECT_FALSE(train.alphas.defined());
  EXPECT_ERROR_HAS(SplitEveryNth(all, 1, &train, &test), "every");
  EXPECT_ERROR_HAS(all.Subset({12}), "12");
}

TEST(Dataset, ErrorsNameTheFileAndTheProblem) {
  Scene s(2);
  const std::string path = s.dir / "transforms.json";
  auto write = [&](const Json& j) { std::ofstream(path) << j.dump(); };
  auto load = [&](DatasetOptions o = DatasetOptions()) { LoadTransformsDataset(path, o); };

  EXPECT_ERROR_HAS(LoadTransformsDataset(s.dir / "nope"), "nope", "does not exist");
  EXPECT_ERROR_HAS(LoadTransformsDataset(s.dir / "train"), "train", "neither transforms.json");
  std::ofstream(path) << "{\"frames\": [\n  {\"file_path\": }\n]}";
  EXPECT_ERROR_HAS(load(), path, "malformed JSON", "line 2");
  write({{"camera_angle_x", 0.7}});
  EXPECT_ERROR_HAS(load(), path, "missing \"frames\"");
  write({{"camera_angle_x", 0.7}, {"frames", Json::array()}});
  EXPECT_ERROR_HAS(load(), path, "\"frames\" is empty");

  Json j = s.json;
  j["frames"][1].erase("transform_matrix");
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "missing \"transform_matrix\"");
  j = s.json;
  j["frames"][1]["transform_matrix"] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "4x4");
  j = s.json;
  j["frames"][0]["transform_matrix"][3] = {0, 0, 1, 1};
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 0", "bottom row");

  j = s.json;
  j.erase("camera_angle_x");
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 0", "no intrinsics");
  j = s.json;
  j["k1"] = 0.1;
  write(j);
  EXPECT_ERROR_HAS(load(), path, "distortion k1");

  j = s.json;
  j["frames"][1]["file_path"] = "./train/r_7";
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "image file not found", (s.dir / "train/r_7.png"));

  {  // truncated image: the header reads fine, decoding fails
    std::ifstream in(s.dir / "train/r_1.png", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(s.dir / "train/cut.png", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    std::ofstream(s.dir / "train/junk.png", std::ios::binary) << "not a png";
  }
  j = s.json;
  j["frames"][1]["file_path"] = "train/cut.png";
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "cut.png", "cannot decode");
  j["frames"][1]["file_path"] = "train/junk.png";
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "junk.png");

  SaveImage(s.dir / "train/big.png", torch::zeros({7, 8, 4}));
  j = s.json;
  j["frames"][1]["file_path"] = "train/big.png";
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "big.png", "is 8x7", "first image", "8x6");
  j = s.json;
  j["w"] = 9;
  j["h"] = 6;
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 0", "is 8x6", "w x h = 9x6");

  write(s.json);
  EXPECT_ERROR_HAS(load(DatasetOptions().downscale(7)), path, "8x6", "--downscale 7", "1x0");
  EXPECT_ERROR_HAS(load(DatasetOptions().downscale(0)), "--downscale", "0");
  EXPECT_ERROR_HAS(load(DatasetOptions().background({1, 1})), "background", "3");

  WriteNpy(s.dir / "depth.npy", torch::zeros({6, 7}));
  j = s.json;
  j["frames"][0]["depth_file_path"] = "depth.npy";
  j["frames"][1]["depth_file_path"] = "depth.npy";
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 0", "depth file", "depth.npy", "[6, 7]", "6x8");
  j["frames"][1].erase("depth_file_path");
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 1", "lacks \"depth_file_path\"");
  SaveImage(s.dir / "labels.png", torch::zeros({5, 8, 1}, torch::kByte));
  j = s.json;
  j["frames"][0]["label_file_path"] = "labels.png";
  j["frames"][1]["label_file_path"] = "labels.png";
  write(j);
  EXPECT_ERROR_HAS(load(), path, "frame 0", "label file", "labels.png", "[5, 8]", "6x8");
}

TEST(Dataset, LegoTrainAtDownscale8) {
  NE_REQUIRE_SHARED_DATA(shared);
  const Dataset d = LoadTransformsDataset(shared + "/nerf_synthetic/lego/transforms_train.json",
                                          DatasetOptions().downscale(8));
  ASSERT_EQ(d.size(), 100);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{100, 100, 100, 3}));
  ASSERT_TRUE(d.alphas.defined());
  EXPECT_EQ(d.cameras[0].width, 100);
  EXPECT_NEAR(d.cameras[0].fx, 0.5 * 800 / std::tan(0.5 * 0.6911112070083618) / 8, 1e-6);
  // White background in every corner of every view; the lego itself is neither white nor transparent.
  for (auto [y, x] : {std::pair{0, 0}, {0, 99}, {99, 0}, {99, 99}}) {
    EXPECT_GT(d.images.select(1, y).select(1, x).min().item<float>(), 0.99f);
  }
  EXPECT_LT(d.images.mean().item<float>(), 0.95f);
  EXPECT_GT(d.alphas.mean().item<float>(), 0.05f);
  Dataset train, test;
  SplitEveryNth(d, 10, &train, &test);
  EXPECT_EQ(train.size(), 90);
  EXPECT_EQ(test.size(), 10);
}

// Timing only (run with --gtest_also_run_disabled_tests): lego load at downscale 8 and full size.
TEST(Dataset, DISABLED_LegoLoadTiming) {
  NE_REQUIRE_SHARED_DATA(shared);
  std::printf("%s", at::get_parallel_info().c_str());
  for (int factor : {8, 1}) {
    const double t0 = NowSeconds();
    const Dataset d = LoadTransformsDataset(shared + "/nerf_synthetic/lego/transforms_train.json",
                                            DatasetOptions().downscale(factor));
    std::printf("lego downscale %d: %lld views %lldx%lld in %.2f s (peak %.0f MB)\n", factor,
                static_cast<long long>(d.size()), static_cast<long long>(d.width()),
                static_cast<long long>(d.height()), NowSeconds() - t0, PeakMemoryMb());
  }
}

}  // namespace
}  // namespace nerfedit
