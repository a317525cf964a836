// The original NeRF field (Mildenhall et al. 2020, Fig. 7): positional encodings of the position and view direction,
// an 8x256 ReLU MLP with the encoded position concatenated again after layer skip_layer, a density head, and a
// 256-wide feature layer feeding a 128-wide view-dependent colour branch.
#pragma once
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/arg.h>

#include <string>
#include <vector>

#include "fields/encodings.h"
#include "fields/field.h"

namespace nerfedit {

struct NerfMlpFieldOptions {
  TORCH_ARG(int64_t, num_layers) = 8;
  TORCH_ARG(int64_t, hidden_dim) = 256;
  TORCH_ARG(int64_t, skip_layer) = 4;  // 0-based: [encoded x, h] feeds layer skip_layer + 1 (NeRF's skips=[4])
  TORCH_ARG(int64_t, position_frequencies) = 10;
  TORCH_ARG(int64_t, direction_frequencies) = 4;
  TORCH_ARG(bool, use_view_dirs) = true;
  // NeRF's paper writes sin(2^k pi x); its code (and tiny-NeRF) use sin(2^k x). false reproduces the code.
  TORCH_ARG(bool, encoding_multiply_by_pi) = true;
  // "relu" as NeRF (sigma = relu(raw)); "softplus" avoids dead-ReLU regions at the cost of never reaching 0 exactly.
  TORCH_ARG(std::string, density_activation) = "relu";
  // Scene bounds {xmin, ymin, zmin, xmax, ymax, zmax}: density is zero outside. Positions are NOT normalised by it:
  // NeRF encodes world coordinates directly, so the encoding frequencies are relative to world units.
  TORCH_ARG(std::vector<float>, aabb) = std::vector<float>{-1.5f, -1.5f, -1.5f, 1.5f, 1.5f, 1.5f};

 public:  // TORCH_ARG leaves the access at private
  void Check() const;
  static NerfMlpFieldOptions FromJson(const nlohmann::json& j);  // strict: unknown keys are errors
  nlohmann::json ToJson() const;
};

class NerfMlpFieldImpl : public Field {
 public:
  explicit NerfMlpFieldImpl(NerfMlpFieldOptions options = {});
  void reset();

  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override;
  std::string Kind() const override { return "mlp"; }
  nlohmann::json Config() const override { return options.ToJson(); }
  at::Tensor Aabb() const override { return aabb_; }

  NerfMlpFieldOptions options;
  PositionalEncoding position_encoding{nullptr};
  PositionalEncoding direction_encoding{nullptr};
  torch::nn::ModuleList trunk{nullptr};  // num_layers Linear(+bias) layers, ReLU after each
  torch::nn::Linear density_head{nullptr};   // hidden -> 1
  torch::nn::Linear feature_layer{nullptr};  // hidden -> hidden (no activation, as NeRF); only with view dirs
  torch::nn::Linear view_layer{nullptr};     // hidden + dir enc -> hidden/2; only with view dirs
  torch::nn::Linear rgb_head{nullptr};       // hidden/2 (or hidden without view dirs) -> 3

 private:
  std::pair<at::Tensor, at::Tensor> DensityAndTrunk(const at::Tensor& positions);  // density [N], trunk output [N,W]
  at::Tensor aabb_;  // [2,3] f32 buffer "aabb"
};
TORCH_MODULE(NerfMlpField);

}  // namespace nerfedit
