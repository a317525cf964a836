#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/category_scene.h"
#include "engine/run_folder.h"
#include "eval/image_metrics.h"
#include "methods/clipnerf/clipnerf_edit.h"
#include "methods/clipnerf/clipnerf_method.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "methods/method_registry.h"
#include "render/samplers.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"
#include "util/thread_policy.h"
#include "methods/clipnerf/clipnerf_test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

// 16 chairs of 24x24, one training view each and 2 held-apart views each, made once.
class ClipnerfData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    WriteCategoryDataset(CategoryDatasetOptions().kind("chairs").instances(16).size(24).eval_views(2).seed(0),
                         *dir_ / "chairs");
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override { torch::manual_seed(0); }

  static std::string Chairs() { return *dir_ / "chairs"; }
  static nlohmann::json TinyConfig(const std::string& field = "disentangled") {
    return TinyClipnerfConfig(Chairs(), {{"field", field},
                                         {"batch_rays", 512},
                                         {"lr", 1e-2},
                                         {"eval_images", 4},
                                         {"eval_instances", 4},
                                         {"steps", 5}});
  }
  static testing::TempDir* dir_;
};
testing::TempDir* ClipnerfData::dir_ = nullptr;

at::Tensor Box() { return torch::tensor({-0.6f, -0.6f, 0.f, 0.6f, 0.6f, 1.6f}).view({2, 3}); }

TEST_F(ClipnerfData, OnlyTheTrivialFieldLetsTheAppearanceCodeReachTheDensity) {
  for (const std::string field : {"disentangled", "trivial"}) {
    const ClipnerfConfig config = ClipnerfConfig::FromJson(TinyConfig(field));
    ClipnerfModel model(config, Box(), 3, c10::kCPU);
    if (field == "disentangled") {  // a non-zero deformation (the last layer of T starts at zero)
      torch::NoGradGuard no_grad;
      auto& f = dynamic_cast<DisentangledFieldImpl&>(*model.field());
      f.deform_out->weight.normal_(0, 0.3);
    }
    const at::Tensor p = torch::rand({256, 3}) * 1.2 - at::tensor({0.6f, 0.6f, -0.2f});
    const at::Tensor d = torch::nn::functional::normalize(torch::randn({256, 3}),
                                                         torch::nn::functional::NormalizeFuncOptions().dim(1));
    const at::Tensor codes = (torch::randn({256, 16}) * 0.5).requires_grad_(true);
    const at::Tensor sigma = model.field()->Query(p, d, codes).density;
    ASSERT_GT(sigma.abs().sum().item<float>(), 0.f);
    const at::Tensor g = torch::autograd::grad({sigma.sum()}, {codes})[0];
    const float appearance = g.slice(1, 8).abs().max().item<float>();
    const float shape = g.slice(1, 0, 8).abs().max().item<float>();
    EXPECT_GT(shape, 0.f) << field;
    if (field == "disentangled") {
      EXPECT_EQ(appearance, 0.f);
    } else {
      EXPECT_GT(appearance, 1e-6f);
    }
  }
}

TEST_F(ClipnerfData, ForegroundOverTheBackgroundColourIsTheClosedForm) {
  nlohmann::json j = TinyConfig();
  j["bg_color"] = {0.2, 0.5, 0.9};
  const ClipnerfConfig config = ClipnerfConfig::FromJson(j);
  ClipnerfModel model(config, Box(), 2, c10::kCPU);
  torch::NoGradGuard no_grad;
  const Camera camera = Camera::LookAt({0.3f, 3.f, 0.9f}, {0, 0, 0.7f}, {0, 0, 1}, 6, 5, 0.6);
  const RayBatch rays = GenerateRays(camera);
  const at::Tensor codes = torch::randn({rays.size(), 16});
  const ClipnerfRays out = model.RenderRays(rays, codes, /*training=*/false);
  at::Tensor near, far;
  IntersectAabb(rays, Box(), config.near, &near, &far);
  const at::Tensor hit = near < far;
  const at::Tensor edges = StratifiedEdges(torch::where(hit, near, torch::zeros_like(near)),
                                           torch::where(hit, far, torch::zeros_like(far)), config.num_samples, false);
  int64_t partial = 0;
  for (int64_t r = 0; r < rays.size(); ++r) {
    const at::Tensor t = edges[r];
    const at::Tensor mid = (t.slice(0, 1) + t.slice(0, 0, -1)) / 2;
    const at::Tensor x = rays.origins[r].unsqueeze(0) + mid.unsqueeze(1) * rays.directions[r].unsqueeze(0);
    const FieldOutputs f = model.field()->Query(x, rays.directions[r].unsqueeze(0).expand({mid.size(0), 3}),
                                                codes[r].unsqueeze(0).expand({mid.size(0), -1}));
    double transmittance = 1, opacity = 0;
    at::Tensor colour = torch::zeros({3});
    for (int64_t i = 0; i < mid.size(0); ++i) {
      const double alpha = 1 - std::exp(-f.density[i].item<double>() * (t[i + 1] - t[i]).item<double>());
      colour += transmittance * alpha * f.rgb[i];
      opacity += transmittance * alpha;
      transmittance *= 1 - alpha;
    }
    colour += (1 - opacity) * torch::tensor({0.2f, 0.5f, 0.9f});
    EXPECT_TRUE(torch::allclose(out.rgb[r], colour, 1e-4, 1e-5)) << r;
    EXPECT_NEAR(out.fg_opacity[r].item<double>(), opacity, 1e-5);
    partial += opacity > 0.05 && opacity < 0.95;
  }
  EXPECT_GT(partial, 3);
}

TEST(ClipnerfConfig, RoundTripsAndRejectsBadKeys) {
  for (const std::string preset : {"cpu", "paper"}) {
    const ClipnerfConfig c = ClipnerfConfig::ForPreset(preset);
    EXPECT_EQ(ClipnerfConfig::FromJson(c.ToJson()).ToJson(), c.ToJson());
  }
  const ClipnerfConfig paper = ClipnerfConfig::ForPreset("paper");
  EXPECT_EQ(paper.shape_code_dim, 128);
  EXPECT_EQ(paper.appearance_code_dim, 128);
  EXPECT_EQ(paper.DisentangledOptions({-1, -1, -1, 1, 1, 1}).ToJson(),
            DisentangledFieldOptions::Paper().ToJson());
  // Through the registry, "preset" picks the defaults the user's keys override.
  EXPECT_EQ(FindMethod("clipnerf").defaults(nlohmann::json{{"preset", "paper"}})["deform_width"], 256);
  EXPECT_EQ(FindMethod("clipnerf").defaults(nlohmann::json::object())["deform_width"], 64);
  auto message = [](const nlohmann::json& j) {
    try {
      ClipnerfConfig::FromJson(j);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({{"objective", "wgan"}}).find("objective must be glo or gan"), std::string::npos);
  EXPECT_NE(message({{"field", "hash"}}).find("field must be disentangled or trivial"), std::string::npos);
  EXPECT_NE(message({{"shape_dim", 3}}).find("shape_dim"), std::string::npos);
  EXPECT_NE(message({{"skip_layer", 9}}).find("skip_layer"), std::string::npos);
}

TEST_F(ClipnerfData, BadInputsGetClearErrors) {
  testing::TempDir tmp;
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  // The GAN objective with patches larger than the images.
  nlohmann::json gan = TinyConfig();
  gan["objective"] = "gan";
  gan["gan_patch"] = 32;
  gan["fd_clip"] = "none";
  EXPECT_NE(message([&] { StartTraining("clipnerf", gan, tmp / "gan", {true, false}); }).find("larger than"),
            std::string::npos);
  // A dataset whose frames carry no latent index.
  fs::create_directories(tmp / "plain");
  fs::copy(Chairs(), tmp / "plain", fs::copy_options::recursive);
  nlohmann::json transforms = ReadJsonFile(tmp / "plain/transforms.json");
  for (auto& frame : transforms["frames"]) frame.erase("latent_index");
  std::ofstream(tmp / "plain/transforms.json") << transforms.dump();
  nlohmann::json plain = TinyConfig();
  plain["data"] = tmp / "plain";
  EXPECT_NE(message([&] { StartTraining("clipnerf", plain, tmp / "plain_run", {true, false}); }).find("latent_index"),
            std::string::npos);
  // A run of another method.
  fs::create_directories(tmp / "other");
  WriteRunJson(tmp / "other", "lolnerf", nlohmann::json::object(), nlohmann::json::object());
  EXPECT_NE(message([&] { ReadClipnerfRun(tmp / "other"); }).find("not \"clipnerf\""), std::string::npos);
}

// A short GLO run learns the category: the held-apart views of training instances, rendered with their learnt codes,
// beat the untrained generator by a wide margin, and the run loads back for rendering.
TEST_F(ClipnerfData, GloTrainingLearnsHeldApartViewsAndLoadsBack) {
  // One thread: these tiny steps are dominated by the thread pools' spinning on a busy 2-core machine.
  ScopedThreads one_thread(1, 1);
  testing::TempDir tmp;
  nlohmann::json user = TinyConfig();
  user["steps"] = 400;
  const std::string run = tmp / "run";
  double untrained = 0, untrained_iou = 0;
  {
    ClipnerfMethod method(ClipnerfConfig::FromJson(MergeConfig(FindMethod("clipnerf").defaults(user), user)), true);
    const Evaluation e = method.Evaluate({});
    ASSERT_TRUE(e.valid);
    untrained = e.summary["novel_psnr"].get<double>();
    untrained_iou = e.summary["novel_mask_iou"].get<double>();
  }
  at::Tensor codes;
  RenderedView trained_view;
  Camera camera;
  nlohmann::json summary;
  {
    auto trainer = StartTraining("clipnerf", user, run, {true, false});
    summary = trainer->Train().summary;
    auto& method = dynamic_cast<ClipnerfMethod&>(trainer->method());
    codes = method.model().codes()->codes.detach().clone();
    camera = method.data().data.cameras[0];
    trained_view = method.model().RenderCamera(camera, codes.mean(0));
  }
  const double novel = summary["novel_psnr"].get<double>();
  const double iou = summary["novel_mask_iou"].get<double>();
  std::printf("held-apart views: untrained %.2f dB (IoU %.3f), after 400 steps %.2f dB (fg %.2f dB, IoU %.3f), "
              "train %.2f dB\n", untrained, untrained_iou, novel, summary["novel_fg_psnr"].get<double>(), iou,
              summary["train_psnr"].get<double>());
  EXPECT_GT(novel, untrained + 3);
  EXPECT_GT(iou, untrained_iou + 0.2);
  // Codes learnt per instance; the run loads back (mean code by default) and renders as the trained model did.
  EXPECT_GT((codes - codes.mean(0)).abs().max().item<float>(), 1e-3f);
  const ClipnerfRunInfo info = ReadClipnerfRun(run);
  EXPECT_EQ(info.num_latents, 16);
  auto loaded = LoadClipnerfRun(run, "cpu");
  EXPECT_TRUE(torch::allclose(loaded->code(), codes.mean(0), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(loaded->Render(camera).rgb, trained_view.rgb, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(LoadRenderableRun(run, "cpu")->Render(camera).rgb, trained_view.rgb, 1e-5, 1e-5));
  // Code swaps on the trained generator: an appearance swap keeps the silhouette exactly (z_a never reaches the
  // density) and changes the colour.
  auto model = LoadClipnerfModel(info, "cpu");
  const CategoryDataset data = LoadCategoryDataset(Chairs());
  const DisentanglementReport report = MeasureDisentanglement(*model, data, DisentanglementOptions().pairs(6));
  nlohmann::json figures = report.ToJson();
  figures.erase("per_pair");
  std::printf("disentanglement: %s\n", figures.dump().c_str());
  EXPECT_EQ(report.pairs, 6);
  EXPECT_EQ(report.app_swap_iou, 1.0);
  EXPECT_GT(report.before_gt_iou, 0.5);
  ASSERT_GT(report.hue_pairs, 0);
  EXPECT_GT(report.app_swap_hue_change_deg, 5.0);
}

// The ablation: in the trivial conditional NeRF both halves of the code reach the density, so after training an
// appearance swap moves the silhouette (the disentangled field keeps it exactly: the test above).
TEST_F(ClipnerfData, TrivialFieldAppearanceSwapMovesTheSilhouette) {
  ScopedThreads one_thread(1, 1);
  testing::TempDir tmp;
  nlohmann::json user = TinyConfig("trivial");
  user["steps"] = 300;
  user["eval_instances"] = 0;
  auto trainer = StartTraining("clipnerf", user, tmp / "run", {true, false});
  trainer->Train();
  auto& method = dynamic_cast<ClipnerfMethod&>(trainer->method());
  const DisentanglementReport report =
      MeasureDisentanglement(method.model(), method.data(), DisentanglementOptions().pairs(6));
  std::printf("trivial: app_swap_iou %.3f, before_gt_iou %.3f\n", report.app_swap_iou, report.before_gt_iou);
  EXPECT_GT(report.before_gt_iou, 0.6);  // it did learn the silhouettes ...
  EXPECT_LT(report.app_swap_iou, 0.95);  // ... which z_a moves
}

TEST(ClipnerfEdit, MixCodesSwapsAndInterpolatesParts) {
  ClipnerfConfig config;
  config.shape_code_dim = 3;
  config.appearance_code_dim = 2;
  ClipnerfModel model(config, Box(), 2, c10::kCPU);
  const at::Tensor a = torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f}), b = torch::tensor({-1.f, -2.f, -3.f, -4.f, -5.f});
  EXPECT_TRUE(torch::equal(MixCodes(model, a, b, 0, 1), torch::tensor({1.f, 2.f, 3.f, -4.f, -5.f})));
  EXPECT_TRUE(torch::equal(MixCodes(model, a, b, 1, 0), torch::tensor({-1.f, -2.f, -3.f, 4.f, 5.f})));
  EXPECT_TRUE(torch::allclose(MixCodes(model, a, b, 0.5, 0.25), torch::tensor({0.f, 0.f, 0.f, 2.f, 2.5f})));
  EXPECT_THROW(MixCodes(model, a, b.slice(0, 1), 0, 1), Error);
}

}  // namespace
}  // namespace nerfedit
