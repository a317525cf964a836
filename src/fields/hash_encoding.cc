#include "fields/hash_encoding.h"

#include <torch/torch.h>

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

void HashEncodingOptions::Check() const {
  NE_CHECK(num_levels() >= 1, "hash encoding: num_levels is ", num_levels(), ", expected >= 1");
  NE_CHECK(features_per_level() >= 1, "hash encoding: features_per_level is ", features_per_level(),
           ", expected >= 1");
  NE_CHECK(log2_hashmap_size() >= 1 && log2_hashmap_size() <= 30, "hash encoding: log2_hashmap_size is ",
           log2_hashmap_size(), ", expected 1..30");
  NE_CHECK(base_resolution() >= 1, "hash encoding: base_resolution is ", base_resolution(), ", expected >= 1");
  NE_CHECK(max_resolution() >= base_resolution() && max_resolution() <= (int64_t{1} << 20),
           "hash encoding: max_resolution is ", max_resolution(), ", expected between base_resolution (",
           base_resolution(), ") and 2^20");
  NE_CHECK(implementation() == "cpu_kernel" || implementation() == "reference", "hash encoding: implementation is \"",
           implementation(), "\", expected \"cpu_kernel\" or \"reference\"");
}

HashEncodingOptions HashEncodingOptions::FromJson(const nlohmann::json& j) {
  HashEncodingOptions o;
  JsonReader r(j, "hash encoding options");
  r.Optional("num_levels", &o.num_levels())
      .Optional("features_per_level", &o.features_per_level())
      .Optional("log2_hashmap_size", &o.log2_hashmap_size())
      .Optional("base_resolution", &o.base_resolution())
      .Optional("max_resolution", &o.max_resolution())
      .Optional("implementation", &o.implementation());
  r.Finish();
  o.Check();
  return o;
}

nlohmann::json HashEncodingOptions::ToJson() const {
  return {{"num_levels", num_levels()},
          {"features_per_level", features_per_level()},
          {"log2_hashmap_size", log2_hashmap_size()},
          {"base_resolution", base_resolution()},
          {"max_resolution", max_resolution()},
          {"implementation", implementation()}};
}

HashGridLayout HashGridLayout::FromOptions(const HashEncodingOptions& o) {
  o.Check();
  HashGridLayout layout;
  const int64_t levels = o.num_levels();
  const double log_scale =
      levels > 1 ? (std::log(double(o.max_resolution())) - std::log(double(o.base_resolution()))) / (levels - 1) : 0.0;
  const int64_t max_rows = int64_t{1} << o.log2_hashmap_size();
  int64_t offset = 0;
  for (int64_t l = 0; l < levels; ++l) {
    // +1e-6 so that rounding in exp() cannot floor the last level to N_max - 1.
    const int64_t resolution = static_cast<int64_t>(std::floor(o.base_resolution() * std::exp(l * log_scale) + 1e-6));
    const int64_t vertices = (resolution + 1) * (resolution + 1) * (resolution + 1);
    const bool dense = vertices <= max_rows;
    // Dense levels round up to a multiple of 8 rows (instant-ngp does so for alignment); the extra rows are unused.
    const int64_t rows = dense ? (vertices + 7) / 8 * 8 : max_rows;
    layout.resolution.push_back(resolution);
    layout.offset.push_back(offset);
    layout.size.push_back(rows);
    layout.dense.push_back(dense ? 1 : 0);
    offset += rows;
  }
  layout.offset.push_back(offset);
  return layout;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The layout travels through the autograd context as four int lists (tiny: one entry per level).
void SaveLayout(AutogradContext* ctx, const HashGridLayout& layout) {
  ctx->saved_data["resolution"] = layout.resolution;
  ctx->saved_data["offset"] = layout.offset;
  ctx->saved_data["size"] = layout.size;
  ctx->saved_data["dense"] = layout.dense;
}

HashGridLayout LoadLayout(AutogradContext* ctx) {
  HashGridLayout layout;
  layout.resolution = ctx->saved_data["resolution"].toIntVector();
  layout.offset = ctx->saved_data["offset"].toIntVector();
  layout.size = ctx->saved_data["size"].toIntVector();
  layout.dense = ctx->saved_data["dense"].toIntVector();
  return layout;
}

// Forward and backward both run the hand-written CPU kernel. Nothing per point is stored between them: the backward
// recomputes corner indices and weights from the positions, which is cheaper than keeping [N, L, 8] of each.
class HashEncodingFunction : public torch::autograd::Function<HashEncodingFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& positions, const at::Tensor& table,
                            const HashGridLayout& layout) {
    ctx->save_for_backward({positions, table});
    SaveLayout(ctx, layout);
    return HashEncodingForwardCpu(positions, table, layout);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const bool want_positions_grad = ctx->needs_input_grad(0);
    auto [grad_table, grad_positions] =
        HashEncodingBackwardCpu(grad_outputs[0], saved[0], saved[1], LoadLayout(ctx), want_positions_grad);
    return {grad_positions, grad_table, at::Tensor()};
  }
};

}  // namespace

HashEncodingImpl::HashEncodingImpl(HashEncodingOptions options_) : options(std::move(options_)) { reset(); }

void HashEncodingImpl::reset() {
  layout_ = HashGridLayout::FromOptions(options);
  table = register_parameter(
      "table",
      torch::empty({layout_.total_rows(), options.features_per_level()}, torch::kFloat32).uniform_(-1e-4, 1e-4));
}

std::vector<at::Tensor> HashEncodingTables(const torch::nn::Module& module) {
  std::vector<at::Tensor> tables;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (const auto* encoding = dynamic_cast<const HashEncodingImpl*>(m.get())) tables.push_back(encoding->table);
  }
  return tables;
}

at::Tensor HashEncodingImpl::forward(const at::Tensor& positions) {
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3, "hash encoding: positions must be [N,3], got ",
           positions.sizes());
  NE_CHECK(positions.scalar_type() == at::kFloat, "hash encoding: positions must be float32, got ",
           positions.scalar_type());
  NE_CHECK(positions.device() == table.device(), "hash encoding: positions are on ", positions.device(),
           " but the table is on ", table.device());
  // CUDA kernel dispatch point: a CUDA tensor will go to HashEncodingForwardCuda (hash_encoding_cuda.cu, its own
  // issue) behind the same autograd Function. Until it exists, the reference runs on the GPU.
  if (options.implementation() == "reference" || !positions.device().is_cpu()) return ForwardReference(positions);
  return ForwardKernel(positions);
}

at::Tensor HashEncodingImpl::ForwardKernel(const at::Tensor& positions) {
  return HashEncodingFunction::apply(positions, table, layout_);
}

at::Tensor HashEncodingImpl::ForwardReference(const at::Tensor& positions) {
  const int64_t n = positions.size(0);
  const int64_t features = options.features_per_level();
  const auto long_opts = positions.options().dtype(torch::kLong);
  const at::Tensor x = positions.clamp(0.0, 1.0);
  // Corner c of a cell is offset by (c & 1, c >> 1 & 1, c >> 2 & 1), the same order as the kernel.
  const at::Tensor corner_bits = torch::tensor({0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1},
                                               long_opts)
                                     .view({3, 8})
                                     .t();  // [8,3]
  std::vector<at::Tensor> per_level;
  for (int64_t l = 0; l < layout_.num_levels(); ++l) {
    const int64_t resolution = layout_.resolution[l];
    const at::Tensor scaled = x * static_cast<float>(resolution);
    // x = 1 stays in the last cell.
    const at::Tensor cell = scaled.floor().clamp_max(static_cast<double>(resolution - 1));
    const at::Tensor frac = scaled - cell;                                                  // [N,3]
    const at::Tensor corners = cell.to(torch::kLong).unsqueeze(1) + corner_bits;            // [N,8,3]
    const at::Tensor cx = corners.select(2, 0), cy = corners.select(2, 1), cz = corners.select(2, 2);
    at::Tensor index;
    if (layout_.dense[l]) {
      const int64_t side = resolution + 1;
      index = cx + cy * side + cz * (side * side);
    } else {
      // uint32 products emulated in int64 (coordinates <= 2^20, so the products fit) then wrapped to 32 bits.
      index = torch::bitwise_xor(torch::bitwise_xor(cx, cy * int64_t{2654435761}), cz * int64_t{805459861});
      // remainder, not the kernel's mask: the reference states "mod T" literally, so the test checks the mask too.
      index = torch::bitwise_and(index, int64_t{0xffffffff}).remainder(layout_.size[l]);
    }
    const at::Tensor rows = table.index_select(0, (index + layout_.offset[l]).view({-1})).view({n, 8, features});
    const at::Tensor bits = corner_bits.to(torch::kBool);  // [8,3]
    const at::Tensor per_axis = torch::where(bits, frac.unsqueeze(1), 1.0f - frac.unsqueeze(1));  // [N,8,3]
    const at::Tensor weights = per_axis.select(2, 0) * per_axis.select(2, 1) * per_axis.select(2, 2);  // [N,8]
    per_level.push_back((weights.unsqueeze(2) * rows).sum(1));  // [N,F]
  }
  return torch::cat(per_level, 1);
}

}  // namespace nerfedit
