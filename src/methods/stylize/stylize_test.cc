// StylizedNeRF (methods/stylize): the KL term against its closed form, the frozen density bit for bit through
// training, saving and loading, a short run lowering the renders' style loss below the unstyled run's, and clear
// errors for bad inputs. One tiny nerf run and one tiny AdaIN are made per process.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/procedural_scene.h"
#include "engine/trainer.h"
#include "methods/method_registry.h"
#include "methods/nerf/nerf_method.h"
#include "methods/nerf/nerf_run.h"
#include "methods/nerf/nerf_test_util.h"
#include "methods/stylize/style_module.h"
#include "methods/stylize/stylize_method.h"
#include "methods/stylize/stylize_run.h"
#include "models2d/adain.h"
#include "util/error.h"
#include "util/test_util.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  testing::TempDir dir;
  std::string nerf_run, adain;
};

// A nerf run on the built-in scene (48 px, 200 steps) and an AdaIN trained for 400 steps (~35 s): its outputs must
// have pictures in them (at 60 steps they were flat, pixel std 0.003, and a style module stuck at its mean colour
// passed every style check), seconds to make.
const Fixture& Tiny() {
  static Fixture f = [] {
    Fixture x;
    ScopedThreads threads(1, 2);
    const std::string scene = x.dir / "scene";
    WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions().num_views(24).width(48).height(48), scene);
    const NerfConfig c = SmallNerfConfig(scene, /*steps=*/200, /*test_every=*/0);
    x.nerf_run = x.dir / "nerf";
    StartRun(x.nerf_run, [&] { return std::make_unique<NerfMethod>(c); }, {/*quiet=*/true, false})->Train();
    x.adain = x.dir / "adain";
    TrainAdain(AdainOptions()
                   .steps(400)
                   .lr(1e-3)
                   .batch_size(4)
                   .image_size(32)
                   .content_pool(16)
                   .style_pool(16)
                   .eval_pairs(2)
                   .progress(false)
                   .threads(2),
               x.adain);
    return x;
  }();
  return f;
}

nlohmann::json SmallConfig(int64_t steps) {
  return {{"nerf_run", Tiny().nerf_run},
          {"adain_model", Tiny().adain},
          {"styles", {"procedural:stripes:1", "procedural:dots:2"}},
          {"image_size", 32},
          {"style_size", 32},
          {"num_views", 4},
          {"vae_steps", 50},
          {"vae_styles", 16},
          {"steps", steps},
          {"eval_every", 0},
          {"checkpoint_every", 0},
          {"device", "cpu"},
          {"threads", 2}};
}

TEST(StyleModule, GaussianKlMatchesTheClosedForm) {
  torch::manual_seed(0);
  const at::Tensor mq = torch::randn({5, 3}), lq = torch::randn({5, 3}), mp = torch::randn({5, 3}),
                   lp = torch::randn({5, 3});
  const at::Tensor kl = GaussianKl(mq, lq, mp, lp);
  for (int64_t i = 0; i < 5; ++i) {
    // Per dimension: log(sigma_p / sigma_q) + (sigma_q^2 + (mu_q - mu_p)^2) / (2 sigma_p^2) - 1/2.
    double expected = 0;
    for (int64_t d = 0; d < 3; ++d) {
      const double sq = std::exp(0.5 * lq[i][d].item<double>()), sp = std::exp(0.5 * lp[i][d].item<double>());
      const double dm = mq[i][d].item<double>() - mp[i][d].item<double>();
      expected += std::log(sp / sq) + (sq * sq + dm * dm) / (2 * sp * sp) - 0.5;
    }
    EXPECT_NEAR(kl[i].item<double>(), expected, 1e-5 * std::max(1.0, std::abs(expected)));
  }
  // Zero exactly for equal distributions; the latent table's loss is this KL per (style, view).
  EXPECT_NEAR(GaussianKl(mq, lq, mq, lq).abs().max().item<double>(), 0.0, 1e-6);
  LatentTable table(2, 3, 3);
  table->InitFromPrior(mp.slice(0, 0, 2), lp.slice(0, 0, 2));
  const at::Tensor s = torch::tensor({1, 0}, at::kLong), v = torch::tensor({2, 1}, at::kLong);
  const at::Tensor expected =
      GaussianKl(table->mean.index({s, v}), table->logvar.index({s, v}), mp.index_select(0, s), lp.index_select(0, s));
  EXPECT_TRUE(torch::allclose(table->KlToPrior(s, v, mp.slice(0, 0, 2), lp.slice(0, 0, 2)), expected));
}

TEST(StyleModule, LatentReachesEveryLayer) {
  torch::manual_seed(1);
  StyleModule m(StyleModuleOptions().num_layers(3).hidden_dim(8).latent_dim(4).skip_layer(1));
  const at::Tensor x = torch::rand({6, 3}) * 2 - 1, z = torch::randn({1, 4}, torch::requires_grad());
  const at::Tensor rgb = m->forward(x, z);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{6, 3}));
  EXPECT_GT(rgb.min().item<double>(), 0.0);
  EXPECT_LT(rgb.max().item<double>(), 1.0);
  const int64_t in = m->encoding->output_dim(3);
  EXPECT_EQ(m->layers[0]->as<torch::nn::Linear>()->weight.size(1), in + 4);
  EXPECT_EQ(m->layers[1]->as<torch::nn::Linear>()->weight.size(1), 8 + 4 + in);  // the skip
  EXPECT_EQ(m->layers[2]->as<torch::nn::Linear>()->weight.size(1), 8 + 4);
}

TEST(Stylize, DensityStaysBitIdenticalAndTrainingLowersTheStyleLoss) {
  ScopedThreads threads(1, 2);
  testing::TempDir runs;
  const std::string srun = runs / "styled";
  auto trainer = StartTraining("stylize", SmallConfig(150), srun, {/*quiet=*/true, false});
  auto& method = static_cast<StylizeMethod&>(trainer->method());
  double before = 0, unstyled = 0;
  for (int64_t s = 0; s < 2; ++s) {
    for (int64_t k = 0; k < 4; ++k) {
      before += method.StyleLoss(s, k, false);
      unstyled += method.StyleLoss(s, k, true);
    }
  }
  trainer->Train();
  double after = 0, decoded = 0;
  for (int64_t s = 0; s < 2; ++s) {
    for (int64_t k = 0; k < 4; ++k) {
      after += method.StyleLoss(s, k, false);
      decoded += method.DecoderStyleLoss(s, k);
    }
  }
  // The renders take the 2D network's style: far below the unstyled run's loss, well below the untrained style
  // module's, and near the 2D network's own output (measured: unstyled 3.74, untrained 1.73, trained 0.67, the 2D
  // network 0.65 per view; an untrained model fails the second, a style module that cannot paint the sky the first).
  const std::string losses = c10::str("style loss: unstyled ", unstyled, ", before ", before, ", after ", after,
                                      ", the 2D network's output ", decoded);
  EXPECT_LT(after, 0.5 * unstyled) << losses;
  EXPECT_LT(after, 0.85 * before) << losses;
  EXPECT_LT(after, 1.5 * decoded) << losses;
  // Not washed out: a flat image of the style's mean colour already gets a low style loss in the training encoder,
  // so the renders must also reproduce the 2D network's pictures, not only their mean colour: the share of the 2D
  // output's pixel variance the renders explain (1 - mse / var), and their pixel contrast (per-channel std). Issue
  // 16's bench: renders at std 0.015 against the 2D output's 0.11, i.e. the style module stuck at its mean colour.
  // Measured here: explained 0.53-0.55, std 0.051-0.060 against 0.087 (lr 1e-2, two runs); at the old lr 1e-3 0.17,
  // 0.024 against 0.086.
  double explained = 0, render_std = 0, decoder_std = 0;
  for (int64_t s = 0; s < 2; ++s) {
    for (int64_t k = 0; k < 4; ++k) {
      const at::Tensor r = method.RenderView(s, k), y = method.DecoderOutput(s, k).clamp(0, 1);
      const at::Tensor variance = (y - y.mean(std::vector<int64_t>{0, 1}, true)).pow(2).mean();
      explained += (1 - ((r - y).pow(2).mean() / variance).item<double>()) / 8;
      render_std += r.reshape({-1, 3}).std(0).mean().item<double>() / 8;
      decoder_std += y.reshape({-1, 3}).std(0).mean().item<double>() / 8;
    }
  }
  const std::string fit = c10::str("explained variance ", explained, ", pixel std of the renders ", render_std,
                                   ", of the 2D network's ", decoder_std);
  std::fprintf(stderr, "%s; %s\n", losses.c_str(), fit.c_str());
  EXPECT_GT(explained, 0.3) << fit;
  EXPECT_GT(render_std, 0.4 * decoder_std) << fit;
  // Views the stylized run never trained on (the nerf run's cameras between the chosen ones) take the style as the
  // training views do, through the render path the CLI and the viewer use (StylizedScene), which must also give
  // the cached training views' pictures.
  {
    auto scene = LoadStylizedRun(srun, "cpu");
    const std::vector<Camera> all = scene->TrainingCameras();
    std::vector<Camera> novel;
    for (size_t i = 3; i < all.size(); i += 6) novel.push_back(all[i]);  // the run trained on 0, 6, 12, 18
    novel = ChooseViews(novel, 0, 32);
    double novel_loss = 0, novel_unstyled = 0;
    auto original = LoadNerfRun(Tiny().nerf_run, "cpu");
    for (int64_t s = 0; s < 2; ++s) {
      scene->SelectStyle(s);
      EXPECT_LT((scene->RenderColour(method.views()[1].camera).rgb - method.RenderView(s, 1).cpu())
                    .abs()
                    .max()
                    .item<double>(),
                0.02);
      for (const Camera& c : novel) {
        novel_loss += method.ImageStyleLoss(s, scene->RenderColour(c).rgb);
        novel_unstyled += method.ImageStyleLoss(s, original->RenderColour(c).rgb);
      }
    }
    EXPECT_LT(novel_loss, 1.25 * after) << "style loss of 4 unseen views " << novel_loss << ", of 4 training views "
                                        << after;
    EXPECT_LT(novel_loss, 0.5 * novel_unstyled) << novel_loss << " vs unstyled " << novel_unstyled;
  }
  // The frozen field: every parameter and buffer bit-identical to the nerf run's, in the method and in the saved run.
  auto nerf = LoadNerfRun(Tiny().nerf_run, "cpu");
  const auto expected = nerf->field()->named_parameters();
  const auto trained = method.nerf().field()->named_parameters();
  ASSERT_EQ(expected.size(), trained.size());
  for (const auto& p : expected) EXPECT_TRUE(torch::equal(p.value(), trained[p.key()])) << p.key();
  auto scene = LoadStylizedRun(srun, "cpu");
  const at::Tensor points = nerf->Aabb()[0] + torch::rand({4096, 3}) * (nerf->Aabb()[1] - nerf->Aabb()[0]);
  torch::NoGradGuard no_grad;
  const at::Tensor density = nerf->field()->QueryDensity(points);
  EXPECT_TRUE(torch::equal(scene->field()->QueryDensity(points), density));
  EXPECT_TRUE(torch::equal(scene->field()->Query(points, torch::zeros_like(points)).density, density));
  EXPECT_TRUE(
      torch::equal(scene->field()->base()->named_parameters()[expected.begin()->key()], expected.begin()->value()));

  // Rendering through the registry: one picture per style, different styles differ, out-of-range styles are refused.
  auto renderable = LoadRenderableRun(srun, "cpu");
  ASSERT_EQ(renderable->StyleNames().size(), 2u);
  Camera camera = renderable->TrainingCameras()[0].Downscaled(4);
  renderable->SelectStyle(0);
  const at::Tensor a = renderable->RenderColour(camera).rgb;
  renderable->SelectStyle(1);
  const at::Tensor b = renderable->RenderColour(camera).rgb;
  EXPECT_GT((a - b).abs().mean().item<double>(), 1e-3);
  EXPECT_NE(ErrorOf([&] { renderable->SelectStyle(2); }).find("out of range"), std::string::npos);
  EXPECT_THROW(LoadRenderableRun(Tiny().nerf_run, "cpu")->SelectStyle(0), std::exception);

  // Adding a style: the old styles' priors and latents carried over exactly, the new style's prior from the same
  // VAE, and a short training run fits its renders to the 2D network's.
  torch::AutoGradMode training_needs_gradients(true);  // the density checks above turned them off
  nlohmann::json more = SmallConfig(60);
  more["styles"] = {"procedural:stripes:1", "procedural:dots:2", "procedural:waves:3"};
  more["extend_run"] = srun;
  auto extended = StartTraining("stylize", more, runs / "more", {/*quiet=*/true, false});
  auto& grown = static_cast<StylizeMethod&>(extended->method());
  EXPECT_TRUE(torch::equal(grown.prior_mu().slice(0, 0, 2), method.prior_mu()));
  EXPECT_TRUE(torch::equal(grown.prior_logvar().slice(0, 0, 2), method.prior_logvar()));
  EXPECT_TRUE(torch::equal(grown.latents()->mean.slice(0, 0, 2), method.latents()->mean));
  EXPECT_FALSE(torch::equal(grown.prior_mu()[2], grown.prior_mu()[0]));
  // The new style's renders move towards the 2D network's output for it (the tiny test AdaIN barely lowers this
  // style's loss itself, so the fit to its output is what training can be asked for). The decoder is fine-tuned
  // too (with the style weight 10 it moves within these steps), so both renders are compared with its final output.
  std::vector<at::Tensor> renders_before;
  for (int64_t k = 0; k < 4; ++k) renders_before.push_back(grown.RenderView(2, k));
  extended->Train();
  double new_before = 0, new_after = 0;
  for (int64_t k = 0; k < 4; ++k) {
    const at::Tensor target = grown.DecoderOutput(2, k).clamp(0, 1);
    new_before += (renders_before[static_cast<size_t>(k)] - target).pow(2).mean().item<double>();
    new_after += (grown.RenderView(2, k) - target).pow(2).mean().item<double>();
  }
  EXPECT_LT(new_after, 0.9 * new_before) << "new style's squared error to the 2D network's output: before "
                                         << new_before << ", after " << new_after;
  EXPECT_EQ(LoadRenderableRun(runs / "more", "cpu")->StyleNames().size(), 3u);
  more["extend_run"] = Tiny().nerf_run;
  EXPECT_NE(ErrorOf([&] {
              StartTraining("stylize", more, runs / "bad", {true, false});
            }).find("not a stylized run"),
            std::string::npos);
}

TEST(Stylize, BadInputsGetClearErrors) {
  testing::TempDir dir;
  auto start = [&](const nlohmann::json& config) {
    return ErrorOf([&] { StartTraining("stylize", config, dir / "run", {true, false}); });
  };
  nlohmann::json c = SmallConfig(1);
  c["styles"] = nlohmann::json::array();
  EXPECT_NE(start(c).find("no styles"), std::string::npos) << start(c);
  c = SmallConfig(1);
  const std::string not_image = dir / "style.png";
  std::ofstream(not_image) << "this is not a picture";
  c["styles"] = {not_image};
  EXPECT_NE(start(c).find("not a readable PNG/JPEG image"), std::string::npos) << start(c);
  c = SmallConfig(1);
  c["nerf_run"] = dir / "missing";
  EXPECT_NE(start(c).find("not a run folder"), std::string::npos) << start(c);
  // A run of another method.
  fs::create_directories(dir / "other");
  WriteRunJson(dir / "other", "lolnerf", nlohmann::json::object(), nlohmann::json::object());
  c["nerf_run"] = dir / "other";
  EXPECT_NE(start(c).find("not a nerf run"), std::string::npos) << start(c);
  // A nerf run without its trained density.
  fs::create_directories(dir / "empty");
  fs::copy_file(Tiny().nerf_run + "/run.json", dir / "empty/run.json");
  c["nerf_run"] = dir / "empty";
  EXPECT_NE(start(c).find("no checkpoint.pt"), std::string::npos) << start(c);
  c = SmallConfig(1);
  c["styles"] = {"procedural:nosuchkind"};
  EXPECT_NE(start(c).find("nosuchkind"), std::string::npos) << start(c);
  EXPECT_FALSE(fs::exists(dir / "run")) << "a failed start leaves no run folder";
  c = SmallConfig(1);
  c["consistency_wieght"] = 50;
  EXPECT_NE(start(c).find("consistency_wieght"), std::string::npos) << start(c);
}

}  // namespace
}  // namespace nerfedit
