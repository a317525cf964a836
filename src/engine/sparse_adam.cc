#include "engine/sparse_adam.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/serialize/archive.h>

#include <atomic>
#include <cmath>

#include "util/error.h"

namespace nerfedit {

namespace {

struct Hyper {
  float lr, beta1, beta2, eps, bias1, bias2;  // bias_k = 1 - beta_k^t
  int64_t t;
  // beta_k^gap for the short gaps most rows have (a row of a fine level is touched every few steps); pow beyond.
  static constexpr int64_t kTable = 64;
  float pow1[kTable], pow2[kTable];
  void FillPowers() {
    pow1[0] = pow2[0] = 1.0f;
    for (int64_t i = 1; i < kTable; ++i) {
      pow1[i] = pow1[i - 1] * beta1;
      pow2[i] = pow2[i - 1] * beta2;
    }
  }
  float Pow1(int64_t gap) const { return gap < kTable ? pow1[gap] : std::pow(beta1, static_cast<float>(gap)); }
  float Pow2(int64_t gap) const { return gap < kTable ? pow2[gap] : std::pow(beta2, static_cast<float>(gap)); }
};

// The row update of one parameter viewed as [rows, cols]; returns the rows it touched.
int64_t UpdateRows(float* param, float* grad, float* m, float* v, int64_t* last, int64_t rows, int64_t cols,
                   const Hyper& h) {
  std::atomic<int64_t> touched{0};
  const float step_size = h.lr / h.bias1;
  const float inv_sqrt_bias2 = 1.0f / std::sqrt(h.bias2);
  at::parallel_for(0, rows, 4096, [&](int64_t begin, int64_t end) {
    int64_t local = 0;
    for (int64_t r = begin; r < end; ++r) {
      float* g = grad + r * cols;
      bool any = false;
      for (int64_t c = 0; c < cols; ++c) any |= g[c] != 0.0f;
      if (!any) continue;
      ++local;
      float* mr = m + r * cols;
      float* vr = v + r * cols;
      float* pr = param + r * cols;
      const int64_t gap = h.t - last[r] - 1;  // zero-gradient steps since this row's last update
      const float decay1 = h.Pow1(gap), decay2 = h.Pow2(gap);
      for (int64_t c = 0; c < cols; ++c) {
        const float gc = g[c];
        const float mc = h.beta1 * (decay1 * mr[c]) + (1.0f - h.beta1) * gc;
        const float vc = h.beta2 * (decay2 * vr[c]) + (1.0f - h.beta2) * gc * gc;
        mr[c] = mc;
        vr[c] = vc;
        pr[c] -= step_size * mc / (std::sqrt(vc) * inv_sqrt_bias2 + h.eps);
      }
      last[r] = h.t;
    }
    touched += local;
  });
  return touched.load();
}

// The same update with tensor ops (non-CPU parameters).
int64_t UpdateRowsWithOps(at::Tensor param, const at::Tensor& grad, at::Tensor m, at::Tensor v, at::Tensor last,
                          const Hyper& h) {
  const at::Tensor g = grad.reshape({grad.size(0), -1});
  const at::Tensor rows = g.ne(0).any(1).nonzero().squeeze(1);
  if (rows.numel() == 0) return 0;
  const at::Tensor gap = (h.t - last.index_select(0, rows) - 1).clamp_min(0).to(at::kFloat).unsqueeze(1);
  auto mr = m.reshape({m.size(0), -1}).index_select(0, rows) * at::pow(h.beta1, gap);
  auto vr = v.reshape({v.size(0), -1}).index_select(0, rows) * at::pow(h.beta2, gap);
  const at::Tensor gr = g.index_select(0, rows);
  mr = h.beta1 * mr + (1 - h.beta1) * gr;
  vr = h.beta2 * vr + (1 - h.beta2) * gr * gr;
  m.reshape({m.size(0), -1}).index_copy_(0, rows, mr);
  v.reshape({v.size(0), -1}).index_copy_(0, rows, vr);
  auto p = param.reshape({param.size(0), -1});
  p.index_copy_(0, rows, p.index_select(0, rows) - (h.lr / h.bias1) * mr / (vr.sqrt() / std::sqrt(h.bias2) + h.eps));
  last.index_fill_(0, rows, h.t);
  return rows.numel();
}

}  // namespace

SparseAdam::SparseAdam(std::vector<at::Tensor> params, SparseAdamOptions options)
    : torch::optim::Optimizer({torch::optim::OptimizerParamGroup(params)},
                              std::make_unique<SparseAdamOptions>(options)) {
  NE_CHECK(options.lr() >= 0 && options.eps() > 0 && options.beta1() >= 0 && options.beta1() < 1 &&
               options.beta2() >= 0 && options.beta2() < 1,
           "sparse adam: invalid options (lr ", options.lr(), ", betas ", options.beta1(), ", ", options.beta2(),
           ", eps ", options.eps(), ")");
  for (const auto& p : params) {
    NE_CHECK(p.scalar_type() == at::kFloat && p.dim() >= 1 && p.is_contiguous(),
             "sparse adam: parameters must be contiguous float32 tensors with rows along dimension 0");
    exp_avg_.push_back(at::zeros_like(p));
    exp_avg_sq_.push_back(at::zeros_like(p));
    last_step_.push_back(at::zeros({p.size(0)}, p.options().dtype(at::kLong)));
  }
}

at::Tensor SparseAdam::step(LossClosure closure) {
  NE_CHECK(closure == nullptr, "sparse adam: closures are not supported");
  at::NoGradGuard no_grad;
  const auto& options = static_cast<const SparseAdamOptions&>(param_groups()[0].options());
  ++step_;
  Hyper h{static_cast<float>(options.lr()),
          static_cast<float>(options.beta1()),
          static_cast<float>(options.beta2()),
          static_cast<float>(options.eps()),
          static_cast<float>(1 - std::pow(options.beta1(), step_)),
          static_cast<float>(1 - std::pow(options.beta2(), step_)),
          step_};
  h.FillPowers();
  last_touched_rows_ = 0;
  auto& params = param_groups()[0].params();
  for (size_t i = 0; i < params.size(); ++i) {
    at::Tensor& p = params[i];
    if (!p.grad().defined()) continue;
    const at::Tensor grad = p.grad().contiguous();
    const int64_t rows = p.size(0), cols = p.numel() / std::max<int64_t>(rows, 1);
    if (p.device().is_cpu()) {
      last_touched_rows_ += UpdateRows(p.data_ptr<float>(), grad.data_ptr<float>(), exp_avg_[i].data_ptr<float>(),
                                       exp_avg_sq_[i].data_ptr<float>(), last_step_[i].data_ptr<int64_t>(), rows, cols,
                                       h);
    } else {
      last_touched_rows_ += UpdateRowsWithOps(p, grad, exp_avg_[i], exp_avg_sq_[i], last_step_[i], h);
    }
    p.mutable_grad() = at::Tensor();  // the next backward hands over a fresh tensor: no zeroing, no accumulation
  }
  return {};
}

void SparseAdam::save(torch::serialize::OutputArchive& archive) const {
  archive.write("sparse_adam_step", at::tensor(step_), /*is_buffer=*/true);
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    const std::string k = std::to_string(i);
    archive.write("exp_avg." + k, exp_avg_[i], true);
    archive.write("exp_avg_sq." + k, exp_avg_sq_[i], true);
    archive.write("last_step." + k, last_step_[i], true);
  }
}

void SparseAdam::load(torch::serialize::InputArchive& archive) {
  at::Tensor step;
  archive.read("sparse_adam_step", step, true);
  step_ = step.item<int64_t>();
  NE_CHECK(step_ >= 0 && step_ < (int64_t{1} << 53), "sparse adam: the saved step count is ", step_,
           ", expected 0..2^53");
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    const std::string k = std::to_string(i);
    at::Tensor m, v, last;
    archive.read("exp_avg." + k, m, true);
    archive.read("exp_avg_sq." + k, v, true);
    archive.read("last_step." + k, last, true);
    NE_CHECK(m.sizes() == exp_avg_[i].sizes() && v.sizes() == exp_avg_sq_[i].sizes() &&
                 last.sizes() == last_step_[i].sizes(),
             "sparse adam: the saved state of parameter ", i, " has shape ", m.sizes(), ", expected ",
             exp_avg_[i].sizes());
    // UpdateRows indexes its table of decay powers by the gap step - last - 1: a row's last update must lie in
    // [0, step] (0: never updated), or the gap is negative and the lookup reads outside the table.
    const at::Tensor last_long = last.to(at::kLong);
    const int64_t first = last_long.numel() ? last_long.min().item<int64_t>() : 0;
    const int64_t latest = last_long.numel() ? last_long.max().item<int64_t>() : 0;
    NE_CHECK(first >= 0 && latest <= step_, "sparse adam: the saved state of parameter ", i,
             " has rows last updated at steps ", first, "..", latest, ", outside [0, ", step_, "]");
    exp_avg_[i].copy_(m);
    exp_avg_sq_[i].copy_(v);
    last_step_[i].copy_(last);
  }
}

}  // namespace nerfedit
