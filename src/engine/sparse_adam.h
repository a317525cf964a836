// Adam for embedding-like parameters whose rows a step mostly leaves untouched (hash-grid tables: a 2^19-row level
// sees a few percent of its rows per batch). Dense Adam reads and writes every row of param, grad, m and v each
// step, and zero_grad and gradient accumulation add two more passes; this optimizer scans the gradient once and
// updates only the rows with a non-zero gradient, in one fused CPU kernel (at::parallel_for over rows).
//
// Untouched rows are updated lazily, as a dense Adam would have left them except for the parameter drift: when a
// row is next touched at step t after its last update at step s, its moments are first decayed by beta^(t-s-1)
// (the zero-gradient steps in between), then the usual update runs with the bias correction of step t.
// Instant-NGP / tiny-cuda-nn skip zero-gradient table entries entirely (no decay); decaying keeps the moments'
// scale what Adam's would be. After step() every gradient is released (set to undefined): the next backward hands
// over its freshly zeroed tensor instead of adding into a zeroed one.
#pragma once
#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include <tuple>
#include <vector>

namespace nerfedit {

struct SparseAdamOptions : public torch::optim::OptimizerCloneableOptions<SparseAdamOptions> {
  SparseAdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit like torch's AdamOptions
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.99;
  TORCH_ARG(double, eps) = 1e-15;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double value) override { lr(value); }
};

class SparseAdam : public torch::optim::Optimizer {
 public:
  // Parameters: float32 CPU tensors, rows along dimension 0 (any trailing shape). CUDA tensors fall back to the
  // same lazy update written with tensor ops.
  SparseAdam(std::vector<at::Tensor> params, SparseAdamOptions options);

  at::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  int64_t steps() const { return step_; }
  // Rows updated by the last step, over all parameters (for profiles and tests).
  int64_t last_touched_rows() const { return last_touched_rows_; }

 private:
  int64_t step_ = 0;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;  // per parameter, like the parameter
  std::vector<at::Tensor> last_step_;             // per parameter: [rows] i64, the step of each row's last update
  int64_t last_touched_rows_ = 0;
};

}  // namespace nerfedit
