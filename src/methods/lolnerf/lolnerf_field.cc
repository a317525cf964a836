#include "methods/lolnerf/lolnerf_field.h"

#include <torch/torch.h>

#include "fields/hash_grid_field.h"
#include "fields/row_parallel_linear.h"
#include "util/error.h"
#include "util/thread_policy.h"

namespace nerfedit {

void LolnerfFieldOptions::Check() const {
  NE_CHECK(encoding() == "hash_grid" || encoding() == "mlp", "lolnerf field: encoding must be hash_grid or mlp, got \"",
           encoding(), "\"");
  NE_CHECK(aabb().size() == 6, "lolnerf field: aabb must hold 6 numbers, got ", aabb().size());
  for (int i = 0; i < 3; ++i) {
    NE_CHECK(aabb()[i] < aabb()[i + 3], "lolnerf field: aabb min ", aabb()[i], " is not below max ", aabb()[i + 3]);
  }
  NE_CHECK(code_dim() >= 1, "lolnerf field: code_dim must be >= 1, got ", code_dim());
  hash().Check();
  NE_CHECK(position_frequencies() >= 0 && position_frequencies() <= 16,
           "lolnerf field: position_frequencies must be in [0, 16], got ", position_frequencies());
  NE_CHECK(num_layers() >= 1 && num_layers() <= 16, "lolnerf field: num_layers must be in [1, 16], got ",
           num_layers());
  NE_CHECK(hidden_dim() >= 1, "lolnerf field: hidden_dim must be >= 1, got ", hidden_dim());
  NE_CHECK(skip_layer() == -1 || (skip_layer() >= 0 && skip_layer() < num_layers() - 1),
           "lolnerf field: skip_layer must be -1 or in [0, num_layers - 2], got ", skip_layer());
}

nlohmann::json LolnerfFieldOptions::ToJson() const {
  return {{"encoding", encoding()},   {"aabb", aabb()},           {"code_dim", code_dim()},
          {"hash", hash().ToJson()},  {"position_frequencies", position_frequencies()},
          {"num_layers", num_layers()}, {"hidden_dim", hidden_dim()}, {"skip_layer", skip_layer()}};
}

LolnerfFieldImpl::LolnerfFieldImpl(LolnerfFieldOptions options_) : options(std::move(options_)) { reset(); }

void LolnerfFieldImpl::reset() {
  options.Check();
  aabb_ = register_buffer("aabb", torch::tensor(options.aabb(), torch::kFloat32).view({2, 3}));
  int64_t encoded = 0;
  if (options.encoding() == "hash_grid") {
    hash = register_module("hash", HashEncoding(options.hash()));
    encoded = hash->output_dim();
  } else {
    positional = register_module(
        "positional", PositionalEncoding(PositionalEncodingOptions().num_frequencies(options.position_frequencies())));
    encoded = positional->output_dim(3);
  }
  const int64_t input = encoded + options.code_dim(), w = options.hidden_dim();
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    const int64_t in = i == 0 ? input : w + (i - 1 == options.skip_layer() ? input : 0);
    layers->push_back(torch::nn::Linear(in, w));
  }
  head = register_module("head", torch::nn::Linear(w, 4));
}

at::Tensor LolnerfFieldImpl::Linear(const torch::nn::LinearImpl& layer, const at::Tensor& x) const {
  // The hash variant's narrow layers over many rows: split by rows over torch's threads (fields/row_parallel_linear.h).
  if (options.encoding() == "hash_grid") return RowParallelLinear(x, layer.weight, layer.bias);
  return torch::nn::functional::linear(x, layer.weight, layer.bias);
}

at::Tensor LolnerfFieldImpl::Trunk(const at::Tensor& positions, const at::Tensor& ray_codes,
                                  const at::Tensor& ray_of_sample) {
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3, "lolnerf field: positions must be [N,3], got ",
           positions.sizes());
  NE_CHECK(ray_codes.dim() == 2 && ray_codes.size(1) == options.code_dim(), "lolnerf field: codes must be [R,",
           options.code_dim(), "], got ", ray_codes.sizes());
  NE_CHECK(ray_of_sample.dim() == 1 && ray_of_sample.size(0) == positions.size(0),
           "lolnerf field: one ray index per position expected, got ", ray_of_sample.sizes());
  const at::Tensor unit = (positions - aabb_[0]) / (aabb_[1] - aabb_[0]);  // [0,1]^3 inside the box
  const at::Tensor encoded = options.encoding() == "hash_grid" ? hash->forward(unit) : positional->forward(unit * 2 - 1);
  const at::Tensor codes = ray_codes.to(encoded.dtype());
  const int64_t c = options.code_dim();
  // A layer on [x, z] (x per sample, z per ray): W_x x + b + gather(W_z z).
  auto with_code = [&](const torch::nn::LinearImpl& layer, const at::Tensor& x) {
    const int64_t k = layer.weight.size(1) - c;
    const at::Tensor w_x = layer.weight.slice(1, 0, k).contiguous(), w_z = layer.weight.slice(1, k).contiguous();
    const at::Tensor per_sample = options.encoding() == "hash_grid" ? RowParallelLinear(x, w_x, layer.bias)
                                                                    : torch::nn::functional::linear(x, w_x, layer.bias);
    return per_sample + torch::nn::functional::linear(codes, w_z).index_select(0, ray_of_sample);
  };
  at::Tensor h;
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    const torch::nn::LinearImpl& layer = *layers->ptr<torch::nn::LinearImpl>(i);
    if (i == 0) {
      h = with_code(layer, encoded);  // the code at the input ...
    } else if (i - 1 == options.skip_layer()) {
      h = with_code(layer, torch::cat({h, encoded}, 1));  // ... and again at the skip: [h, x, z]
    } else {
      h = Linear(layer, h);
    }
    h = h.relu();
  }
  return Linear(*head, h);
}

FieldOutputs LolnerfFieldImpl::QueryRays(const at::Tensor& positions_in, const at::Tensor& ray_codes_in,
                                         const at::Tensor& ray_of_sample) {
  const bool big = options.encoding() == "mlp";
  ThreadPolicyScope threads(big ? ThreadWork::kMatmul : ThreadWork::kKernels,
                            static_cast<double>(positions_in.size(0)) * options.hidden_dim() * options.hidden_dim());
  const at::Tensor positions = threads.Input(positions_in), ray_codes = threads.Input(ray_codes_in);
  const at::Tensor raw = Trunk(positions, ray_codes, ray_of_sample.to(positions.device(), at::kLong));
  const at::Tensor inside = torch::logical_and(positions >= aabb_[0], positions <= aabb_[1]).all(1);
  FieldOutputs out;
  out.density = threads.Output(TruncExp(raw.select(1, 0)) * inside);
  out.rgb = threads.Output(torch::sigmoid(raw.slice(1, 1, 4)));
  return out;
}

FieldOutputs LolnerfFieldImpl::Query(const at::Tensor& positions, const at::Tensor& directions,
                                     const at::Tensor& codes) {
  NE_CHECK(codes.dim() == 2 && codes.size(0) == positions.size(0), "lolnerf field: codes must be [",
           positions.size(0), ",", options.code_dim(), "], got ", codes.sizes());
  return QueryRays(positions, codes, torch::arange(positions.size(0), positions.options().dtype(at::kLong)));
}

at::Tensor LolnerfFieldImpl::QueryDensity(const at::Tensor& positions, const at::Tensor& codes) {
  return Query(positions, positions, codes).density;
}

void LolnerfBackgroundOptions::Check() const {
  NE_CHECK(code_dim() >= 1, "lolnerf background: code_dim must be >= 1, got ", code_dim());
  NE_CHECK(direction_frequencies() >= 0 && direction_frequencies() <= 12,
           "lolnerf background: bg_frequencies must be in [0, 12], got ", direction_frequencies());
  NE_CHECK(num_layers() >= 1 && num_layers() <= 8, "lolnerf background: bg_num_layers must be in [1, 8], got ",
           num_layers());
  NE_CHECK(hidden_dim() >= 1, "lolnerf background: bg_hidden_dim must be >= 1, got ", hidden_dim());
}

LolnerfBackgroundImpl::LolnerfBackgroundImpl(LolnerfBackgroundOptions options_) : options(std::move(options_)) {
  reset();
}

void LolnerfBackgroundImpl::reset() {
  options.Check();
  encoding = register_module(
      "encoding", PositionalEncoding(PositionalEncodingOptions().num_frequencies(options.direction_frequencies())));
  const int64_t input = encoding->output_dim(3) + options.code_dim();
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    layers->push_back(torch::nn::Linear(i == 0 ? input : options.hidden_dim(), options.hidden_dim()));
  }
  head = register_module("head", torch::nn::Linear(options.hidden_dim(), 3));
}

at::Tensor LolnerfBackgroundImpl::forward(const at::Tensor& directions, const at::Tensor& codes) {
  at::Tensor h = torch::cat({encoding->forward(directions), codes}, 1);
  for (const auto& layer : *layers) h = layer->as<torch::nn::Linear>()->forward(h).relu_();
  return torch::sigmoid(head->forward(h));
}

}  // namespace nerfedit
