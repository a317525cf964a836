// Vision Transformer in Hugging Face `ViTModel` layout (e.g. facebook/dino-vits16, DINO: Caron et al. 2021):
// dense patch features (last-layer tokens or keys) and the class token, at any image size (multiple of the patch).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

namespace nerfedit {

struct VitConfig {  // defaults are HF ViTConfig's, used for keys a config.json omits (as HF does)
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";  // "gelu" (exact erf) | "quick_gelu"
  double layer_norm_eps = 1e-12;
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t num_channels = 3;
  bool qkv_bias = true;

  static VitConfig FromHfJson(const nlohmann::json& json, const std::string& context = "ViT config");
  nlohmann::json ToHfJson() const;
  void Check(const std::string& context = "ViT config") const;
};

struct VitSelfAttentionImpl : torch::nn::Module {
  VitSelfAttentionImpl(const VitConfig& c);
  at::Tensor forward(const at::Tensor& x);  // [B,L,D] -> [B,L,D], before attention.output.dense
  int64_t heads;
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
};
TORCH_MODULE(VitSelfAttention);

struct VitDenseImpl : torch::nn::Module {  // HF's ViTSelfOutput / ViTIntermediate / ViTOutput: one "dense" Linear
  VitDenseImpl(int64_t in, int64_t out) { dense = register_module("dense", torch::nn::Linear(in, out)); }
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(VitDense);

struct VitAttentionImpl : torch::nn::Module {
  VitAttentionImpl(const VitConfig& c);
  VitSelfAttention attention{nullptr};
  VitDense output{nullptr};
};
TORCH_MODULE(VitAttention);

struct VitLayerImpl : torch::nn::Module {
  VitLayerImpl(const VitConfig& c);
  at::Tensor forward(const at::Tensor& x);  // pre-LN block
  std::string act;
  VitAttention attention{nullptr};
  VitDense intermediate{nullptr}, output{nullptr};
  torch::nn::LayerNorm layernorm_before{nullptr}, layernorm_after{nullptr};
};
TORCH_MODULE(VitLayer);

struct VitEncoderImpl : torch::nn::Module {
  VitEncoderImpl(const VitConfig& c);
  torch::nn::ModuleList layer;
};
TORCH_MODULE(VitEncoder);

struct VitPatchEmbeddingsImpl : torch::nn::Module {
  VitPatchEmbeddingsImpl(const VitConfig& c);
  torch::nn::Conv2d projection{nullptr};
};
TORCH_MODULE(VitPatchEmbeddings);

struct VitEmbeddingsImpl : torch::nn::Module {
  VitEmbeddingsImpl(const VitConfig& c);
  // pixels [B,C,H,W] -> [B,1+h*w,D]; positional embeddings bicubically resized for other grids.
  at::Tensor forward(const at::Tensor& pixels, int64_t* grid_h, int64_t* grid_w);
  int64_t patch_size, grid;
  at::Tensor cls_token;            // [1,1,D]
  at::Tensor position_embeddings;  // [1,1+g*g,D]
  VitPatchEmbeddings patch_embeddings{nullptr};
};
TORCH_MODULE(VitEmbeddings);

class VitModelImpl : public torch::nn::Module {
 public:
  explicit VitModelImpl(const VitConfig& config);
  const VitConfig& config() const { return config_; }

  at::Tensor forward(const at::Tensor& pixels);  // [B,1+h*w,D]: HF's last_hidden_state (after the final layernorm)
  // [B,h,w,D] for the last layer: "tokens" = last_hidden_state's patch tokens, "keys" = the last block's keys
  // (key projection of its layernorm_before input; the DINO feature of Amir et al.). H, W multiples of patch_size.
  at::Tensor DenseFeatures(const at::Tensor& pixels, const std::string& facet = "tokens");
  at::Tensor ClassToken(const at::Tensor& pixels);  // [B,D]: last_hidden_state[:,0]
  double TypicalMacs(const at::Tensor& pixels) const;  // multiply-adds of one DxD product over all tokens

  VitEmbeddings embeddings{nullptr};
  VitEncoder encoder{nullptr};
  torch::nn::LayerNorm layernorm{nullptr};

 private:
  VitConfig config_;
};
TORCH_MODULE(VitModel);

// dir/config.json + dir/model.safetensors; HF's "vit." prefix (ViTFor* checkpoints) is stripped and the pooler /
// classifier heads are ignored.
VitModel LoadVit(const std::string& dir);
void SaveVit(VitModel model, const std::string& dir);

}  // namespace nerfedit
