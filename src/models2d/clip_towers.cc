// CLIP's transformer blocks and its two towers (text, vision), in HF CLIPModel's parameter layout.
#include <torch/torch.h>

#include <cmath>

#include "models2d/clip.h"
#include "models2d/hf_config.h"
#include "util/error.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

namespace F = torch::nn::functional;

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

at::Tensor ClipAttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask) { return Attend(x, x, mask); }

at::Tensor ClipAttentionImpl::Attend(const at::Tensor& queries, const at::Tensor& x, const at::Tensor& mask) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2), hd = d / heads, nq = queries.size(1);
  auto split = [&](const at::Tensor& t, int64_t n) { return t.view({b, n, heads, hd}).transpose(1, 2); };  // [B,H,n,hd]
  at::Tensor q = split(q_proj(queries) * std::pow(static_cast<double>(hd), -0.5), nq);
  at::Tensor k = split(k_proj(x), l);
  at::Tensor v = split(v_proj(x), l);
  at::Tensor scores = torch::matmul(q, k.transpose(-1, -2));  // [B,H,Q,L]
  if (mask.defined()) scores = scores + mask;
  at::Tensor out = torch::matmul(torch::softmax(scores, -1), v);
  return out_proj(out.transpose(1, 2).reshape({b, nq, d}));
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

at::Tensor ClipMlpImpl::forward(const at::Tensor& x) { return fc2(HfActivation(fc1(x), act, "CLIP")); }

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

at::Tensor ClipEncoderLayerImpl::ForwardRows(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& mask) {
  const int64_t b = x.size(0);
  const at::Tensor batch = torch::arange(b, rows.options());
  const at::Tensor normed = layer_norm1(x);
  // The rows' lines of an [L,L] mask, broadcast over the heads: [B,1,1,L].
  const at::Tensor row_mask = mask.defined() ? mask.index_select(0, rows).view({b, 1, 1, -1}) : at::Tensor();
  at::Tensor h = x.index({batch, rows}).unsqueeze(1) +
                 self_attn->Attend(normed.index({batch, rows}).unsqueeze(1), normed, row_mask);  // [B,1,D]
  h = h + mlp->forward(layer_norm2(h));
  return h.squeeze(1);
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

void ClipTextTransformerImpl::CheckIds(const at::Tensor& ids) const {
  NE_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kLong, "CLIP text: ids must be [B,L] int64, got ",
           ids.sizes(), " ", ids.scalar_type());
  const int64_t l = ids.size(1), max_len = embeddings->position_embedding->weight.size(0);
  NE_CHECK(l <= max_len, "CLIP text: sequence length ", l, " exceeds max_position_embeddings ", max_len);
  const int64_t vocab = embeddings->token_embedding->weight.size(0);
  NE_CHECK(ids.numel() == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < vocab),
           "CLIP text: token ids must lie in 0 .. ", vocab - 1);
}

at::Tensor ClipTextTransformerImpl::forward(const at::Tensor& ids) {
  CheckIds(ids);
  return Run(ids, at::Tensor());
}

at::Tensor ClipTextTransformerImpl::Pooled(const at::Tensor& ids, const at::Tensor& positions) {
  CheckIds(ids);
  NE_CHECK(positions.dim() == 1 && positions.size(0) == ids.size(0), "CLIP text: pooled positions ",
           positions.sizes(), " do not match ids ", ids.sizes());
  if (ids.size(0) == 0) return torch::zeros({0, final_layer_norm->weight.size(0)}, final_layer_norm->weight.options());
  const int64_t keep = positions.max().item<int64_t>() + 1;
  NE_CHECK(positions.min().item<int64_t>() >= 0 && keep <= ids.size(1), "CLIP text: pooled positions must lie in 0 .. ",
           ids.size(1) - 1);
  return Run(ids.slice(1, 0, keep), positions.to(torch::kLong));
}

at::Tensor ClipTextTransformerImpl::Run(const at::Tensor& ids, const at::Tensor& positions) {
  const int64_t l = ids.size(1), d = embeddings->token_embedding->weight.size(1);
  ThreadPolicyScope threads(ThreadWork::kMatmul, static_cast<double>(ids.size(0) * l) * d * d);
  at::Tensor h = embeddings->token_embedding(ids) + embeddings->position_embedding->weight.slice(0, 0, l);
  // Causal mask: position i attends to positions <= i (HF adds the dtype's lowest value above the diagonal).
  at::Tensor mask = torch::full({l, l}, std::numeric_limits<float>::lowest(), h.options()).triu(1);
  auto& layers = *encoder->layers;
  const size_t full = positions.defined() ? layers.size() - 1 : layers.size();
  for (size_t i = 0; i < full; ++i) h = layers[i]->as<ClipEncoderLayer>()->forward(h, mask);
  if (positions.defined()) h = layers[full]->as<ClipEncoderLayer>()->ForwardRows(h, positions, mask);
  return threads.Output(final_layer_norm(h));
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

double ClipVisionTransformerImpl::TypicalMacs(const at::Tensor& pixels) const {
  const int64_t p = embeddings->patch_size, d = embeddings->class_embedding.size(0);
  const int64_t tokens = pixels.dim() == 4 ? pixels.size(0) * (1 + (pixels.size(2) / p) * (pixels.size(3) / p)) : 0;
  return static_cast<double>(tokens) * d * d;
}

at::Tensor ClipVisionTransformerImpl::forward(const at::Tensor& pixels) {
  ThreadPolicyScope threads(ThreadWork::kMatmul, TypicalMacs(pixels));
  at::Tensor h = pre_layrnorm(embeddings->forward(threads.Input(pixels)));
  for (const auto& layer : *encoder->layers) h = layer->as<ClipEncoderLayer>()->forward(h, at::Tensor());
  return threads.Output(h);
}

at::Tensor ClipVisionTransformerImpl::ClassToken(const at::Tensor& pixels) {
  ThreadPolicyScope threads(ThreadWork::kMatmul, TypicalMacs(pixels));
  at::Tensor h = pre_layrnorm(embeddings->forward(threads.Input(pixels)));
  auto& layers = *encoder->layers;
  for (size_t i = 0; i + 1 < layers.size(); ++i) h = layers[i]->as<ClipEncoderLayer>()->forward(h, at::Tensor());
  const at::Tensor first = torch::zeros({h.size(0)}, h.options().dtype(torch::kLong));
  return threads.Output(layers[layers.size() - 1]->as<ClipEncoderLayer>()->ForwardRows(h, first, at::Tensor()));
}

}  // namespace nerfedit
