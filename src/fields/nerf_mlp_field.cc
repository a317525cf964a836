#include "fields/nerf_mlp_field.h"

#include <torch/torch.h>

#include "util/error.h"
#include "util/json_reader.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {
// Multiply-adds of one W x W trunk product over the rows (the threading policy's measure of the work).
double TypicalMacs(const at::Tensor& positions, int64_t width) {
  return static_cast<double>(positions.size(0)) * static_cast<double>(width) * static_cast<double>(width);
}
}  // namespace

void NerfMlpFieldOptions::Check() const {
  NE_CHECK(num_layers() >= 1, "mlp field: num_layers is ", num_layers(), ", expected >= 1");
  NE_CHECK(hidden_dim() >= 2, "mlp field: hidden_dim is ", hidden_dim(), ", expected >= 2");
  NE_CHECK(skip_layer() >= -1 && skip_layer() < num_layers() - 1, "mlp field: skip_layer is ", skip_layer(),
           ", expected -1 (none) .. num_layers - 2 = ", num_layers() - 2);
  NE_CHECK(position_frequencies() >= 0, "mlp field: position_frequencies is ", position_frequencies(),
           ", expected >= 0");
  NE_CHECK(direction_frequencies() >= 0, "mlp field: direction_frequencies is ", direction_frequencies(),
           ", expected >= 0");
  NE_CHECK(density_activation() == "relu" || density_activation() == "softplus", "mlp field: density_activation is \"",
           density_activation(), "\", expected \"relu\" or \"softplus\"");
  NE_CHECK(aabb().size() == 6, "mlp field: aabb has ", aabb().size(), " values, expected 6 (min xyz, max xyz)");
  for (int d = 0; d < 3; ++d) {
    NE_CHECK(aabb()[d] < aabb()[d + 3], "mlp field: aabb min[", d, "] = ", aabb()[d], " is not below max[", d,
             "] = ", aabb()[d + 3]);
  }
}

NerfMlpFieldOptions NerfMlpFieldOptions::FromJson(const nlohmann::json& j) {
  NerfMlpFieldOptions o;
  JsonReader r(j, "mlp field options");
  r.Optional("num_layers", &o.num_layers())
      .Optional("hidden_dim", &o.hidden_dim())
      .Optional("skip_layer", &o.skip_layer())
      .Optional("position_frequencies", &o.position_frequencies())
      .Optional("direction_frequencies", &o.direction_frequencies())
      .Optional("use_view_dirs", &o.use_view_dirs())
      .Optional("encoding_multiply_by_pi", &o.encoding_multiply_by_pi())
      .Optional("density_activation", &o.density_activation())
      .Optional("aabb", &o.aabb());
  r.Finish();
  o.Check();
  return o;
}

nlohmann::json NerfMlpFieldOptions::ToJson() const {
  return {{"num_layers", num_layers()},
          {"hidden_dim", hidden_dim()},
          {"skip_layer", skip_layer()},
          {"position_frequencies", position_frequencies()},
          {"direction_frequencies", direction_frequencies()},
          {"use_view_dirs", use_view_dirs()},
          {"encoding_multiply_by_pi", encoding_multiply_by_pi()},
          {"density_activation", density_activation()},
          {"aabb", aabb()}};
}

NerfMlpFieldImpl::NerfMlpFieldImpl(NerfMlpFieldOptions options_) : options(std::move(options_)) { reset(); }

void NerfMlpFieldImpl::reset() {
  options.Check();
  aabb_ = register_buffer("aabb", torch::tensor(options.aabb(), torch::kFloat32).view({2, 3}));
  position_encoding = register_module(
      "position_encoding", PositionalEncoding(PositionalEncodingOptions()
                                                  .num_frequencies(options.position_frequencies())
                                                  .multiply_by_pi(options.encoding_multiply_by_pi())));
  direction_encoding = register_module(
      "direction_encoding", PositionalEncoding(PositionalEncodingOptions()
                                                   .num_frequencies(options.direction_frequencies())
                                                   .multiply_by_pi(options.encoding_multiply_by_pi())));
  const int64_t w = options.hidden_dim(), in = position_encoding->output_dim(3);
  trunk = register_module("trunk", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    const int64_t width_in = i == 0 ? in : (i == options.skip_layer() + 1 ? w + in : w);
    trunk->push_back(torch::nn::Linear(width_in, w));
  }
  density_head = register_module("density_head", torch::nn::Linear(w, 1));
  if (options.use_view_dirs()) {
    feature_layer = register_module("feature_layer", torch::nn::Linear(w, w));
    view_layer = register_module("view_layer", torch::nn::Linear(w + direction_encoding->output_dim(3), w / 2));
    rgb_head = register_module("rgb_head", torch::nn::Linear(w / 2, 3));
  } else {
    rgb_head = register_module("rgb_head", torch::nn::Linear(w, 3));
  }
}

std::pair<at::Tensor, at::Tensor> NerfMlpFieldImpl::DensityAndTrunk(const at::Tensor& positions) {
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3, "mlp field: positions must be [N,3], got ",
           positions.sizes());
  const at::Tensor encoded = position_encoding->forward(positions);
  at::Tensor h = encoded;
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    h = trunk[i]->as<torch::nn::Linear>()->forward(h).relu_();
    if (i == options.skip_layer()) h = torch::cat({encoded, h}, 1);  // NeRF's order: [input, h]
  }
  const at::Tensor raw = density_head->forward(h).squeeze(1);
  at::Tensor density = options.density_activation() == "relu" ? torch::relu(raw) : torch::softplus(raw);
  const at::Tensor inside =
      torch::logical_and(positions >= aabb_[0], positions <= aabb_[1]).all(1);  // density is zero outside the box
  return {density * inside, h};
}

FieldOutputs NerfMlpFieldImpl::Query(const at::Tensor& positions_in, const at::Tensor& directions_in) {
  NE_CHECK(directions_in.sizes() == positions_in.sizes(), "mlp field: directions ", directions_in.sizes(),
           " do not match positions ", positions_in.sizes());
  // The 8 x W products dominate (util/thread_policy.h: kMatmul), forward and backward.
  ThreadPolicyScope threads(ThreadWork::kMatmul, TypicalMacs(positions_in, options.hidden_dim()));
  const at::Tensor positions = threads.Input(positions_in), directions = threads.Input(directions_in);
  auto [density, h] = DensityAndTrunk(positions);
  FieldOutputs out;
  out.density = density;
  if (options.use_view_dirs()) {
    const at::Tensor feature = feature_layer->forward(h);
    const at::Tensor view =
        view_layer->forward(torch::cat({feature, direction_encoding->forward(directions)}, 1)).relu_();
    out.rgb = torch::sigmoid(rgb_head->forward(view));
  } else {
    out.rgb = torch::sigmoid(rgb_head->forward(h));
  }
  if (threads.active()) {
    const std::vector<at::Tensor> outputs = threads.Output(std::vector<at::Tensor>{out.density, out.rgb});
    out.density = outputs[0];
    out.rgb = outputs[1];
  }
  return out;
}

at::Tensor NerfMlpFieldImpl::QueryDensity(const at::Tensor& positions) {
  NE_CHECK(positions.dim() == 2, "mlp field: positions must be [N,3], got ", positions.sizes());
  ThreadPolicyScope threads(ThreadWork::kMatmul, TypicalMacs(positions, options.hidden_dim()));
  return threads.Output(DensityAndTrunk(threads.Input(positions)).first);
}

}  // namespace nerfedit
