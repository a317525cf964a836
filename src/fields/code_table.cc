#include "fields/code_table.h"

#include <torch/torch.h>

#include <numeric>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

void CodeTableOptions::Check() const {
  NE_CHECK(num_codes() >= 1, "code table: num_codes is ", num_codes(), ", expected >= 1");
  NE_CHECK(!part_dims().empty(), "code table: part_dims is empty");
  for (int64_t d : part_dims()) NE_CHECK(d >= 1, "code table: a part of ", d, " dimensions, expected >= 1");
  NE_CHECK(init_std() >= 0, "code table: init_std is ", init_std(), ", expected >= 0");
  NE_CHECK(lr() > 0, "code table: lr is ", lr(), ", expected > 0");
  NE_CHECK(norm_weight() >= 0, "code table: norm_weight is ", norm_weight(), ", expected >= 0");
}

int64_t CodeTableOptions::code_dim() const {
  return std::accumulate(part_dims().begin(), part_dims().end(), int64_t{0});
}

CodeTableOptions CodeTableOptions::FromJson(const nlohmann::json& j) {
  CodeTableOptions o;
  JsonReader r(j, "code table options");
  r.Optional("num_codes", &o.num_codes())
      .Optional("part_dims", &o.part_dims())
      .Optional("init_std", &o.init_std())
      .Optional("lr", &o.lr())
      .Optional("norm_weight", &o.norm_weight());
  r.Finish();
  o.Check();
  return o;
}

nlohmann::json CodeTableOptions::ToJson() const {
  return {{"num_codes", num_codes()}, {"part_dims", part_dims()}, {"init_std", init_std()}, {"lr", lr()},
          {"norm_weight", norm_weight()}};
}

CodeTableImpl::CodeTableImpl(CodeTableOptions options_) : options(std::move(options_)) { reset(); }

void CodeTableImpl::reset() {
  options.Check();
  codes = register_parameter("codes", torch::randn({options.num_codes(), options.code_dim()}) * options.init_std());
}

at::Tensor CodeTableImpl::Lookup(const at::Tensor& indices) const {
  NE_CHECK(indices.scalar_type() == at::kLong && indices.dim() == 1, "code table: indices must be a 1-d int64 tensor");
  if (indices.numel() > 0) {
    const int64_t lo = indices.min().item<int64_t>(), hi = indices.max().item<int64_t>();
    NE_CHECK(lo >= 0 && hi < options.num_codes(), "code table: index ", lo < 0 ? lo : hi, " is outside the ",
             options.num_codes(), " codes");
  }
  return codes.index_select(0, indices.to(codes.device()));
}

at::Tensor CodeTableImpl::Part(const at::Tensor& z, int64_t part) const {
  const auto& dims = options.part_dims();
  NE_CHECK(part >= 0 && part < static_cast<int64_t>(dims.size()), "code table: part ", part, " of ", dims.size());
  const int64_t begin = std::accumulate(dims.begin(), dims.begin() + part, int64_t{0});
  return z.slice(-1, begin, begin + dims[part]);
}

at::Tensor CodeTableImpl::NormPenalty(const at::Tensor& indices) const {
  if (options.norm_weight() == 0) return torch::zeros({}, codes.options());
  return options.norm_weight() * Lookup(indices).pow(2).sum(1).mean();
}

at::Tensor CodeTableImpl::Mean() const { return codes.detach().mean(0); }

}  // namespace nerfedit
