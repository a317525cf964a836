#include "models2d/clip.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models2d/models2d_test_util.h"
#include "models2d/safetensors.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using testing::MaxAbsDiff;
using testing::Models2dFixture;

ClipConfig TinyClip(int64_t eos = 99) {
  ClipConfig c;
  c.text.vocab_size = 100;
  c.text.hidden_size = 32;
  c.text.intermediate_size = 64;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 4;
  c.text.max_position_embeddings = 16;
  c.text.eos_token_id = eos;
  c.vision.hidden_size = 48;
  c.vision.intermediate_size = 64;
  c.vision.num_hidden_layers = 2;
  c.vision.num_attention_heads = 4;
  c.vision.image_size = 32;
  c.vision.patch_size = 8;
  c.projection_dim = 24;
  return c;
}

TEST(ClipConfig, HfJsonRoundTripAndErrors) {
  ClipConfig c = TinyClip();
  c.vision.hidden_act = "gelu";
  ClipConfig back = ClipConfig::FromHfJson(c.ToHfJson());
  EXPECT_EQ(back.ToHfJson(), c.ToHfJson());
  EXPECT_EQ(back.vision.hidden_act, "gelu");
  // Keys transformers omits (equal to its defaults) take the defaults; unrelated keys are ignored.
  Json sparse = {{"model_type", "clip"}, {"text_config", {{"hidden_size", 64}, {"bos_token_id", 0}}},
                 {"vision_config", Json::object()}, {"initializer_factor", 1.0}};
  ClipConfig s = ClipConfig::FromHfJson(sparse);
  EXPECT_EQ(s.text.hidden_size, 64);
  EXPECT_EQ(s.text.num_hidden_layers, 12);
  EXPECT_EQ(s.vision.patch_size, 32);
  EXPECT_THROW(ClipConfig::FromHfJson({{"text_config", Json::object()}}), Error);
  Json bad = c.ToHfJson();
  bad["text_config"]["hidden_act"] = "relu";
  EXPECT_THROW(ClipConfig::FromHfJson(bad), Error);
  bad = c.ToHfJson();
  bad["vision_config"]["hidden_size"] = "wide";
  EXPECT_THROW(ClipConfig::FromHfJson(bad), Error);
}

TEST(Clip, ParameterNamesMirrorTransformers) {
  ClipModel model(TinyClip());
  TensorMap sd = StateDict(*model);
  for (const char* key :
       {"text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
        "text_model.encoder.layers.1.self_attn.q_proj.weight", "text_model.encoder.layers.0.self_attn.out_proj.bias",
        "text_model.encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.0.layer_norm2.bias",
        "text_model.final_layer_norm.weight", "vision_model.embeddings.class_embedding",
        "vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.position_embedding.weight",
        "vision_model.pre_layrnorm.weight", "vision_model.post_layernorm.bias", "visual_projection.weight",
        "text_projection.weight", "logit_scale"})
    EXPECT_TRUE(sd.count(key)) << key;
  EXPECT_FALSE(sd.count("visual_projection.bias"));
  EXPECT_FALSE(sd.count("vision_model.embeddings.patch_embedding.bias"));
  EXPECT_EQ(sd.at("vision_model.embeddings.position_embedding.weight").size(0), 17);
  EXPECT_EQ(sd.at("logit_scale").dim(), 0);
}

TEST(Clip, TextIsPooledAtTheEndToken) {
  ClipModel model(TinyClip(99));
  torch::NoGradGuard g;
  at::Tensor ids = torch::tensor({{50, 5, 7, 99, 0, 0}, {3, 99, 0, 0, 0, 0}}, torch::kLong);
  EXPECT_TRUE(torch::equal(model->EndTokenPositions(ids), torch::tensor({3, 1}, torch::kLong)));
  at::Tensor hidden = model->TextHiddenStates(ids);
  at::Tensor expected = model->text_projection(torch::stack({hidden[0][3], hidden[1][1]}));
  EXPECT_TRUE(torch::allclose(model->TextEmbeddingsUnnormalised(ids), expected));
  // Tokens after the end token cannot reach it through the causal mask.
  at::Tensor changed = ids.clone();
  changed.index_put_({0, 5}, 42);
  EXPECT_TRUE(torch::allclose(model->EncodeText(changed)[0], model->EncodeText(ids)[0]));
  EXPECT_NEAR(model->EncodeText(ids).norm(2, -1).min().item<double>(), 1.0, 1e-5);
  EXPECT_THROW(model->EncodeText(torch::tensor({{1, 2, 3}}, torch::kLong)), Error);  // no end token

  ClipModel legacy(TinyClip(2));  // openai/clip-* configs: the highest id marks the end
  EXPECT_TRUE(torch::equal(legacy->EndTokenPositions(torch::tensor({{1, 5, 98, 0}}, torch::kLong)),
                           torch::tensor({2}, torch::kLong)));
}

// The pooled paths (the last block at the pooled rows only; text cut after the last end token) equal pooling the
// full hidden states, in value and in gradient.
TEST(Clip, PooledEmbeddingsMatchTheFullHiddenStates) {
  ClipModel model(TinyClip(99));
  const at::Tensor px = torch::randn({3, 3, 32, 32}).requires_grad_(true);
  const at::Tensor full =
      model->visual_projection(model->vision_model->post_layernorm(model->ImageHiddenStates(px).select(1, 0)));
  const at::Tensor pooled = model->ImageEmbeddingsUnnormalised(px);
  EXPECT_LE(MaxAbsDiff(pooled, full), 1e-5);
  const at::Tensor w = torch::randn_like(full);
  const at::Tensor grad_full = torch::autograd::grad({(full * w).sum()}, {px})[0];
  const at::Tensor grad_pooled = torch::autograd::grad({(pooled * w).sum()}, {px})[0];
  EXPECT_LE(MaxAbsDiff(grad_pooled, grad_full), 1e-5);

  const at::Tensor ids = torch::tensor({{50, 5, 7, 99, 0, 0, 0, 0}, {3, 99, 0, 0, 0, 0, 0, 0}}, torch::kLong);
  const at::Tensor hidden = model->TextHiddenStates(ids);
  const at::Tensor text_full = model->text_projection(torch::stack({hidden[0][3], hidden[1][1]}));
  const at::Tensor text_pooled = model->TextEmbeddingsUnnormalised(ids);
  EXPECT_LE(MaxAbsDiff(text_pooled, text_full), 1e-5);
  const at::Tensor q = model->text_model->encoder->layers[1]->as<ClipEncoderLayer>()->self_attn->q_proj->weight;
  const at::Tensor wt = torch::randn_like(text_full);
  EXPECT_LE(MaxAbsDiff(torch::autograd::grad({(text_pooled * wt).sum()}, {q})[0],
                       torch::autograd::grad({(text_full * wt).sum()}, {q})[0]),
            1e-5);
}

TEST(Clip, TextAttentionIsCausal) {
  ClipModel model(TinyClip());
  torch::NoGradGuard g;
  at::Tensor ids = torch::randint(1, 98, {1, 12}, torch::kLong);
  at::Tensor changed = ids.clone();
  changed.index_put_({0, 6}, (ids[0][6].item<int64_t>() % 97) + 1);
  at::Tensor a = model->TextHiddenStates(ids), b = model->TextHiddenStates(changed);
  EXPECT_LE(MaxAbsDiff(a.slice(1, 0, 6), b.slice(1, 0, 6)), 1e-6);
  for (int64_t i = 6; i < 12; ++i) EXPECT_GT(MaxAbsDiff(a[0][i], b[0][i]), 1e-4) << "position " << i;
}

TEST(Clip, ImageAndDensePatchEmbeddingShapes) {
  ClipModel model(TinyClip());
  torch::NoGradGuard g;
  at::Tensor img = model->EncodeImage(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{2, 24}));
  at::Tensor dense = model->DensePatchEmbeddings(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(dense.sizes(), (std::vector<int64_t>{2, 4, 4, 24}));
  at::Tensor other = model->DensePatchEmbeddings(torch::randn({1, 3, 40, 56}));
  EXPECT_EQ(other.sizes(), (std::vector<int64_t>{1, 5, 7, 24}));
  EXPECT_LE(MaxAbsDiff(other.norm(2, -1), torch::ones({1, 5, 7})), 1e-5);
  EXPECT_EQ(model->ImageHiddenStates(torch::randn({1, 3, 24, 64})).sizes(), (std::vector<int64_t>{1, 1 + 3 * 8, 48}));
  // Resizing positions: a constant positional table stays constant at any grid.
  model->vision_model->embeddings->position_embedding->weight.fill_(0.5);
  model->vision_model->embeddings->class_embedding.zero_();
  model->vision_model->embeddings->patch_embedding->weight.zero_();
  at::Tensor emb = model->vision_model->embeddings->forward(torch::randn({1, 3, 40, 56}));
  EXPECT_LE(MaxAbsDiff(emb, torch::full_like(emb, 0.5)), 1e-6);
  EXPECT_THROW(model->EncodeImage(torch::randn({1, 4, 32, 32})), Error);
}

TEST(Clip, SafetensorsRoundTripOfWholeModelAndBundle) {
  ClipBundle bundle;
  bundle.config = TinyClip(515);
  bundle.config.text.vocab_size = 516;
  bundle.model = ClipModel(bundle.config);
  bundle.tokenizer = ClipTokenizer::FromMerges({{"c", "a"}, {"ca", "t</w>"}});
  testing::TempDir dir;
  SaveClipBundle(bundle, dir.path());
  ClipBundle loaded = LoadClipBundle(dir.path());
  EXPECT_EQ(loaded.config.ToHfJson(), bundle.config.ToHfJson());
  TensorMap a = StateDict(*bundle.model), b = StateDict(*loaded.model);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  torch::NoGradGuard g;
  at::Tensor ids = loaded.tokenizer.Tokenize({"a cat", "cat cat"}, 16);
  EXPECT_TRUE(torch::equal(loaded.model->EncodeText(ids), bundle.model->EncodeText(ids)));
  at::Tensor px = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(loaded.model->EncodeImage(px), bundle.model->EncodeImage(px)));

  // A mis-shaped tensor is named with both shapes.
  TensorMap broken = LoadSafetensors(dir / "model.safetensors");
  broken["visual_projection.weight"] = torch::zeros({24, 40});
  SaveSafetensors(dir / "model.safetensors", broken);
  try {
    LoadClip(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"visual_projection.weight\" has shape [24,40] but the module expects [24,48]"),
              std::string::npos)
        << e.what();
  }
}

TEST(Clip, PreprocessResizesCropsAndNormalises) {
  at::Tensor constant = torch::full({60, 90, 3}, 0.5f);
  at::Tensor out = ClipPreprocess(constant, 32);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_NEAR(out[0][5][7].item<float>(), (0.5 - 0.48145466) / 0.26862954, 1e-5);
  EXPECT_NEAR(out[2][31][0].item<float>(), (0.5 - 0.40821073) / 0.27577711, 1e-5);
  // Centre crop: a 32x64 image whose right half is white keeps columns 16..47, so white starts at column 16.
  at::Tensor halves = torch::zeros({32, 64, 3});
  halves.slice(1, 32).fill_(1.0);
  at::Tensor crop = ClipPreprocess(halves, 32);
  EXPECT_NEAR(crop[0][0][20].item<float>(), (1.0 - 0.48145466) / 0.26862954, 1e-5);
  EXPECT_NEAR(crop[0][0][10].item<float>(), (0.0 - 0.48145466) / 0.26862954, 1e-5);
  EXPECT_THROW(ClipPreprocess(torch::zeros({4, 4}), 32), Error);
}

TEST(Clip, CentredWindowsReplicateTheBorderAndMatchPreprocess) {
  // A 20x30 ramp: pixel (y, x) holds x / 29 in every channel.
  const at::Tensor ramp = (torch::arange(30, torch::kFloat) / 29.0f).view({1, 30, 1}).expand({20, 30, 3}).contiguous();
  const at::Tensor centres = torch::tensor({10, 15, 0, 0, 19, 29}, torch::kLong).view({3, 2});
  const at::Tensor windows = ClipCentredWindows(ramp, 8, centres, 8);
  ASSERT_EQ(windows.sizes(), (std::vector<int64_t>{3, 3, 8, 8}));
  const auto pixel = [](float v) { return (v - 0.48145466f) / 0.26862954f; };
  // Window 0 covers columns 11..18; window 1 columns -4..3, whose left half replicates column 0.
  EXPECT_NEAR(windows[0][0][3][0].item<float>(), pixel(11 / 29.0f), 1e-5);
  EXPECT_NEAR(windows[0][0][3][7].item<float>(), pixel(18 / 29.0f), 1e-5);
  EXPECT_NEAR(windows[1][0][0][0].item<float>(), pixel(0.0f), 1e-5);
  EXPECT_NEAR(windows[1][0][0][7].item<float>(), pixel(3 / 29.0f), 1e-5);
  EXPECT_NEAR(windows[2][0][7][7].item<float>(), pixel(1.0f), 1e-5);  // right edge replicated
  // Resized to another input size, each window is what ClipPreprocess makes of the cut window.
  const at::Tensor resized = ClipCentredWindows(ramp, 8, centres, 12);
  const at::Tensor cut = ramp.slice(0, 6, 14).slice(1, 11, 19);
  EXPECT_LE((resized[0] - ClipPreprocess(cut, 12)).abs().max().item<float>(), 1e-6);
  EXPECT_THROW(ClipCentredWindows(ramp, 8, torch::tensor({20, 0}, torch::kLong).view({1, 2}), 8), Error);
  EXPECT_THROW(ClipCentredWindows(ramp, 8, torch::tensor({1, 2, 3}, torch::kLong), 8), Error);
}

// transformers' outputs for the same weights and inputs (fixtures made by scripts/fixtures/make_models2d_fixtures.py).
void ExpectMatchesFixture(ClipModel& model, const TensorMap& io, bool with_hidden) {
  torch::NoGradGuard g;
  const at::Tensor& ids = io.at("input_ids");
  const at::Tensor& px = io.at("pixel_values");
  EXPECT_LE(MaxAbsDiff(model->TextEmbeddingsUnnormalised(ids), io.at("text_features")), 1e-4);
  EXPECT_LE(MaxAbsDiff(model->ImageEmbeddingsUnnormalised(px), io.at("image_features")), 1e-4);
  at::Tensor t = model->EncodeText(ids), i = model->EncodeImage(px);
  EXPECT_LE(MaxAbsDiff(t, io.at("text_embeds")), 1e-4);
  EXPECT_LE(MaxAbsDiff(i, io.at("image_embeds")), 1e-4);
  EXPECT_LE(MaxAbsDiff(model->LogitsPerImage(i, t), io.at("logits_per_image")), 1e-3);
  at::Tensor dense = model->DensePatchEmbeddings(io.at("pixel_values_other"));
  EXPECT_LE(MaxAbsDiff(dense.flatten(1, 2), io.at("dense_other")), 1e-4);
  if (with_hidden) {
    EXPECT_LE(MaxAbsDiff(model->TextHiddenStates(ids), io.at("text_last_hidden")), 1e-4);
    EXPECT_LE(MaxAbsDiff(model->ImageHiddenStates(px), io.at("vision_last_hidden")), 1e-4);
    EXPECT_LE(MaxAbsDiff(model->ImageHiddenStates(io.at("pixel_values_other")), io.at("vision_last_hidden_other")),
              1e-4);
  }
}

TEST(Clip, MatchesTransformersTinyFixture) {
  const std::string dir = Models2dFixture("clip_tiny");
  if (!std::filesystem::exists(dir + "/io.safetensors"))
    GTEST_SKIP() << dir << " is absent: it needs transformers (run scripts/fixtures/make_models2d_fixtures.py "
                 << "--only clip on a machine that has it)";
  ClipModel model = LoadClip(dir);
  TensorMap io = LoadSafetensors(dir + "/io.safetensors");
  for (auto& [k, v] : io)
    if (k == "input_ids") v = v.to(torch::kLong);
  ExpectMatchesFixture(model, io, true);
}

TEST(Clip, MatchesTransformersViTB32Fixture) {
  const std::string dir = Models2dFixture("clip_b32");
  if (!std::filesystem::exists(dir + "/io.safetensors"))
    GTEST_SKIP() << dir << " is absent: it needs transformers (run scripts/fixtures/make_models2d_fixtures.py "
                 << "--only clip on a machine that has it)";
  ClipConfig config = ClipConfig::FromHfJson(ReadJsonFile(dir + "/config.json"), dir + "/config.json");
  EXPECT_EQ(config.vision.patch_size, 32);
  ClipModel model(config);
  TensorMap io = LoadSafetensors(dir + "/io.safetensors");
  TensorMap weights = testing::SeededStateDict(StateDict(*model), 2000, "transformer");
  for (const auto& [name, w] : weights)
    ASSERT_NEAR(w.to(torch::kDouble).sum().item<double>(), io.at("weight_sum." + name).item<double>(),
                1e-3 * (1 + std::abs(io.at("weight_sum." + name).item<double>())))
        << "seeded recipe differs from the fixture's for " << name;
  LoadStateDict(*model, weights, "seeded ViT-B/32 weights");
  model->eval();
  ExpectMatchesFixture(model, io, false);
}

}  // namespace
}  // namespace nerfedit
