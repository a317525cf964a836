#include "eval/frechet_distance.h"

#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace nerfedit {

GaussianStats EmbeddingStats(const at::Tensor& x_in) {
  NE_CHECK(x_in.defined() && x_in.dim() == 2 && x_in.size(0) >= 2 && x_in.size(1) >= 1,
           "Frechet distance: embeddings must be [N,D] with N >= 2, got ",
           x_in.defined() ? x_in.sizes() : at::IntArrayRef{});
  const at::Tensor x = x_in.detach().to(at::kCPU, at::kDouble);
  NE_CHECK(torch::isfinite(x).all().item<bool>(), "Frechet distance: the embeddings hold NaN or infinite values");
  GaussianStats s;
  s.mean = x.mean(0);
  const at::Tensor centred = x - s.mean;
  s.covariance = centred.t().matmul(centred) / static_cast<double>(x.size(0) - 1);
  return s;
}

at::Tensor SymmetricSqrt(const at::Tensor& m_in) {
  const at::Tensor m = m_in.to(at::kDouble);
  const at::Tensor sym = (m + m.t()) / 2;  // rounding can leave it slightly asymmetric
  const auto [values, vectors] = torch::linalg::eigh(sym, "L");
  return vectors.matmul(torch::diag(values.clamp_min(0).sqrt())).matmul(vectors.t());
}

double FrechetDistance(const GaussianStats& a, const GaussianStats& b) {
  NE_CHECK(a.mean.dim() == 1 && b.mean.sizes() == a.mean.sizes() && a.covariance.dim() == 2 &&
               a.covariance.size(0) == a.mean.size(0) && a.covariance.size(1) == a.mean.size(0) &&
               b.covariance.sizes() == a.covariance.sizes(),
           "Frechet distance: the two sets' dimensions differ (means ", a.mean.sizes(), " and ", b.mean.sizes(), ")");
  const at::Tensor sa = a.covariance.to(at::kDouble), sb = b.covariance.to(at::kDouble);
  const at::Tensor root_a = SymmetricSqrt(sa);
  at::Tensor inner = root_a.matmul(sb).matmul(root_a);
  inner = (inner + inner.t()) / 2;
  const at::Tensor eig = torch::linalg::eigvalsh(inner, "L");
  const double cross = eig.clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (a.mean.to(at::kDouble) - b.mean.to(at::kDouble)).pow(2).sum().item<double>();
  const double fd = mean_term + sa.trace().item<double>() + sb.trace().item<double>() - 2 * cross;
  return std::max(fd, 0.0);  // exact arithmetic gives >= 0; rounding can leave -1e-15
}

double FrechetDistance(const at::Tensor& a, const at::Tensor& b) {
  NE_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1),
           "Frechet distance: embeddings must be [N,D] and [M,D] with the same D, got ",
           a.defined() ? a.sizes() : at::IntArrayRef{}, " and ", b.defined() ? b.sizes() : at::IntArrayRef{});
  return FrechetDistance(EmbeddingStats(a), EmbeddingStats(b));
}

}  // namespace nerfedit
