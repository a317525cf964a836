#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models2d/models2d_test_util.h"
#include "models2d/safetensors.h"
#include "models2d/vgg.h"
#include "models2d/vit.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using testing::MaxAbsDiff;
using testing::Models2dFixture;

TEST(Vgg19, MatchesTorchvisionFixture) {
  const std::string io_path = Models2dFixture("vgg19/io.safetensors");
  if (!std::filesystem::exists(io_path)) GTEST_SKIP() << io_path << " is absent: run make_models2d_fixtures.py";
  torch::NoGradGuard no_grad;
  TensorMap io = LoadSafetensors(io_path);
  Vgg19 fresh;
  TensorMap weights = testing::SeededStateDict(StateDict(*fresh), 1000, "vgg");
  for (const auto& [name, w] : weights)
    ASSERT_NEAR(w.to(torch::kDouble).sum().item<double>(), io.at("weight_sum." + name).item<double>(),
                1e-3 * (1 + std::abs(io.at("weight_sum." + name).item<double>())))
        << "seeded recipe differs from the fixture's for " << name;
  testing::TempDir dir;
  SaveSafetensors(dir / "vgg19.safetensors", weights);
  Vgg19 vgg = LoadVgg19(dir / "vgg19.safetensors");
  Vgg19Features f = vgg->forward(io.at("input"));
  const std::pair<const char*, at::Tensor*> outs[] = {{"relu1_1", &f.relu1_1}, {"relu2_1", &f.relu2_1},
                                                      {"relu3_1", &f.relu3_1}, {"relu4_1", &f.relu4_1},
                                                      {"relu4_2", &f.relu4_2}, {"relu5_1", &f.relu5_1}};
  for (const auto& [name, t] : outs) {
    ASSERT_EQ(t->sizes(), io.at(name).sizes()) << name;
    EXPECT_GT(io.at(name).abs().max().item<double>(), 1e-2) << name << " is degenerate";
    EXPECT_LE(MaxAbsDiff(*t, io.at(name)), 1e-4) << name;
  }
}

TEST(Vgg19, ShapesAndTorchvisionNames) {
  Vgg19 vgg;
  TensorMap sd = StateDict(*vgg);
  EXPECT_EQ(sd.size(), 32u);
  EXPECT_EQ(sd.at("features.0.weight").sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(sd.at("features.34.bias").sizes(), (std::vector<int64_t>{512}));
  torch::NoGradGuard g;
  Vgg19Features f = vgg->forward(ImageNetNormalize(torch::rand({2, 3, 32, 48})));
  EXPECT_EQ(f.relu1_1.sizes(), (std::vector<int64_t>{2, 64, 32, 48}));
  EXPECT_EQ(f.relu3_1.sizes(), (std::vector<int64_t>{2, 256, 8, 12}));
  EXPECT_EQ(f.relu4_2.sizes(), (std::vector<int64_t>{2, 512, 4, 6}));
  EXPECT_EQ(f.relu5_1.sizes(), (std::vector<int64_t>{2, 512, 2, 3}));
  EXPECT_THROW(vgg->forward(torch::rand({1, 4, 32, 32})), Error);
}

TEST(Vgg19, StopsAtTheLastRequestedLayer) {
  Vgg19 vgg;
  for (at::Tensor& p : vgg->parameters()) p.requires_grad_(false);
  const at::Tensor x = ImageNetNormalize(torch::rand({1, 3, 16, 24})).requires_grad_(true);
  const Vgg19Features all = vgg->forward(x);
  const Vgg19Features upto = vgg->forward(x, "relu4_1");
  EXPECT_TRUE(torch::equal(upto.relu4_1, all.relu4_1));
  EXPECT_TRUE(torch::equal(upto.relu1_1, all.relu1_1));
  EXPECT_FALSE(upto.relu4_2.defined());
  EXPECT_FALSE(upto.relu5_1.defined());
  // Gradients reach the pixels through the in-place ReLUs.
  const at::Tensor grad = torch::autograd::grad({upto.relu4_1.sum() + upto.relu1_1.mean()}, {x})[0];
  EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
  EXPECT_NO_THROW(vgg->forward(torch::rand({1, 3, 8, 8}), "relu4_1"));
  EXPECT_THROW(vgg->forward(torch::rand({1, 3, 7, 8}), "relu4_1"), Error);
  EXPECT_THROW(vgg->forward(x, "relu6_1"), Error);
}

VitConfig TinyVit() {
  VitConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.image_size = 32;
  c.patch_size = 8;
  return c;
}

TEST(Vit, DenseFeatureShapesAtAnySize) {
  VitModel vit(TinyVit());
  torch::NoGradGuard g;
  EXPECT_EQ(vit->DenseFeatures(torch::randn({2, 3, 32, 32}), "tokens").sizes(), (std::vector<int64_t>{2, 4, 4, 32}));
  EXPECT_EQ(vit->DenseFeatures(torch::randn({1, 3, 48, 40}), "keys").sizes(), (std::vector<int64_t>{1, 6, 5, 32}));
  at::Tensor x = torch::randn({2, 3, 24, 56});
  EXPECT_TRUE(torch::allclose(vit->ClassToken(x), vit->forward(x).select(1, 0)));
  EXPECT_TRUE(torch::allclose(vit->DenseFeatures(x, "tokens").reshape({2, 21, 32}), vit->forward(x).slice(1, 1)));
  EXPECT_THROW(vit->DenseFeatures(torch::randn({1, 3, 30, 32})), Error);
  EXPECT_THROW(vit->DenseFeatures(x, "values"), Error);
}

TEST(Vit, HfNamesAndSaveLoadRoundTrip) {
  VitModel vit(TinyVit());
  TensorMap sd = StateDict(*vit);
  for (const char* key : {"embeddings.cls_token", "embeddings.position_embeddings",
                          "embeddings.patch_embeddings.projection.weight",
                          "encoder.layer.1.attention.attention.query.weight", "encoder.layer.0.attention.output.dense.bias",
                          "encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.output.dense.weight",
                          "encoder.layer.1.layernorm_before.weight", "encoder.layer.1.layernorm_after.bias",
                          "layernorm.weight"})
    EXPECT_TRUE(sd.count(key)) << key;
  testing::TempDir dir;
  SaveVit(vit, dir.path());
  VitModel loaded = LoadVit(dir.path());
  torch::NoGradGuard g;
  at::Tensor x = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(loaded->forward(x), vit->forward(x)));
}

TEST(Vit, MatchesTransformersFixture) {
  const std::string dir = Models2dFixture("vit_tiny");
  if (!std::filesystem::exists(dir + "/io.safetensors"))
    GTEST_SKIP() << dir << " is absent: it needs transformers (run scripts/fixtures/make_models2d_fixtures.py "
                 << "--only vit on a machine that has it)";
  torch::NoGradGuard g;
  VitModel vit = LoadVit(dir);
  TensorMap io = LoadSafetensors(dir + "/io.safetensors");
  EXPECT_LE(MaxAbsDiff(vit->forward(io.at("pixel_values")), io.at("last_hidden")), 1e-4);
  EXPECT_LE(MaxAbsDiff(vit->forward(io.at("pixel_values_other")), io.at("last_hidden_other")), 1e-4);
  at::Tensor keys = vit->DenseFeatures(io.at("pixel_values"), "keys");
  EXPECT_LE(MaxAbsDiff(keys.flatten(1, 2), io.at("keys").slice(1, 1)), 1e-4);
  at::Tensor keys_other = vit->DenseFeatures(io.at("pixel_values_other"), "keys");
  EXPECT_LE(MaxAbsDiff(keys_other.flatten(1, 2), io.at("keys_other").slice(1, 1)), 1e-4);
}

}  // namespace
}  // namespace nerfedit
