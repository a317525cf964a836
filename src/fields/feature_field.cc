#include "fields/feature_field.h"

#include <torch/torch.h>

#include "fields/row_parallel_linear.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

void FeatureFieldOptions::Check() const {
  radiance().Check();
  feature_encoding().Check();
  NE_CHECK(feature_dim() >= 1, "feature_field: feature_dim is ", feature_dim(), ", expected >= 1");
  NE_CHECK(feature_hidden_dim() >= 1, "feature_field: feature_hidden_dim is ", feature_hidden_dim(), ", expected >= 1");
  NE_CHECK(feature_num_hidden_layers() >= 0, "feature_field: feature_num_hidden_layers is ",
           feature_num_hidden_layers(), ", expected >= 0");
}

FeatureFieldOptions FeatureFieldOptions::FromJson(const nlohmann::json& j) {
  FeatureFieldOptions o;
  JsonReader r(j, "feature_field options");
  r.Optional("feature_dim", &o.feature_dim())
      .Optional("feature_hidden_dim", &o.feature_hidden_dim())
      .Optional("feature_num_hidden_layers", &o.feature_num_hidden_layers());
  // The scene box arrives at the top level (NerfModel adds it to every field config): it belongs to the radiance part.
  nlohmann::json radiance = j.contains("radiance") ? r.Sub("radiance") : nlohmann::json::object();
  if (j.contains("aabb")) {
    std::vector<float> aabb;
    r.Optional("aabb", &aabb);
    radiance["aabb"] = aabb;
  }
  o.radiance(HashGridFieldOptions::FromJson(radiance));
  if (j.contains("feature_encoding")) {
    // Unspecified keys keep this field's defaults (not the radiance encoding's).
    nlohmann::json merged = o.feature_encoding().ToJson();
    for (auto& [k, v] : r.Sub("feature_encoding").items()) merged[k] = v;
    o.feature_encoding(HashEncodingOptions::FromJson(merged));
  }
  r.Finish();
  o.Check();
  return o;
}

nlohmann::json FeatureFieldOptions::ToJson() const {
  return {{"radiance", radiance().ToJson()},
          {"feature_dim", feature_dim()},
          {"feature_encoding", feature_encoding().ToJson()},
          {"feature_hidden_dim", feature_hidden_dim()},
          {"feature_num_hidden_layers", feature_num_hidden_layers()}};
}

FeatureFieldImpl::FeatureFieldImpl(FeatureFieldOptions options_) : options(std::move(options_)) {
  options.Check();
  radiance = register_module("radiance", HashGridField(options.radiance()));
  feature_encoding = register_module("feature_encoding", HashEncoding(options.feature_encoding()));
  torch::nn::Sequential mlp;
  int64_t width = feature_encoding->output_dim();
  for (int64_t i = 0; i < options.feature_num_hidden_layers(); ++i) {
    mlp->push_back(torch::nn::Linear(torch::nn::LinearOptions(width, options.feature_hidden_dim()).bias(false)));
    mlp->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    width = options.feature_hidden_dim();
  }
  // A bias on the last layer: teacher features have a non-zero mean that the grid should not have to learn.
  mlp->push_back(torch::nn::Linear(torch::nn::LinearOptions(width, options.feature_dim())));
  feature_mlp = register_module("feature_mlp", mlp);
}

at::Tensor FeatureFieldImpl::QueryFeatures(const at::Tensor& positions) {
  const at::Tensor aabb = radiance->Aabb();
  const at::Tensor unit = ((positions - aabb[0]) / (aabb[1] - aabb[0])).clamp(0, 1);
  return ForwardRowParallelMlp(feature_mlp, feature_encoding->forward(unit));
}

FieldOutputs FeatureFieldImpl::Query(const at::Tensor& positions, const at::Tensor& directions) {
  FieldOutputs out = radiance->Query(positions, directions);
  out.features = QueryFeatures(positions);
  return out;
}

}  // namespace nerfedit
