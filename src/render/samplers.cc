#include "render/samplers.h"

#include <ATen/ATen.h>

#include "util/error.h"

namespace nerfedit {

at::Tensor StratifiedEdges(const at::Tensor& near, const at::Tensor& far, int64_t num_samples, bool jitter) {
  NE_CHECK(num_samples >= 1, "stratified sampler: num_samples must be >= 1, got ", num_samples);
  if (!jitter) return StratifiedEdges(near, far, num_samples, at::Tensor());
  return StratifiedEdges(near, far, num_samples, at::rand({near.size(0), num_samples + 1}, near.options()));
}

at::Tensor StratifiedEdges(const at::Tensor& near, const at::Tensor& far, int64_t num_samples,
                           const at::Tensor& uniforms) {
  NE_CHECK(num_samples >= 1, "stratified sampler: num_samples must be >= 1, got ", num_samples);
  auto steps = at::linspace(0, 1, num_samples + 1, near.options());                // [S+1]
  auto edges = near.unsqueeze(1) + (far - near).unsqueeze(1) * steps.unsqueeze(0);  // [R,S+1]
  if (!uniforms.defined()) return edges;
  NE_CHECK(uniforms.sizes() == edges.sizes(), "stratified sampler: uniforms must be ", edges.sizes(), ", got ",
           uniforms.sizes());
  // Jitter each edge inside the stratum between its neighbours' midpoints, keeping near/far fixed.
  auto mids = (edges.slice(1, 1) + edges.slice(1, 0, -1)) * 0.5f;                  // [R,S]
  auto lower = at::cat({edges.slice(1, 0, 1), mids}, 1);
  auto upper = at::cat({mids, edges.slice(1, -1)}, 1);
  auto u = uniforms.to(edges.options()).clone();
  u.select(1, 0).fill_(0);
  u.select(1, num_samples).fill_(1);
  return lower + (upper - lower) * u;
}

at::Tensor HierarchicalEdges(const at::Tensor& edges, const at::Tensor& weights, int64_t num_samples, bool jitter,
                             bool include_coarse) {
  NE_CHECK(edges.dim() == 2 && weights.dim() == 2 && edges.size(1) == weights.size(1) + 1,
           "hierarchical sampler: edges must be [R,S+1] for weights [R,S], got ", edges.sizes(), " and ", weights.sizes());
  const int64_t rays = edges.size(0);
  auto w = weights.detach() + 1e-5f;  // keeps the pdf defined where every weight is zero (NeRF adds 1e-5 too)
  auto pdf = w / w.sum(1, true);
  auto cdf = at::cat({at::zeros({rays, 1}, pdf.options()), at::cumsum(pdf, 1)}, 1).clamp_max(1.0f);  // [R,S+1]
  at::Tensor u;
  if (jitter) {
    u = at::rand({rays, num_samples + 1}, pdf.options());
  } else {
    u = at::linspace(0, 1, num_samples + 1, pdf.options()).expand({rays, num_samples + 1}).contiguous();
  }
  auto index = at::searchsorted(cdf.contiguous(), u.contiguous(), /*out_int32=*/false, /*right=*/true);
  auto below = (index - 1).clamp(0, edges.size(1) - 1);
  auto above = index.clamp(0, edges.size(1) - 1);
  auto cdf_below = cdf.gather(1, below), cdf_above = cdf.gather(1, above);
  auto edge_below = edges.gather(1, below), edge_above = edges.gather(1, above);
  auto denom = cdf_above - cdf_below;
  auto frac = at::where(denom > 1e-8f, (u - cdf_below) / denom.clamp_min(1e-8f), at::zeros_like(denom));
  auto fine = (edge_below + frac * (edge_above - edge_below)).detach();
  if (!include_coarse) return std::get<0>(at::sort(fine, 1));
  return std::get<0>(at::sort(at::cat({edges.detach(), fine}, 1), 1));
}

}  // namespace nerfedit
