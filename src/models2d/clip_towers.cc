// CLIP's transformer blocks and its two towers (text, vision), in HF CLIPModel's parameter layout.
#include <torch/torch.h>

#include <cmath>

#include "models2d/clip.h"
#include "util/error.h"

namespace nerfedit {
namespace {

namespace F = torch::nn::functional;

at::Tensor Activation(const at::Tensor& x, const std::string& act) {
  if (act == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (act == "gelu") return torch::gelu(x);
  NE_FAIL("CLIP: unknown hidden_act \"", act, "\" (expected quick_gelu or gelu)");
}

void NormalInit(const at::Tensor& t, double std) {
  torch::NoGradGuard g;
  t.normal_(0.0, std);
}

// Positional embeddings of a square grid [1+g*g, D] resized to an h x w grid, as HF's interpolate_pos_encoding:
// bicubic, align_corners=False, the class position untouched.
at::Tensor ResizePositions(const at::Tensor& pos, int64_t grid, int64_t h, int64_t w) {
  if (h == grid && w == grid) return pos;
  const int64_t dim = pos.size(1);
  at::Tensor patch = pos.slice(0, 1).reshape({1, grid, grid, dim}).permute({0, 3, 1, 2});
  patch = F::interpolate(patch, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{h, w})
                                    .mode(torch::kBicubic)
                                    .align_corners(false));
  return torch::cat({pos.slice(0, 0, 1), patch.permute({0, 2, 3, 1}).reshape({h * w, dim})}, 0);
}

}  // namespace

ClipAttentionImpl::ClipAttentionImpl(int64_t dim, int64_t heads, int64_t num_layers) : heads(heads) {
  NE_CHECK(heads > 0 && dim % heads == 0, "CLIP: hidden_size ", dim, " is not divisible by num_attention_heads ",
           heads);
  q_proj = register_module("q_proj", torch::nn::Linear(dim, dim));
  k_proj = register_module("k_proj", torch::nn::Linear(dim, dim));
  v_proj = register_module("v_proj", torch::nn::Linear(dim, dim));
  out_proj = register_module("out_proj", torch::nn::Linear(dim, dim));
  // HF CLIPPreTrainedModel._init_weights (factor 1): scaled normal weights, zero biases.
  const double in_std = std::pow(dim, -0.5) * std::pow(2.0 * num_layers, -0.5);
  for (auto* l : {&q_proj, &k_proj, &v_proj}) NormalInit((*l)->weight, in_std);
  NormalInit(out_proj->weight, std::pow(dim, -0.5));
  torch::NoGradGuard g;
  for (auto* l : {&q_proj, &k_proj, &v_proj, &out_proj}) (*l)->bias.zero_();
}

at::Tensor ClipAttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2), hd = d / heads;
  auto split = [&](const at::Tensor& t) { return t.view({b, l, heads, hd}).transpose(1, 2); };  // [B,H,L,hd]
  at::Tensor q = split(q_proj(x) * std::pow(static_cast<double>(hd), -0.5));
  at::Tensor k = split(k_proj(x));
  at::Tensor v = split(v_proj(x));
  at::Tensor scores = torch::matmul(q, k.transpose(-1, -2));  // [B,H,L,L]
  if (mask.defined()) scores = scores + mask;
  at::Tensor out = torch::matmul(torch::softmax(scores, -1), v);
  return out_proj(out.transpose(1, 2).reshape({b, l, d}));
}

ClipMlpImpl::ClipMlpImpl(int64_t dim, int64_t hidden, std::string act_name, int64_t num_layers)
    : act(std::move(act_name)) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
  NormalInit(fc1->weight, std::pow(2.0 * dim, -0.5));
  NormalInit(fc2->weight, std::pow(dim, -0.5) * std::pow(2.0 * num_layers, -0.5));
  torch::NoGradGuard g;
  fc1->bias.zero_();
  fc2->bias.zero_();
}

at::Tensor ClipMlpImpl::forward(const at::Tensor& x) { return fc2(Activation(fc1(x), act)); }

ClipEncoderLayerImpl::ClipEncoderLayerImpl(int64_t dim, int64_t heads, int64_t hidden, const std::string& act,
                                           double eps, int64_t num_layers) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps)); };
  self_attn = register_module("self_attn", ClipAttention(dim, heads, num_layers));
  layer_norm1 = register_module("layer_norm1", ln());
  mlp = register_module("mlp", ClipMlp(dim, hidden, act, num_layers));
  layer_norm2 = register_module("layer_norm2", ln());
}

at::Tensor ClipEncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor h = x + self_attn->forward(layer_norm1(x), mask);
  return h + mlp->forward(layer_norm2(h));
}

at::Tensor ClipEncoderLayerImpl::ValuePath(const at::Tensor& x) {
  at::Tensor h = x + self_attn->out_proj(self_attn->v_proj(layer_norm1(x)));
  return h + mlp->forward(layer_norm2(h));
}

ClipEncoderImpl::ClipEncoderImpl(int64_t dim, int64_t heads, int64_t hidden, const std::string& act, double eps,
                                 int64_t num_layers) {
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(ClipEncoderLayer(dim, heads, hidden, act, eps, num_layers));
  register_module("layers", layers);
}

ClipTextEmbeddingsImpl::ClipTextEmbeddingsImpl(const ClipTextConfig& c) {
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embedding =
      register_module("position_embedding", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  NormalInit(token_embedding->weight, 0.02);
  NormalInit(position_embedding->weight, 0.01);
}

ClipTextTransformerImpl::ClipTextTransformerImpl(const ClipTextConfig& c) {
  embeddings = register_module("embeddings", ClipTextEmbeddings(c));
  encoder = register_module("encoder", ClipEncoder(c.hidden_size, c.num_attention_heads, c.intermediate_size,
                                                   c.hidden_act, c.layer_norm_eps, c.num_hidden_layers));
  final_layer_norm = register_module(
      "final_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

at::Tensor ClipTextTransformerImpl::forward(const at::Tensor& ids) {
  NE_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kLong, "CLIP text: ids must be [B,L] int64, got ",
           ids.sizes(), " ", ids.scalar_type());
  const int64_t l = ids.size(1), max_len = embeddings->position_embedding->weight.size(0);
  NE_CHECK(l <= max_len, "CLIP text: sequence length ", l, " exceeds max_position_embeddings ", max_len);
  const int64_t vocab = embeddings->token_embedding->weight.size(0);
  NE_CHECK(ids.numel() == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < vocab),
           "CLIP text: token ids must lie in 0 .. ", vocab - 1);
  at::Tensor h = embeddings->token_embedding(ids) + embeddings->position_embedding->weight.slice(0, 0, l);
  // Causal mask: position i attends to positions <= i (HF adds the dtype's lowest value above the diagonal).
  at::Tensor mask = torch::full({l, l}, std::numeric_limits<float>::lowest(), h.options()).triu(1);
  for (const auto& layer : *encoder->layers) h = layer->as<ClipEncoderLayer>()->forward(h, mask);
  return final_layer_norm(h);
}

ClipVisionEmbeddingsImpl::ClipVisionEmbeddingsImpl(const ClipVisionConfig& c)
    : patch_size(c.patch_size), grid(c.image_size / c.patch_size) {
  class_embedding = register_parameter("class_embedding", torch::randn({c.hidden_size}) * std::pow(c.hidden_size, -0.5));
  patch_embedding = register_module(
      "patch_embedding",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size).stride(c.patch_size).bias(false)));
  position_embedding = register_module("position_embedding", torch::nn::Embedding(grid * grid + 1, c.hidden_size));
  NormalInit(patch_embedding->weight, 0.02);
  NormalInit(position_embedding->weight, 0.02);
}

at::Tensor ClipVisionEmbeddingsImpl::forward(const at::Tensor& pixels, int64_t* grid_h, int64_t* grid_w) {
  const int64_t channels = patch_embedding->weight.size(1);
  NE_CHECK(pixels.dim() == 4 && pixels.size(1) == channels, "CLIP vision: pixels must be [B,", channels,
           ",H,W], got ", pixels.sizes());
  NE_CHECK(pixels.size(2) >= patch_size && pixels.size(3) >= patch_size, "CLIP vision: image ", pixels.size(2), "x",
           pixels.size(3), " is smaller than one ", patch_size, "-pixel patch");
  at::Tensor patches = patch_embedding(pixels.to(class_embedding.scalar_type()));  // [B,D,h,w]
  const int64_t b = patches.size(0), d = patches.size(1), h = patches.size(2), w = patches.size(3);
  if (grid_h) *grid_h = h;
  if (grid_w) *grid_w = w;
  at::Tensor tokens = torch::cat({class_embedding.view({1, 1, d}).expand({b, 1, d}), patches.flatten(2).transpose(1, 2)}, 1);
  return tokens + ResizePositions(position_embedding->weight, grid, h, w).unsqueeze(0);
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipVisionConfig& c) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
  embeddings = register_module("embeddings", ClipVisionEmbeddings(c));
  pre_layrnorm = register_module("pre_layrnorm", ln());
  encoder = register_module("encoder", ClipEncoder(c.hidden_size, c.num_attention_heads, c.intermediate_size,
                                                   c.hidden_act, c.layer_norm_eps, c.num_hidden_layers));
  post_layernorm = register_module("post_layernorm", ln());
}

at::Tensor ClipVisionTransformerImpl::forward(const at::Tensor& pixels) {
  at::Tensor h = pre_layrnorm(embeddings->forward(pixels));
  for (const auto& layer : *encoder->layers) h = layer->as<ClipEncoderLayer>()->forward(h, at::Tensor());
  return h;
}

}  // namespace nerfedit
