#include "fields/hash_grid_field.h"

#include <torch/torch.h>

#include "fields/row_parallel_linear.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

void HashGridFieldOptions::Check() const {
  NE_CHECK(aabb().size() == 6, "hash_grid field: aabb has ", aabb().size(), " values, expected 6 (min xyz, max xyz)");
  for (int d = 0; d < 3; ++d) {
    NE_CHECK(aabb()[d] < aabb()[d + 3], "hash_grid field: aabb min[", d, "] = ", aabb()[d], " is not below max[", d,
             "] = ", aabb()[d + 3]);
  }
  encoding().Check();
  NE_CHECK(hidden_dim() >= 1, "hash_grid field: hidden_dim is ", hidden_dim(), ", expected >= 1");
  NE_CHECK(num_hidden_layers() >= 0, "hash_grid field: num_hidden_layers is ", num_hidden_layers(), ", expected >= 0");
  NE_CHECK(geo_feat_dim() >= 0, "hash_grid field: geo_feat_dim is ", geo_feat_dim(), ", expected >= 0");
  NE_CHECK(color_hidden_dim() >= 1, "hash_grid field: color_hidden_dim is ", color_hidden_dim(), ", expected >= 1");
  NE_CHECK(color_num_hidden_layers() >= 0, "hash_grid field: color_num_hidden_layers is ", color_num_hidden_layers(),
           ", expected >= 0");
  NE_CHECK(sh_degree() >= 1 && sh_degree() <= 4, "hash_grid field: sh_degree is ", sh_degree(), ", expected 1..4");
}

HashGridFieldOptions HashGridFieldOptions::FromJson(const nlohmann::json& j) {
  HashGridFieldOptions o;
  JsonReader r(j, "hash_grid field options");
  r.Optional("aabb", &o.aabb())
      .Optional("hidden_dim", &o.hidden_dim())
      .Optional("num_hidden_layers", &o.num_hidden_layers())
      .Optional("geo_feat_dim", &o.geo_feat_dim())
      .Optional("color_hidden_dim", &o.color_hidden_dim())
      .Optional("color_num_hidden_layers", &o.color_num_hidden_layers())
      .Optional("sh_degree", &o.sh_degree());
  if (j.contains("encoding")) o.encoding(HashEncodingOptions::FromJson(r.Sub("encoding")));
  r.Finish();
  o.Check();
  return o;
}

nlohmann::json HashGridFieldOptions::ToJson() const {
  return {{"aabb", aabb()},
          {"encoding", encoding().ToJson()},
          {"hidden_dim", hidden_dim()},
          {"num_hidden_layers", num_hidden_layers()},
          {"geo_feat_dim", geo_feat_dim()},
          {"color_hidden_dim", color_hidden_dim()},
          {"color_num_hidden_layers", color_num_hidden_layers()},
          {"sh_degree", sh_degree()}};
}

namespace {

class TruncExpFunction : public torch::autograd::Function<TruncExpFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    // Forward clamped far above any useful density (e^80 ~ 5e34) so it stays finite: an inf density times a
    // zero-length interval (rays that miss the box) is NaN. LOLNeRF without its background model pushed raw
    // densities past 88 (float32's exp overflow) within 400 steps.
    return x.clamp_max(80.0).exp();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {grad[0] * x.clamp_max(15.0).exp()};
  }
};

// Linear (no bias) layers with ReLU between them; ReLU runs in place (its input is a fresh matmul output).
torch::nn::Sequential MakeMlp(int64_t in, int64_t hidden, int64_t num_hidden, int64_t out) {
  torch::nn::Sequential mlp;
  int64_t width = in;
  for (int64_t i = 0; i < num_hidden; ++i) {
    mlp->push_back(torch::nn::Linear(torch::nn::LinearOptions(width, hidden).bias(false)));
    mlp->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    width = hidden;
  }
  mlp->push_back(torch::nn::Linear(torch::nn::LinearOptions(width, out).bias(false)));
  return mlp;
}

}  // namespace

at::Tensor TruncExp(const at::Tensor& x) { return TruncExpFunction::apply(x); }

HashGridFieldImpl::HashGridFieldImpl(HashGridFieldOptions options_) : options(std::move(options_)) { reset(); }

void HashGridFieldImpl::reset() {
  options.Check();
  aabb_ = register_buffer("aabb", torch::tensor(options.aabb(), torch::kFloat32).view({2, 3}));
  encoding = register_module("encoding", HashEncoding(options.encoding()));
  direction_encoding = register_module("direction_encoding", SphericalHarmonicsEncoding(options.sh_degree()));
  density_mlp = register_module("density_mlp", MakeMlp(encoding->output_dim(), options.hidden_dim(),
                                                       options.num_hidden_layers(), 1 + options.geo_feat_dim()));
  color_mlp = register_module("color_mlp", MakeMlp(options.geo_feat_dim() + direction_encoding->output_dim(),
                                                   options.color_hidden_dim(), options.color_num_hidden_layers(), 3));
}

std::pair<at::Tensor, at::Tensor> HashGridFieldImpl::DensityAndFeatures(const at::Tensor& positions) {
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3, "hash_grid field: positions must be [N,3], got ",
           positions.sizes());
  const at::Tensor lo = aabb_[0], hi = aabb_[1];
  const at::Tensor unit = (positions - lo) / (hi - lo);  // [N,3] in [0,1] inside the box
  const at::Tensor inside = torch::logical_and(unit >= 0, unit <= 1).all(1);  // [N] bool
  const at::Tensor h = ForwardRowParallelMlp(density_mlp, encoding->forward(unit));  // [N, 1 + geo]
  // Outside the box the encoding sees clamped positions; the density there is defined to be zero.
  const at::Tensor density = TruncExp(h.select(1, 0)) * inside;
  return {density, h};
}

FieldOutputs HashGridFieldImpl::Query(const at::Tensor& positions, const at::Tensor& directions) {
  NE_CHECK(directions.sizes() == positions.sizes(), "hash_grid field: directions ", directions.sizes(),
           " do not match positions ", positions.sizes());
  auto [density, h] = DensityAndFeatures(positions);
  const at::Tensor geo = h.narrow(1, 1, options.geo_feat_dim());
  const at::Tensor color_in = torch::cat({geo, direction_encoding->forward(directions)}, 1);
  FieldOutputs out;
  out.density = density;
  out.rgb = torch::sigmoid(ForwardRowParallelMlp(color_mlp, color_in));
  return out;
}

at::Tensor HashGridFieldImpl::QueryDensity(const at::Tensor& positions) { return DensityAndFeatures(positions).first; }

}  // namespace nerfedit
