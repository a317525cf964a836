#include "models2d/adain.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(Adain, OutputStatisticsEqualTheStyles) {
  // Content and style with very different per-channel statistics and spatial sizes.
  const at::Tensor content = torch::randn({2, 5, 7, 9}) * 3 + 2;
  const at::Tensor style = torch::randn({2, 5, 4, 6}) * torch::rand({2, 5, 1, 1}) * 4 - torch::rand({2, 5, 1, 1});
  const at::Tensor out = AdaptiveInstanceNorm(content, style);
  ASSERT_EQ(out.sizes(), content.sizes());
  at::Tensor om, os, sm, ss, cm, cs;
  MeanStd(out, &om, &os);
  MeanStd(style, &sm, &ss);
  EXPECT_TRUE(torch::allclose(om, sm, 1e-4, 1e-4)) << om << sm;
  EXPECT_TRUE(torch::allclose(os, ss, 1e-3, 1e-4)) << os << ss;
  // Structure kept: per channel, the output is an increasing affine map of the content.
  MeanStd(content, &cm, &cs);
  const at::Tensor normalised = (content - cm.unsqueeze(2).unsqueeze(3)) / cs.unsqueeze(2).unsqueeze(3);
  const at::Tensor expected = normalised * ss.unsqueeze(2).unsqueeze(3) + sm.unsqueeze(2).unsqueeze(3);
  EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5));
  // The statistics are the biased ones the authors' code uses.
  EXPECT_NEAR(sm[0][0].item<float>(), style[0][0].mean().item<float>(), 1e-5);
  EXPECT_NEAR(ss[0][0].item<float>(), std::sqrt(style[0][0].var(false).item<float>() + 1e-5), 1e-5);
}

TEST(Adain, EncoderAndDecoderLayout) {
  AdainEncoder narrow(4, false, 0);
  const StyleFeatures f = narrow->forward(torch::rand({2, 3, 32, 40}));
  EXPECT_EQ(f[0].sizes(), (at::IntArrayRef{2, 16, 32, 40}));
  EXPECT_EQ(f[1].sizes(), (at::IntArrayRef{2, 32, 16, 20}));
  EXPECT_EQ(f[2].sizes(), (at::IntArrayRef{2, 64, 8, 10}));
  EXPECT_EQ(f[3].sizes(), (at::IntArrayRef{2, 128, 4, 5}));
  for (const auto& p : narrow->parameters()) EXPECT_FALSE(p.requires_grad());
  // Random fixed weights: the same seed gives the same encoder, another seed another one.
  const at::Tensor x = torch::rand({1, 3, 16, 16});
  EXPECT_TRUE(torch::equal(narrow->forward(x)[3], AdainEncoder(4, false, 0)->forward(x)[3]));
  EXPECT_FALSE(torch::allclose(narrow->forward(x)[3], AdainEncoder(4, false, 1)->forward(x)[3]));
  // Every tap carries signal (He initialisation): no layer is dead.
  for (int i = 0; i < 4; ++i) EXPECT_GT(f[i].gt(0).to(torch::kFloat).mean().item<float>(), 0.1f) << i;
  AdainDecoder decoder(4);
  EXPECT_EQ(decoder->forward(f[3]).sizes(), (at::IntArrayRef{2, 3, 32, 40}));
  // The torchvision VGG-19 variant has VGG-19's widths.
  AdainEncoder vgg(1, true, 0);
  EXPECT_EQ(vgg->forward(torch::rand({1, 3, 16, 16}))[3].size(1), 512);
  EXPECT_EQ(vgg->relu4_1_channels(), 512);
}

TEST(Adain, StylizeAnySizeAndOneStyleForABatch) {
  AdainNet net(AdainOptions().width_divisor(8));
  torch::NoGradGuard no_grad;
  const at::Tensor out = net->Stylize(torch::rand({2, 3, 21, 30}), torch::rand({1, 3, 16, 24}));
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{2, 3, 21, 30}));
  EXPECT_GE(out.min().item<float>(), 0.0f);
  EXPECT_LE(out.max().item<float>(), 1.0f);
  EXPECT_NE(ErrorOf([&] { net->Stylize(torch::rand({2, 3, 16, 16}), torch::rand({3, 3, 16, 16})); })
                .find("3 style images for 2 content images"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { net->Stylize(torch::rand({1, 3, 4, 16}), torch::rand({1, 3, 16, 16})); })
                .find("H, W >= 8"),
            std::string::npos);
}

TEST(Adain, IdentityLossDecodesTheContentsOwnFeatures) {
  AdainNet net(AdainOptions().width_divisor(8));
  const at::Tensor c = torch::rand({2, 3, 16, 16}), s = torch::rand({2, 3, 16, 16});
  const AdainLosses with = net->Losses(c, s, true), without = net->Losses(c, s, false);
  ASSERT_TRUE(with.identity.defined());
  EXPECT_FALSE(without.identity.defined());
  torch::NoGradGuard no_grad;
  const at::Tensor recon = net->decoder->forward(net->encoder->forward(c)[3]);
  EXPECT_NEAR(with.identity.item<float>(), (recon - c).pow(2).mean().item<float>(), 1e-5);
  // The stylised half of the shared decoder pass is the same as decoding t alone.
  EXPECT_TRUE(torch::allclose(with.output, without.output, 1e-5, 1e-5));
  EXPECT_NEAR(with.style.item<float>(), without.style.item<float>(), 1e-4);
}

TEST(Adain, OptionsRoundTripAndRejectUnknownKeys) {
  const AdainOptions o = AdainOptions().steps(17).lr(3e-4).style_images({"a.png"});
  EXPECT_EQ(AdainOptions::FromJson(o.ToJson()).ToJson(), o.ToJson());
  nlohmann::json bad = o.ToJson();
  bad["style_wieght"] = 1;
  EXPECT_NE(ErrorOf([&] { AdainOptions::FromJson(bad); }).find("style_wieght"), std::string::npos);
  EXPECT_NE(ErrorOf([] { AdainOptions().image_size(30).Check(); }).find("image_size"), std::string::npos);
  EXPECT_NE(ErrorOf([] { AdainOptions().vgg_weights("v.safetensors").Check(); }).find("width_divisor 1"),
            std::string::npos);
}

TEST(Adain, ContentImagesAreSeededRenders) {
  const at::Tensor a = RenderContentImage(5, 32);
  EXPECT_EQ(a.sizes(), (at::IntArrayRef{3, 32, 32}));
  EXPECT_TRUE(torch::equal(a, RenderContentImage(5, 32)));
  EXPECT_GT((a - RenderContentImage(6, 32)).abs().mean().item<float>(), 0.01f);
}

// A short training run must cut the held-out losses far below an untrained decoder's (a random decoder's output has
// neither the content's relu4_1 nor the style's statistics), and the saved network must come back identical.
TEST(Adain, TrainingLearnsAndTheCacheRoundTrips) {
  TempDir dir;
  const AdainOptions options = AdainOptions()
                                   .width_divisor(8)
                                   .image_size(32)
                                   .steps(400)
                                   .batch_size(4)
                                   .content_pool(24)
                                   .style_pool(24)
                                   .eval_pairs(8)
                                   .progress(false);
  AdainNet trained{nullptr};
  const AdainTrainResult r = TrainAdain(options, dir / "adain", &trained);
  const double before = r.initial_content_loss + options.style_weight() * r.initial_style_loss +
                        options.identity_weight() * r.initial_identity_loss;
  const double after = r.final_content_loss + options.style_weight() * r.final_style_loss +
                       options.identity_weight() * r.final_identity_loss;
  EXPECT_LT(after, 0.6 * before) << "content " << r.initial_content_loss << " -> " << r.final_content_loss
                                 << ", style " << r.initial_style_loss << " -> " << r.final_style_loss;
  EXPECT_LT(r.final_style_loss, 0.6 * r.initial_style_loss);
  EXPECT_LT(r.final_identity_loss, 0.3 * r.initial_identity_loss);  // the decoder learnt to invert the encoder
  EXPECT_EQ(r.steps, 400);
  ASSERT_FALSE(r.curve.empty());

  ASSERT_TRUE(IsCurrentAdain(dir / "adain", options));
  EXPECT_TRUE(IsCurrentAdain(dir / "adain", AdainOptions(options).progress(true)));  // progress is not a config
  EXPECT_TRUE(IsCurrentAdain(dir / "adain", AdainOptions(options).threads(2)));      // nor are threads
  EXPECT_FALSE(IsCurrentAdain(dir / "adain", AdainOptions(options).seed(1)));       // another config: retrain
  EXPECT_FALSE(IsCurrentAdain(dir / "absent", options));

  AdainNet loaded = LoadAdain(dir / "adain");
  torch::NoGradGuard no_grad;
  const at::Tensor c = torch::rand({1, 3, 24, 24}), s = torch::rand({1, 3, 16, 16});
  EXPECT_TRUE(torch::equal(trained->Stylize(c, s), loaded->Stylize(c, s)));
  bool trained_now = true;
  EnsureAdain(options, dir / "adain", &trained_now);
  EXPECT_FALSE(trained_now);

  // A cache of another format version is stale: not misread, retrained.
  nlohmann::json j = ReadJsonFile(dir / "adain/adain_training.json");
  j["format_version"] = kAdainFormatVersion + 1;
  WriteTextAtomically(dir / "adain/adain_training.json", j.dump());
  EXPECT_FALSE(IsCurrentAdain(dir / "adain", options));
  EXPECT_NE(ErrorOf([&] { LoadAdain(dir / "adain"); }).find("format_version"), std::string::npos);
}

}  // namespace
}  // namespace nerfedit
