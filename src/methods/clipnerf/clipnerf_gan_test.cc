#include "methods/clipnerf/clipnerf_gan.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/category_scene.h"
#include "engine/trainer.h"
#include "methods/clipnerf/clipnerf_method.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "methods/method_registry.h"
#include "util/error.h"
#include "util/test_util.h"
#include "util/thread_policy.h"
#include "methods/clipnerf/clipnerf_test_util.h"

namespace nerfedit {
namespace {

// R1 against its closed form: for the toy discriminator D(x) = sum(A x + B x^2 / 2) (one logit per image),
// grad_x D = A + B x, so R1 = lambda mean_n ||A + B x_n||^2 and dR1/dA = 2 lambda mean_n (A + B x_n).
TEST(ClipnerfGan, R1PenaltyMatchesTheClosedFormOnAToyDiscriminator) {
  torch::manual_seed(0);
  const at::Tensor a = torch::randn({3, 4, 4}).requires_grad_(true);
  const at::Tensor b = torch::randn({3, 4, 4});
  const at::Tensor x = torch::rand({5, 3, 4, 4}).requires_grad_(true);
  const at::Tensor logits = (a * x + b * x.pow(2) / 2).reshape({5, -1}).sum(1).view({5, 1, 1});
  const double lambda = 0.5;
  const at::Tensor r1 = R1Penalty(logits, x, lambda);
  const at::Tensor grad = (a + b * x).detach();
  const double expected = lambda * grad.pow(2).reshape({5, -1}).sum(1).mean().item<double>();
  EXPECT_NEAR(r1.item<double>(), expected, 1e-5 * expected);
  const at::Tensor d_a = torch::autograd::grad({r1}, {a})[0];
  EXPECT_TRUE(torch::allclose(d_a, 2 * lambda * grad.mean(0), 1e-5, 1e-6));
  // Several logits per image: D(x) is their mean, so the penalty scales by 1 / logits^2 for a repeated logit.
  const at::Tensor x2 = x.detach().clone().requires_grad_(true);
  const at::Tensor one = (a.detach() * x2 + b * x2.pow(2) / 2).reshape({5, -1}).sum(1);
  const at::Tensor repeated = one.view({5, 1, 1}).expand({5, 2, 2});
  EXPECT_NEAR(R1Penalty(repeated, x2, lambda).item<double>(), expected, 1e-5 * expected);
  EXPECT_NE(ErrorOf([&] { R1Penalty(logits, x.detach(), lambda); }).find("require grad"), std::string::npos);
}

TEST(ClipnerfGan, NonSaturatingLossesAreTheSoftplusForms) {
  const at::Tensor real = torch::tensor({2.f, -1.f}), fake = torch::tensor({0.5f, -3.f});
  auto f = [](const at::Tensor& v) { return -torch::log1p(torch::exp(-v)); };  // the paper's f
  EXPECT_NEAR(DiscriminatorLoss(real, fake).item<double>(), -(f(real).mean() + f(-fake).mean()).item<double>(), 1e-6);
  EXPECT_NEAR(GeneratorLoss(fake).item<double>(), -f(fake).mean().item<double>(), 1e-6);
}

TEST(ClipnerfGan, PatchesAtFullScaleArePixelCentresAndSampleTheImageExactly) {
  const at::Tensor px = PatchPixels(8, 8, 8, torch::ones({1}), torch::zeros({1, 2}));
  EXPECT_NEAR(px[0][0][0].item<float>(), 0.5f, 1e-6);
  EXPECT_NEAR(px[0][9][0].item<float>(), 1.5f, 1e-6);  // row 1, column 1
  EXPECT_NEAR(px[0][9][1].item<float>(), 1.5f, 1e-6);
  const at::Tensor image = torch::rand({1, 8, 8, 3});
  EXPECT_TRUE(torch::allclose(SampleImages(image, px).reshape({1, 8, 8, 3}), image, 1e-5, 1e-6));
  // A half-scale patch at the far corner: dilation 0.5 px, inside the image.
  const at::Tensor half = PatchPixels(8, 32, 32, torch::tensor({0.5f}), torch::ones({1, 2}));
  EXPECT_NEAR(half[0][0][0].item<float>(), 16 + 1.0f, 1e-5);
  EXPECT_NEAR(half[0][63][1].item<float>(), 32 - 1.0f, 1e-5);
}

// One GAN step of the method on tiny chairs runs and moves both the generator and the discriminator; a short GAN run
// writes a run that loads back (the prior's mean code, 0).
TEST(ClipnerfGan, AStepChangesBothNetworksAndARunLoadsBack) {
  ScopedThreads one_thread(1, 1);
  torch::manual_seed(0);
  testing::TempDir tmp;
  WriteCategoryDataset(CategoryDatasetOptions().kind("chairs").instances(8).size(16).eval_views(0).seed(0),
                       tmp / "chairs");
  const nlohmann::json user = TinyClipnerfConfig(tmp / "chairs", {{"objective", "gan"},
                                                                  {"num_samples", 12},
                                                                  {"gan_patch", 8},
                                                                  {"gan_batch", 4},
                                                                  {"gan_discriminator_width", 16},
                                                                  {"fd_clip", "none"},
                                                                  {"steps", 3}});
  ClipnerfMethod method(ClipnerfConfig::FromJson(MergeConfig(FindMethod("clipnerf").defaults(user), user)), true);
  const auto optimizers = method.Optimizers();
  ASSERT_EQ(optimizers.size(), 2u);
  EXPECT_EQ(optimizers[0].name, "generator");
  EXPECT_EQ(optimizers[1].name, "discriminator");
  auto snapshot = [](torch::optim::Optimizer* o) {
    std::vector<at::Tensor> out;
    for (const auto& group : o->param_groups()) {
      for (const auto& p : group.params()) out.push_back(p.detach().clone());
    }
    return out;
  };
  auto changed = [](const std::vector<at::Tensor>& before, torch::optim::Optimizer* o) {
    size_t i = 0;
    double delta = 0;
    for (const auto& group : o->param_groups()) {
      for (const auto& p : group.params()) delta += (p.detach() - before[i++]).abs().sum().item<double>();
    }
    return delta;
  };
  const auto g0 = snapshot(optimizers[0].optimizer), d0 = snapshot(optimizers[1].optimizer);
  const StepResult r = method.Step(StepContext{});
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_FALSE(r.loss_is_mse);
  EXPECT_GT(changed(g0, optimizers[0].optimizer), 0.0);
  EXPECT_GT(changed(d0, optimizers[1].optimizer), 0.0);
  EXPECT_TRUE(torch::equal(method.model().codes()->codes.detach(), torch::zeros({1, 16})));

  const std::string run = tmp / "run";
  StartTraining("clipnerf", user, run, {true, false})->Train();
  const ClipnerfRunInfo info = ReadClipnerfRun(run);
  EXPECT_EQ(info.num_latents, 1);
  auto loaded = LoadClipnerfRun(run, "cpu");
  EXPECT_TRUE(torch::equal(loaded->code(), torch::zeros({16})));
  const RenderedView view = loaded->Render(info.cameras[0]);
  EXPECT_TRUE(torch::isfinite(view.rgb).all().item<bool>());
}

}  // namespace
}  // namespace nerfedit
