// LOLNeRF's foreground field (Rebain et al. 2022, §3.1): a NeRF conditioned on a per-image latent z, the code
// concatenated to the encoded position at the input and again at the skip layer, density and colour from one MLP
// (no view direction: each object is seen from one view, so view dependence is unconstrained). Two encodings:
//   "mlp"        the paper's: NeRF's positional encoding, an 8 x 256 MLP with the skip after layer 4.
//   "hash_grid"  the CPU default: one hash grid shared by all instances (spatial detail) + a 3 x 64 code-conditioned
//                MLP; it learns in minutes on 2 cores where the 8 x 256 MLP needs hours (measured: README).
// Density is zero outside the object box.
#pragma once
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/arg.h>

#include <string>
#include <vector>

#include "fields/conditional_field.h"
#include "fields/encodings.h"
#include "fields/hash_encoding.h"

namespace nerfedit {

struct LolnerfFieldOptions {
  TORCH_ARG(std::string, encoding) = "hash_grid";  // hash_grid | mlp (positional encoding)
  TORCH_ARG(std::vector<float>, aabb) = std::vector<float>{-1, -1, -1, 1, 1, 1};
  TORCH_ARG(int64_t, code_dim) = 64;
  TORCH_ARG(HashEncodingOptions, hash) = HashEncodingOptions();  // encoding "hash_grid"
  TORCH_ARG(int64_t, position_frequencies) = 10;                 // encoding "mlp"
  TORCH_ARG(int64_t, num_layers) = 3;
  TORCH_ARG(int64_t, hidden_dim) = 64;
  TORCH_ARG(int64_t, skip_layer) = 1;  // [encoded x, z, h] feeds layer skip_layer + 1 (-1: no skip)

 public:  // TORCH_ARG leaves the access at private
  void Check() const;
  nlohmann::json ToJson() const;
};

class LolnerfFieldImpl : public ConditionalField {
 public:
  explicit LolnerfFieldImpl(LolnerfFieldOptions options = {});
  void reset();

  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions, const at::Tensor& codes) override;
  // The same with one code per ray: positions [N,3], ray_codes [R,C], ray_of_sample [N] i64. The code's part of a
  // layer that takes [encoded x, z] is linear in z, W [e; z] = W_e e + W_z z, so W_z z is computed once per ray and
  // gathered per sample: identical to concatenating z to every sample, at 1/(samples per ray) of that product's cost.
  FieldOutputs QueryRays(const at::Tensor& positions, const at::Tensor& ray_codes, const at::Tensor& ray_of_sample);
  at::Tensor QueryDensity(const at::Tensor& positions, const at::Tensor& codes) override;
  int64_t code_dim() const override { return options.code_dim(); }
  std::string Kind() const override { return "lolnerf_" + options.encoding(); }
  nlohmann::json Config() const override { return options.ToJson(); }
  at::Tensor Aabb() const override { return aabb_; }

  LolnerfFieldOptions options;
  HashEncoding hash{nullptr};
  PositionalEncoding positional{nullptr};
  torch::nn::ModuleList layers{nullptr};  // num_layers hidden layers
  torch::nn::Linear head{nullptr};        // hidden -> 1 + 3 (raw density, rgb logits)

 private:
  // [N, 4] raw outputs.
  at::Tensor Trunk(const at::Tensor& positions, const at::Tensor& ray_codes, const at::Tensor& ray_of_sample);
  at::Tensor Linear(const torch::nn::LinearImpl& layer, const at::Tensor& x) const;
  at::Tensor aabb_;  // [2,3] f32 buffer "aabb"
};
TORCH_MODULE(LolnerfField);

// LOLNeRF's background (§3.4): an environment map conditioned on the same latent — colour as a function of the ray
// direction and z (a textured backdrop at infinity, as the category generator's). The paper's background is a second
// NeRF; at infinity an environment map is that NeRF's limit, at a fraction of the cost.
struct LolnerfBackgroundOptions {
  TORCH_ARG(int64_t, code_dim) = 64;
  TORCH_ARG(int64_t, direction_frequencies) = 6;
  TORCH_ARG(int64_t, num_layers) = 2;
  TORCH_ARG(int64_t, hidden_dim) = 64;

 public:
  void Check() const;
};

class LolnerfBackgroundImpl : public torch::nn::Module {
 public:
  explicit LolnerfBackgroundImpl(LolnerfBackgroundOptions options = {});
  void reset();
  // directions [R,3] unit, codes [R,C] -> colours [R,3] in [0,1].
  at::Tensor forward(const at::Tensor& directions, const at::Tensor& codes);

  LolnerfBackgroundOptions options;
  PositionalEncoding encoding{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(LolnerfBackground);

}  // namespace nerfedit
