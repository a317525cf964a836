// A table of learnable per-instance codes (an auto-decoder's latents): GLO for LOLNeRF, shape | appearance codes for
// CLIP-NeRF. The codes may be split into named-by-position parts (e.g. {128, 128}); the table carries its own
// optimiser settings because codes learn at another rate than the field they condition.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace nerfedit {

struct CodeTableOptions {
  TORCH_ARG(int64_t, num_codes) = 1;                                   // instances
  TORCH_ARG(std::vector<int64_t>, part_dims) = std::vector<int64_t>{64};  // code = concat of parts
  // GLO (Bojanowski et al. 2018) starts latents small and random; LOLNeRF as well (N(0, init_std^2)).
  TORCH_ARG(double, init_std) = 0.01;
  TORCH_ARG(double, lr) = 1e-3;           // the codes' own learning rate
  TORCH_ARG(double, norm_weight) = 0.0;   // weight of the penalty mean ||z||^2 over the codes a batch uses

 public:  // TORCH_ARG leaves the access at private
  void Check() const;
  static CodeTableOptions FromJson(const nlohmann::json& j);  // strict: unknown keys are errors
  nlohmann::json ToJson() const;
  int64_t code_dim() const;
};

class CodeTableImpl : public torch::nn::Module {
 public:
  explicit CodeTableImpl(CodeTableOptions options = {});
  void reset();

  at::Tensor Lookup(const at::Tensor& indices) const;           // [R] i64 -> [R, code_dim] (differentiable)
  at::Tensor Part(const at::Tensor& codes, int64_t part) const;  // columns of part `part` of codes [R, code_dim]
  at::Tensor NormPenalty(const at::Tensor& indices) const;       // norm_weight * mean_r ||z_r||^2 (0-d)
  at::Tensor Mean() const;                                      // [code_dim] mean code (detached): a neutral start
  int64_t code_dim() const { return options.code_dim(); }
  int64_t size() const { return options.num_codes(); }

  CodeTableOptions options;
  at::Tensor codes;  // [K, code_dim] f32 parameter "codes"
};
TORCH_MODULE(CodeTable);

}  // namespace nerfedit
