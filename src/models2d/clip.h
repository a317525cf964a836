// CLIP (Radford et al. 2021) in Hugging Face `CLIPModel` layout: a causal text transformer and a ViT image tower,
// each followed by a linear projection into a joint space. Parameter names equal HF's state-dict keys, so a
// `model.safetensors` written by transformers loads by name. Also MaskCLIP dense patch embeddings (Zhou et al. 2022).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "models2d/clip_tokenizer.h"

namespace nerfedit {

struct ClipTextConfig {  // defaults are HF CLIPTextConfig's (used for keys a config.json omits, as HF does)
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" | "gelu"
  double layer_norm_eps = 1e-5;
  int64_t eos_token_id = 49407;  // 2 in legacy configs (openai/clip-*): then the end token is argmax of the ids
};

struct ClipVisionConfig {  // defaults are HF CLIPVisionConfig's
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_channels = 3;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
};

struct ClipConfig {
  ClipTextConfig text;
  ClipVisionConfig vision;
  int64_t projection_dim = 512;
  double logit_scale_init_value = 2.6592;  // log(1/0.07)

  // config.json as transformers writes it: "text_config" and "vision_config" are required; keys inside them that
  // are absent take HF's defaults (transformers itself omits keys equal to the defaults); unrelated keys are ignored.
  static ClipConfig FromHfJson(const nlohmann::json& json, const std::string& context = "CLIP config");
  nlohmann::json ToHfJson() const;
  void Check(const std::string& context = "CLIP config") const;  // throws on impossible sizes or activations
};

struct ClipAttentionImpl : torch::nn::Module {
  ClipAttentionImpl(int64_t dim, int64_t heads, int64_t num_layers);
  // x [B,L,D]; mask [L,L] additive (0 / very negative) or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);
  // Attention of queries [B,Q,D] over x [B,L,D] (both the block's layer_norm1 output); mask broadcastable to
  // [B,heads,Q,L] or undefined. forward(x, mask) is Attend(x, x, mask).
  at::Tensor Attend(const at::Tensor& queries, const at::Tensor& x, const at::Tensor& mask);
  int64_t heads;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : torch::nn::Module {
  ClipMlpImpl(int64_t dim, int64_t hidden, std::string act, int64_t num_layers);
  at::Tensor forward(const at::Tensor& x);
  std::string act;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ClipEncoderLayerImpl : torch::nn::Module {
  ClipEncoderLayerImpl(int64_t dim, int64_t heads, int64_t hidden, const std::string& act, double eps,
                       int64_t num_layers);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);  // pre-LN: x + attn(ln1 x), then + mlp(ln2 .)
  // forward(x, mask) at one row of each sequence only: rows [B] i64 -> [B,D] (keys and values from every row). A
  // pooled embedding needs no other row of the last block: its queries, MLP and out_proj shrink to B rows.
  at::Tensor ForwardRows(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& mask);
  // MaskCLIP's value path: q/k attention skipped, x + out_proj(v_proj(ln1 x)), then + mlp(ln2 .).
  at::Tensor ValuePath(const at::Tensor& x);
  ClipAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

struct ClipEncoderImpl : torch::nn::Module {
  ClipEncoderImpl(int64_t dim, int64_t heads, int64_t hidden, const std::string& act, double eps, int64_t num_layers);
  torch::nn::ModuleList layers;
};
TORCH_MODULE(ClipEncoder);

struct ClipTextEmbeddingsImpl : torch::nn::Module {
  explicit ClipTextEmbeddingsImpl(const ClipTextConfig& c);
  torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
};
TORCH_MODULE(ClipTextEmbeddings);

struct ClipTextTransformerImpl : torch::nn::Module {
  explicit ClipTextTransformerImpl(const ClipTextConfig& c);
  at::Tensor forward(const at::Tensor& ids);  // [B,L] i64 -> [B,L,D] after final_layer_norm (causal)
  // forward(ids)[b, positions[b]] -> [B,D]. Attention is causal, so the columns after the last pooled position are
  // never computed, and the last block runs at the pooled rows only.
  at::Tensor Pooled(const at::Tensor& ids, const at::Tensor& positions);
  ClipTextEmbeddings embeddings{nullptr};
  ClipEncoder encoder{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};

 private:
  void CheckIds(const at::Tensor& ids) const;
  at::Tensor Run(const at::Tensor& ids, const at::Tensor& positions);  // positions undefined: every row
};
TORCH_MODULE(ClipTextTransformer);

struct ClipVisionEmbeddingsImpl : torch::nn::Module {
  explicit ClipVisionEmbeddingsImpl(const ClipVisionConfig& c);
  // pixels [B,C,H,W] -> [B,1+h*w,D]; positional embeddings bicubically resized when the patch grid is not the
  // trained one (as HF's interpolate_pos_encoding). *grid_h/*grid_w receive h, w when given.
  at::Tensor forward(const at::Tensor& pixels, int64_t* grid_h = nullptr, int64_t* grid_w = nullptr);
  int64_t patch_size, grid;
  at::Tensor class_embedding;  // [D]
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
};
TORCH_MODULE(ClipVisionEmbeddings);

struct ClipVisionTransformerImpl : torch::nn::Module {
  explicit ClipVisionTransformerImpl(const ClipVisionConfig& c);
  at::Tensor forward(const at::Tensor& pixels);  // [B,1+h*w,D]: HF's last_hidden_state (no post_layernorm)
  // forward(pixels)[:,0] -> [B,D], the last block evaluated at the class token only.
  at::Tensor ClassToken(const at::Tensor& pixels);
  double TypicalMacs(const at::Tensor& pixels) const;  // multiply-adds of one DxD product over all tokens (policy)
  ClipVisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // sic: HF's spelling, kept for the state-dict key
  ClipEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

class ClipModelImpl : public torch::nn::Module {
 public:
  explicit ClipModelImpl(const ClipConfig& config);
  const ClipConfig& config() const { return config_; }

  at::Tensor EncodeText(const at::Tensor& ids);       // ids [B,L] i64 -> [B,P] f32, L2-normalised
  at::Tensor EncodeImage(const at::Tensor& pixels);   // pixels [B,C,S,S] preprocessed -> [B,P], L2-normalised
  at::Tensor TextEmbeddingsUnnormalised(const at::Tensor& ids);      // [B,P] projected, before normalisation
  at::Tensor ImageEmbeddingsUnnormalised(const at::Tensor& pixels);  // [B,P]
  at::Tensor TextHiddenStates(const at::Tensor& ids);     // [B,L,Dt] HF text last_hidden_state
  at::Tensor ImageHiddenStates(const at::Tensor& pixels); // [B,1+h*w,Dv] HF vision last_hidden_state
  at::Tensor EndTokenPositions(const at::Tensor& ids);    // [B] i64: where the text embedding is pooled
  // MaskCLIP: [B,h,w,P] L2-normalised per patch; h = H / patch_size, w = W / patch_size, any H, W.
  at::Tensor DensePatchEmbeddings(const at::Tensor& pixels);
  // exp(logit_scale) * image_embeds @ text_embeds^T: [B_image, B_text] (inputs L2-normalised).
  at::Tensor LogitsPerImage(const at::Tensor& image_embeds, const at::Tensor& text_embeds);

  ClipTextTransformer text_model{nullptr};
  ClipVisionTransformer vision_model{nullptr};
  torch::nn::Linear visual_projection{nullptr}, text_projection{nullptr};
  at::Tensor logit_scale;  // [] f32, log of the softmax temperature's inverse

 private:
  ClipConfig config_;
};
TORCH_MODULE(ClipModel);

// dir/config.json + dir/model.safetensors (F32/F16/BF16; HF's legacy position_ids buffers are ignored).
ClipModel LoadClip(const std::string& dir);
void SaveClip(ClipModel model, const ClipConfig& config, const std::string& dir);  // atomically, f32

struct ClipBundle {
  ClipConfig config;
  ClipModel model{nullptr};
  ClipTokenizer tokenizer;
};
ClipBundle LoadClipBundle(const std::string& dir);  // config.json, model.safetensors, vocab.json, merges.txt
void SaveClipBundle(const ClipBundle& bundle, const std::string& dir);

// CLIP image preprocessing: image [H,W,3] f32 in [0,1] -> [3,size,size] f32: shortest side resized to `size`
// (bicubic, antialiased like PIL), centre crop, normalised with CLIP's mean/std.
at::Tensor ClipPreprocess(const at::Tensor& image, int64_t size);

// CLIP's mean/std normalisation alone: [N,3,H,W] f32 in [0,1] -> normalised, contiguous (ClipPreprocess's last step;
// for callers that resize themselves, e.g. to a multiple of the patch size).
at::Tensor ClipNormalise(const at::Tensor& images);

// LERF-style crops (Kerr et al. 2023): square windows of `crop` pixels centred on pixels `centres` ([N,2] i64,
// row then column) of image [H,W,3] in [0,1], borders replicate-padded, each prepared as ClipPreprocess prepares a
// square image for a CLIP of input `size` -> [N,3,size,size]. The feature-field teacher and the small CLIP's scene
// crops both cut their windows here: what the small CLIP learns is exactly what the teacher later shows it.
at::Tensor ClipCentredWindows(const at::Tensor& image, int64_t crop, const at::Tensor& centres, int64_t size);

}  // namespace nerfedit
