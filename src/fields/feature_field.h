// Distilled Feature Fields' field (Kobayashi et al. 2022, Sec. 3): an Instant-NGP radiance field plus a
// view-independent feature head f(x) with its own hash encoding and MLP, so the feature loss reaches density only
// through the compositing weights (and not at all with the renderer's stop-gradient, the default).
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/arg.h>

#include "fields/field.h"
#include "fields/hash_encoding.h"
#include "fields/hash_grid_field.h"

namespace nerfedit {

struct FeatureFieldOptions {
  TORCH_ARG(HashGridFieldOptions, radiance) = HashGridFieldOptions();  // density + colour (Instant-NGP)
  TORCH_ARG(int64_t, feature_dim) = 128;                               // the teacher's embedding size
  // Features vary more slowly than colour: a coarser, smaller grid is enough and keeps the overhead low.
  TORCH_ARG(HashEncodingOptions, feature_encoding) =
      HashEncodingOptions().num_levels(12).log2_hashmap_size(17).max_resolution(256);
  TORCH_ARG(int64_t, feature_hidden_dim) = 64;
  TORCH_ARG(int64_t, feature_num_hidden_layers) = 1;

 public:  // TORCH_ARG leaves the access at private
  void Check() const;
  static FeatureFieldOptions FromJson(const nlohmann::json& j);  // strict: unknown keys are errors
  nlohmann::json ToJson() const;
};

class FeatureFieldImpl : public Field {
 public:
  explicit FeatureFieldImpl(FeatureFieldOptions options = {});

  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  FieldOutputs QueryColour(const at::Tensor& positions, const at::Tensor& directions) override {
    return radiance->Query(positions, directions);
  }
  at::Tensor QueryDensity(const at::Tensor& positions) override { return radiance->QueryDensity(positions); }
  std::string Kind() const override { return "feature_field"; }
  nlohmann::json Config() const override { return options.ToJson(); }
  at::Tensor Aabb() const override { return radiance->Aabb(); }

  at::Tensor QueryFeatures(const at::Tensor& positions);  // [N, feature_dim]

  FeatureFieldOptions options;
  HashGridField radiance{nullptr};
  HashEncoding feature_encoding{nullptr};
  torch::nn::Sequential feature_mlp{nullptr};
};
TORCH_MODULE(FeatureField);

}  // namespace nerfedit
