// Instant-NGP's NeRF field (Müller et al. 2022, Sec. 5.4): a multiresolution hash encoding of the position, a tiny
// density MLP giving [log-density, geometry features], and a tiny colour MLP on [geometry features, SH(direction)].
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/arg.h>

#include <vector>

#include "fields/encodings.h"
#include "fields/field.h"
#include "fields/hash_encoding.h"

namespace nerfedit {

struct HashGridFieldOptions {
  // Scene bounds {xmin, ymin, zmin, xmax, ymax, zmax}; the hash grid spans exactly this box. The default suits the
  // Blender synthetic scenes (objects within [-1.5, 1.5]^3).
  TORCH_ARG(std::vector<float>, aabb) = std::vector<float>{-1.5f, -1.5f, -1.5f, 1.5f, 1.5f, 1.5f};
  TORCH_ARG(HashEncodingOptions, encoding) = HashEncodingOptions();
  TORCH_ARG(int64_t, hidden_dim) = 64;             // density MLP width
  TORCH_ARG(int64_t, num_hidden_layers) = 1;       // density MLP hidden layers
  TORCH_ARG(int64_t, geo_feat_dim) = 15;           // geometry features passed to the colour MLP
  TORCH_ARG(int64_t, color_hidden_dim) = 64;
  TORCH_ARG(int64_t, color_num_hidden_layers) = 2;
  TORCH_ARG(int64_t, sh_degree) = 4;               // 16 SH coefficients of the view direction

 public:  // TORCH_ARG leaves the access at private
  void Check() const;
  static HashGridFieldOptions FromJson(const nlohmann::json& j);  // strict: unknown keys are errors
  nlohmann::json ToJson() const;
};

// Density = trunc_exp(raw): exp in the forward pass, gradient grad * exp(min(raw, 15)) so that a large raw value
// cannot blow up the gradient (torch-ngp's trunc_exp). Exposed for tests.
at::Tensor TruncExp(const at::Tensor& x);

// Linear layers have no bias, as instant-ngp's tiny fully-fused MLPs (tiny-cuda-nn) have none.
class HashGridFieldImpl : public Field {
 public:
  explicit HashGridFieldImpl(HashGridFieldOptions options = {});
  void reset();

  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override;
  std::string Kind() const override { return "hash_grid"; }
  nlohmann::json Config() const override { return options.ToJson(); }
  at::Tensor Aabb() const override { return aabb_; }

  HashGridFieldOptions options;
  HashEncoding encoding{nullptr};
  SphericalHarmonicsEncoding direction_encoding{nullptr};
  torch::nn::Sequential density_mlp{nullptr};  // L*F -> hidden -> 1 + geo_feat_dim
  torch::nn::Sequential color_mlp{nullptr};    // geo_feat_dim + sh -> hidden x2 -> 3

 private:
  // Density [N] and the density MLP output [N, 1 + geo_feat_dim].
  std::pair<at::Tensor, at::Tensor> DensityAndFeatures(const at::Tensor& positions);
  at::Tensor aabb_;  // [2,3] f32 buffer "aabb"
};
TORCH_MODULE(HashGridField);

}  // namespace nerfedit
