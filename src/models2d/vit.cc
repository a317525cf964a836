#include "models2d/vit.h"

#include <torch/torch.h>

#include <filesystem>

#include "models2d/hf_config.h"
#include "models2d/safetensors.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

namespace F = torch::nn::functional;

}  // namespace

VitConfig VitConfig::FromHfJson(const Json& json, const std::string& context) {
  NE_CHECK(json.is_object(), context, ": expected a JSON object");
  if (json.contains("model_type")) {
    const std::string type = json["model_type"].is_string() ? json["model_type"].get<std::string>() : "";
    NE_CHECK(type == "vit" || type == "dino", context, ": model_type is \"", type, "\", expected \"vit\"");
  }
  VitConfig c;
  for (const char* key : {"hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size"})
    NE_CHECK(json.contains(key), context, ": missing required key \"", key, "\"");
  ReadHfKeyIfPresent(json, "hidden_size", &c.hidden_size, context);
  ReadHfKeyIfPresent(json, "num_hidden_layers", &c.num_hidden_layers, context);
  ReadHfKeyIfPresent(json, "num_attention_heads", &c.num_attention_heads, context);
  ReadHfKeyIfPresent(json, "intermediate_size", &c.intermediate_size, context);
  ReadHfKeyIfPresent(json, "hidden_act", &c.hidden_act, context);
  ReadHfKeyIfPresent(json, "layer_norm_eps", &c.layer_norm_eps, context);
  ReadHfKeyIfPresent(json, "image_size", &c.image_size, context);
  ReadHfKeyIfPresent(json, "patch_size", &c.patch_size, context);
  ReadHfKeyIfPresent(json, "num_channels", &c.num_channels, context);
  ReadHfKeyIfPresent(json, "qkv_bias", &c.qkv_bias, context);
  c.Check(context);
  return c;
}

Json VitConfig::ToHfJson() const {
  return {{"architectures", {"ViTModel"}}, {"model_type", "vit"},
          {"hidden_size", hidden_size},    {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads}, {"intermediate_size", intermediate_size},
          {"hidden_act", hidden_act},      {"layer_norm_eps", layer_norm_eps},
          {"image_size", image_size},      {"patch_size", patch_size},
          {"num_channels", num_channels},  {"qkv_bias", qkv_bias}};
}

void VitConfig::Check(const std::string& context) const {
  NE_CHECK(hidden_size > 0 && num_attention_heads > 0 && hidden_size % num_attention_heads == 0, context,
           ": hidden_size ", hidden_size, " must be a positive multiple of num_attention_heads ", num_attention_heads);
  NE_CHECK(num_hidden_layers > 0 && intermediate_size > 0 && num_channels > 0, context,
           ": num_hidden_layers, intermediate_size and num_channels must be > 0");
  NE_CHECK(patch_size > 0 && image_size % patch_size == 0 && image_size >= patch_size, context, ": image_size ",
           image_size, " is not a multiple of patch_size ", patch_size);
  NE_CHECK(hidden_act == "gelu" || hidden_act == "quick_gelu", context, ": hidden_act is \"", hidden_act,
           "\", expected gelu or quick_gelu");
}

VitSelfAttentionImpl::VitSelfAttentionImpl(const VitConfig& c) : heads(c.num_attention_heads) {
  auto lin = [&] { return torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.hidden_size).bias(c.qkv_bias)); };
  query = register_module("query", lin());
  key = register_module("key", lin());
  value = register_module("value", lin());
}

at::Tensor VitSelfAttentionImpl::forward(const at::Tensor& x) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2), hd = d / heads;
  auto split = [&](const at::Tensor& t) { return t.view({b, l, heads, hd}).transpose(1, 2); };
  at::Tensor scores = torch::matmul(split(query(x)), split(key(x)).transpose(-1, -2)) / std::sqrt(double(hd));
  at::Tensor out = torch::matmul(torch::softmax(scores, -1), split(value(x)));
  return out.transpose(1, 2).reshape({b, l, d});
}

VitAttentionImpl::VitAttentionImpl(const VitConfig& c) {
  attention = register_module("attention", VitSelfAttention(c));
  output = register_module("output", VitDense(c.hidden_size, c.hidden_size));
}

VitLayerImpl::VitLayerImpl(const VitConfig& c) : act(c.hidden_act) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
  attention = register_module("attention", VitAttention(c));
  intermediate = register_module("intermediate", VitDense(c.hidden_size, c.intermediate_size));
  output = register_module("output", VitDense(c.intermediate_size, c.hidden_size));
  layernorm_before = register_module("layernorm_before", ln());
  layernorm_after = register_module("layernorm_after", ln());
}

at::Tensor VitLayerImpl::forward(const at::Tensor& x) {
  at::Tensor h = x + attention->output->dense(attention->attention->forward(layernorm_before(x)));
  return h + output->dense(HfActivation(intermediate->dense(layernorm_after(h)), act, "ViT"));
}

VitEncoderImpl::VitEncoderImpl(const VitConfig& c) {
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(VitLayer(c));
  register_module("layer", layer);
}

VitPatchEmbeddingsImpl::VitPatchEmbeddingsImpl(const VitConfig& c) {
  projection = register_module(
      "projection",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size).stride(c.patch_size)));
}

VitEmbeddingsImpl::VitEmbeddingsImpl(const VitConfig& c) : patch_size(c.patch_size), grid(c.image_size / c.patch_size) {
  cls_token = register_parameter("cls_token", torch::randn({1, 1, c.hidden_size}) * 0.02);
  position_embeddings = register_parameter("position_embeddings", torch::randn({1, grid * grid + 1, c.hidden_size}) * 0.02);
  patch_embeddings = register_module("patch_embeddings", VitPatchEmbeddings(c));
}

at::Tensor VitEmbeddingsImpl::forward(const at::Tensor& pixels, int64_t* grid_h, int64_t* grid_w) {
  const int64_t channels = patch_embeddings->projection->weight.size(1);
  NE_CHECK(pixels.dim() == 4 && pixels.size(1) == channels, "ViT: pixels must be [B,", channels, ",H,W], got ",
           pixels.sizes());
  NE_CHECK(pixels.size(2) % patch_size == 0 && pixels.size(3) % patch_size == 0 && pixels.size(2) > 0 &&
               pixels.size(3) > 0,
           "ViT: image ", pixels.size(2), "x", pixels.size(3), " is not a multiple of the patch size ", patch_size);
  at::Tensor patches = patch_embeddings->projection(pixels.to(cls_token.device(), cls_token.scalar_type()));
  const int64_t b = patches.size(0), d = patches.size(1), h = patches.size(2), w = patches.size(3);
  *grid_h = h;
  *grid_w = w;
  at::Tensor pos = position_embeddings;
  if (h != grid || w != grid) {  // HF ViTEmbeddings.interpolate_pos_encoding: bicubic, align_corners=False
    at::Tensor patch_pos = pos.slice(1, 1).reshape({1, grid, grid, d}).permute({0, 3, 1, 2});
    patch_pos = F::interpolate(patch_pos, F::InterpolateFuncOptions()
                                              .size(std::vector<int64_t>{h, w})
                                              .mode(torch::kBicubic)
                                              .align_corners(false));
    pos = torch::cat({pos.slice(1, 0, 1), patch_pos.permute({0, 2, 3, 1}).reshape({1, h * w, d})}, 1);
  }
  at::Tensor tokens = torch::cat({cls_token.expand({b, 1, d}), patches.flatten(2).transpose(1, 2)}, 1);
  return tokens + pos;
}

VitModelImpl::VitModelImpl(const VitConfig& config) : config_(config) {
  config_.Check();
  embeddings = register_module("embeddings", VitEmbeddings(config));
  encoder = register_module("encoder", VitEncoder(config));
  layernorm = register_module(
      "layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
}

double VitModelImpl::TypicalMacs(const at::Tensor& pixels) const {
  const int64_t p = config_.patch_size, d = config_.hidden_size;
  const int64_t tokens = pixels.dim() == 4 ? pixels.size(0) * (1 + (pixels.size(2) / p) * (pixels.size(3) / p)) : 0;
  return static_cast<double>(tokens) * d * d;
}

at::Tensor VitModelImpl::forward(const at::Tensor& pixels) {
  ThreadPolicyScope threads(ThreadWork::kMatmul, TypicalMacs(pixels));
  int64_t h = 0, w = 0;
  at::Tensor x = embeddings->forward(threads.Input(pixels), &h, &w);
  for (const auto& l : *encoder->layer) x = l->as<VitLayer>()->forward(x);
  return threads.Output(layernorm(x));
}

at::Tensor VitModelImpl::DenseFeatures(const at::Tensor& pixels, const std::string& facet) {
  NE_CHECK(facet == "tokens" || facet == "keys", "ViT DenseFeatures: facet is \"", facet,
           "\", expected \"tokens\" or \"keys\"");
  ThreadPolicyScope threads(ThreadWork::kMatmul, TypicalMacs(pixels));
  int64_t h = 0, w = 0;
  at::Tensor x = embeddings->forward(threads.Input(pixels), &h, &w);
  auto& layers = *encoder->layer;
  at::Tensor features;
  if (facet == "tokens") {
    for (const auto& l : layers) x = l->as<VitLayer>()->forward(x);
    features = layernorm(x);
  } else {
    for (size_t i = 0; i + 1 < layers.size(); ++i) x = layers[i]->as<VitLayer>()->forward(x);
    auto last = layers[layers.size() - 1]->as<VitLayer>();
    features = last->attention->attention->key(last->layernorm_before(x));
  }
  return threads.Output(features.slice(1, 1).reshape({features.size(0), h, w, features.size(2)}));
}

at::Tensor VitModelImpl::ClassToken(const at::Tensor& pixels) { return forward(pixels).select(1, 0); }

VitModel LoadVit(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  VitModel model(VitConfig::FromHfJson(ReadJsonFile(config_path), config_path));
  LoadStateDictOptions options;
  options.rename = [](const std::string& name) {
    std::string n = name.rfind("vit.", 0) == 0 ? name.substr(4) : name;
    if (n.rfind("pooler.", 0) == 0 || n.rfind("classifier.", 0) == 0 || n == "embeddings.mask_token") return std::string();
    return n;
  };
  const std::string weights = dir + "/model.safetensors";
  LoadStateDict(*model, LoadSafetensors(weights), weights, options);
  model->eval();
  return model;
}

void SaveVit(VitModel model, const std::string& dir) {
  std::filesystem::create_directories(dir);
  WriteTextAtomically(dir + "/config.json", model->config().ToHfJson().dump(2) + "\n");
  TensorMap tensors = StateDict(*model);
  for (auto& [name, t] : tensors) t = t.to(torch::kFloat);
  SaveSafetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
}

}  // namespace nerfedit
