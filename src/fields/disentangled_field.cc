#include "fields/disentangled_field.h"

#include <torch/torch.h>

#include "fields/hash_grid_field.h"
#include "fields/row_parallel_linear.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/thread_policy.h"

namespace nerfedit {

namespace {

// The CPU default's narrow layers over many rows run split by rows over torch's threads (fields/row_parallel_linear.h,
// as the LOLNeRF hash field's); the paper's 256-wide ones as plain products under the kMatmul policy.
bool Narrow(const DisentangledFieldOptions& o) { return std::max(o.hidden_dim(), o.deform_width()) < 128; }

at::Tensor Linear(bool narrow, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return narrow ? RowParallelLinear(x, weight, bias) : torch::nn::functional::linear(x, weight, bias);
}

// A layer on [x, z] with x per sample and z per ray: W_x x + b + gather(W_z z). weight [out, k + c].
at::Tensor LinearWithRayCode(bool narrow, const torch::nn::LinearImpl& layer, const at::Tensor& x,
                             const at::Tensor& ray_codes, const at::Tensor& ray_of_sample) {
  const int64_t k = x.size(1);
  const at::Tensor w_x = layer.weight.slice(1, 0, k).contiguous(), w_z = layer.weight.slice(1, k).contiguous();
  return Linear(narrow, x, w_x, layer.bias) +
         torch::nn::functional::linear(ray_codes, w_z).index_select(0, ray_of_sample);
}

}  // namespace

DisentangledFieldOptions DisentangledFieldOptions::Paper() {
  return DisentangledFieldOptions()
      .shape_code_dim(128)
      .appearance_code_dim(128)
      .position_frequencies(10)
      .direction_frequencies(4)
      .deform_layers(4)
      .deform_width(256)
      .num_layers(8)
      .hidden_dim(256)
      .skip_layer(4)
      .color_width(128);
}

void DisentangledFieldOptions::Check() const {
  NE_CHECK(aabb().size() == 6, "disentangled field: aabb must hold 6 numbers, got ", aabb().size());
  for (int i = 0; i < 3; ++i) {
    NE_CHECK(aabb()[i] < aabb()[i + 3], "disentangled field: aabb min ", aabb()[i], " is not below max ",
             aabb()[i + 3]);
  }
  NE_CHECK(shape_code_dim() >= 1 && shape_code_dim() <= 4096,
           "disentangled field: shape_code_dim must be in [1, 4096], got ", shape_code_dim());
  NE_CHECK(appearance_code_dim() >= 1 && appearance_code_dim() <= 4096,
           "disentangled field: appearance_code_dim must be in [1, 4096], got ", appearance_code_dim());
  NE_CHECK(position_frequencies() >= 1 && position_frequencies() <= 16,
           "disentangled field: position_frequencies must be in [1, 16], got ", position_frequencies());
  NE_CHECK(direction_frequencies() >= 0 && direction_frequencies() <= 12,
           "disentangled field: direction_frequencies must be in [0, 12], got ", direction_frequencies());
  NE_CHECK(deform_layers() >= 1 && deform_layers() <= 16, "disentangled field: deform_layers must be in [1, 16], got ",
           deform_layers());
  NE_CHECK(deform_width() >= 1, "disentangled field: deform_width must be >= 1, got ", deform_width());
  NE_CHECK(num_layers() >= 1 && num_layers() <= 16, "disentangled field: num_layers must be in [1, 16], got ",
           num_layers());
  NE_CHECK(hidden_dim() >= 1, "disentangled field: hidden_dim must be >= 1, got ", hidden_dim());
  NE_CHECK(skip_layer() == -1 || (skip_layer() >= 0 && skip_layer() < num_layers() - 1),
           "disentangled field: skip_layer must be -1 or in [0, num_layers - 2], got ", skip_layer());
  NE_CHECK(color_width() >= 1, "disentangled field: color_width must be >= 1, got ", color_width());
}

nlohmann::json DisentangledFieldOptions::ToJson() const {
  return {{"aabb", aabb()},
          {"shape_code_dim", shape_code_dim()},
          {"appearance_code_dim", appearance_code_dim()},
          {"position_frequencies", position_frequencies()},
          {"direction_frequencies", direction_frequencies()},
          {"deform_layers", deform_layers()},
          {"deform_width", deform_width()},
          {"num_layers", num_layers()},
          {"hidden_dim", hidden_dim()},
          {"skip_layer", skip_layer()},
          {"color_width", color_width()}};
}

DisentangledFieldOptions DisentangledFieldOptions::FromJson(const nlohmann::json& j) {
  DisentangledFieldOptions o;
  JsonReader r(j, "disentangled field options");
  r.Optional("aabb", &o.aabb())
      .Optional("shape_code_dim", &o.shape_code_dim())
      .Optional("appearance_code_dim", &o.appearance_code_dim())
      .Optional("position_frequencies", &o.position_frequencies())
      .Optional("direction_frequencies", &o.direction_frequencies())
      .Optional("deform_layers", &o.deform_layers())
      .Optional("deform_width", &o.deform_width())
      .Optional("num_layers", &o.num_layers())
      .Optional("hidden_dim", &o.hidden_dim())
      .Optional("skip_layer", &o.skip_layer())
      .Optional("color_width", &o.color_width());
  r.Finish();
  o.Check();
  return o;
}

DisentangledFieldImpl::DisentangledFieldImpl(DisentangledFieldOptions options_) : options(std::move(options_)) {
  reset();
}

void DisentangledFieldImpl::reset() {
  options.Check();
  aabb_ = register_buffer("aabb", torch::tensor(options.aabb(), torch::kFloat32).view({2, 3}));
  // The paper's γ: sin/cos entries only (2m per coordinate), so that Δp ∈ R^{2m} has one entry per entry of γ.
  position_encoding = register_module(
      "position_encoding",
      PositionalEncoding(
          PositionalEncodingOptions().num_frequencies(options.position_frequencies()).include_input(false)));
  direction_encoding = register_module(
      "direction_encoding",
      PositionalEncoding(PositionalEncodingOptions().num_frequencies(options.direction_frequencies())));
  const int64_t encoded = position_encoding->output_dim(3);  // 6m
  // T reads γ(p) (the paper writes T(p, z_s); its input encoded as NeRF's MLPs read positions) and z_s.
  deform = register_module("deform", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.deform_layers(); ++i) {
    const int64_t in = i == 0 ? encoded + options.shape_code_dim() : options.deform_width();
    deform->push_back(torch::nn::Linear(in, options.deform_width()));
  }
  deform_out = register_module("deform_out", torch::nn::Linear(options.deform_width(), encoded));
  {
    // Zero displacement at the start: every code begins as the same (mean) shape and T learns the deviations.
    torch::NoGradGuard no_grad;
    deform_out->weight.zero_();
    deform_out->bias.zero_();
  }
  const int64_t w = options.hidden_dim();
  trunk = register_module("trunk", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    const int64_t in = i == 0 ? encoded : w + (i - 1 == options.skip_layer() ? encoded : 0);
    trunk->push_back(torch::nn::Linear(in, w));
  }
  density_head = register_module("density_head", torch::nn::Linear(w, 1));
  feature = register_module("feature", torch::nn::Linear(w, w));
  color = register_module("color", torch::nn::Linear(w + direction_encoding->output_dim(3) +
                                                         options.appearance_code_dim(),
                                                     options.color_width()));
  color_head = register_module("color_head", torch::nn::Linear(options.color_width(), 3));
}

at::Tensor DisentangledFieldImpl::Unit(const at::Tensor& positions) const {
  return (positions - aabb_[0]) / (aabb_[1] - aabb_[0]) * 2 - 1;
}

DeformedEncoding DisentangledFieldImpl::EncodeRays(const at::Tensor& unit, const at::Tensor& ray_shape_codes,
                                                   const at::Tensor& ray_of_sample) {
  DeformedEncoding e;
  const bool narrow = Narrow(options);
  e.gamma = position_encoding->forward(unit);
  at::Tensor h;
  for (int64_t i = 0; i < options.deform_layers(); ++i) {
    auto& layer = *deform->ptr<torch::nn::LinearImpl>(i);
    h = (i == 0 ? LinearWithRayCode(narrow, layer, e.gamma, ray_shape_codes, ray_of_sample)
                : Linear(narrow, h, layer.weight, layer.bias))
            .relu();
  }
  e.delta = Linear(narrow, h, deform_out->weight, deform_out->bias);
  e.gamma_star = e.gamma + torch::tanh(e.delta);  // Γ*(p, z_s) = γ(p) + tanh(Δp), entry-wise
  return e;
}

DeformedEncoding DisentangledFieldImpl::Encode(const at::Tensor& positions, const at::Tensor& shape_codes) {
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3, "disentangled field: positions must be [N,3], got ",
           positions.sizes());
  NE_CHECK(shape_codes.dim() == 2 && shape_codes.size(0) == positions.size(0) &&
               shape_codes.size(1) == options.shape_code_dim(),
           "disentangled field: shape codes must be [", positions.size(0), ",", options.shape_code_dim(), "], got ",
           shape_codes.sizes());
  return EncodeRays(Unit(positions), shape_codes.to(positions.dtype()),
                    torch::arange(positions.size(0), positions.options().dtype(at::kLong)));
}

std::pair<at::Tensor, at::Tensor> DisentangledFieldImpl::Trunk(const at::Tensor& gamma_star) {
  const bool narrow = Narrow(options);
  at::Tensor h = gamma_star;
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    auto& layer = *trunk->ptr<torch::nn::LinearImpl>(i);
    h = Linear(narrow, i > 0 && i - 1 == options.skip_layer() ? torch::cat({h, gamma_star}, 1) : h, layer.weight,
               layer.bias)
            .relu();
  }
  return {Linear(narrow, h, density_head->weight, density_head->bias).squeeze(1), h};
}

FieldOutputs DisentangledFieldImpl::QueryRays(const at::Tensor& positions_in, const at::Tensor& directions,
                                              const at::Tensor& ray_codes_in, const at::Tensor& ray_of_sample_in) {
  const bool narrow = Narrow(options);
  ThreadPolicyScope threads(narrow ? ThreadWork::kKernels : ThreadWork::kMatmul,
                            static_cast<double>(positions_in.size(0)) * options.hidden_dim() * options.hidden_dim());
  const at::Tensor positions = threads.Input(positions_in);
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3, "disentangled field: positions must be [N,3], got ",
           positions.sizes());
  NE_CHECK(directions.sizes() == positions.sizes(), "disentangled field: directions must be [", positions.size(0),
           ",3], got ", directions.sizes());
  NE_CHECK(ray_codes_in.dim() == 2 && ray_codes_in.size(1) == options.code_dim(),
           "disentangled field: codes must be [R,", options.code_dim(), "] = [z_s | z_a], got ", ray_codes_in.sizes());
  NE_CHECK(ray_of_sample_in.dim() == 1 && ray_of_sample_in.size(0) == positions.size(0),
           "disentangled field: one ray index per position expected, got ", ray_of_sample_in.sizes());
  const at::Tensor ray_codes = threads.Input(ray_codes_in).to(positions.dtype());
  const at::Tensor ray_of_sample = ray_of_sample_in.to(positions.device(), at::kLong);
  const int64_t s = options.shape_code_dim();
  const DeformedEncoding e = EncodeRays(Unit(positions), ray_codes.slice(1, 0, s), ray_of_sample);
  const auto [raw_density, h] = Trunk(e.gamma_star);
  // Deferred appearance conditioning: z_a joins after the density, with the trunk's feature and Γ(d).
  const at::Tensor colour_in = torch::cat(
      {Linear(narrow, h, feature->weight, feature->bias), direction_encoding->forward(directions)}, 1);
  const at::Tensor c = LinearWithRayCode(narrow, *color, colour_in, ray_codes.slice(1, s), ray_of_sample).relu();
  const at::Tensor inside = torch::logical_and(positions >= aabb_[0], positions <= aabb_[1]).all(1);
  FieldOutputs out;
  out.density = threads.Output(TruncExp(raw_density) * inside);
  out.rgb = threads.Output(torch::sigmoid(Linear(narrow, c, color_head->weight, color_head->bias)));
  return out;
}

FieldOutputs DisentangledFieldImpl::Query(const at::Tensor& positions, const at::Tensor& directions,
                                          const at::Tensor& codes) {
  NE_CHECK(codes.dim() == 2 && codes.size(0) == positions.size(0), "disentangled field: codes must be [",
           positions.size(0), ",", options.code_dim(), "], got ", codes.sizes());
  return QueryRays(positions, directions, codes,
                   torch::arange(positions.size(0), positions.options().dtype(at::kLong)));
}

at::Tensor DisentangledFieldImpl::QueryDensity(const at::Tensor& positions, const at::Tensor& codes) {
  NE_CHECK(codes.dim() == 2 && codes.size(0) == positions.size(0) && codes.size(1) == options.code_dim(),
           "disentangled field: codes must be [", positions.size(0), ",", options.code_dim(), "], got ",
           codes.sizes());
  const DeformedEncoding e = Encode(positions, codes.slice(1, 0, options.shape_code_dim()));
  const at::Tensor inside = torch::logical_and(positions >= aabb_[0], positions <= aabb_[1]).all(1);
  return TruncExp(Trunk(e.gamma_star).first) * inside;
}

}  // namespace nerfedit
