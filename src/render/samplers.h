// Dense samplers of the original NeRF (Mildenhall 2020, Sec. 4 and 5.2): stratified bins and hierarchical
// (inverse-CDF) resampling from coarse weights. Both return bin edges [R,S+1]; RaySamples::FromDenseEdges packs them.
#pragma once
#include <ATen/core/Tensor.h>

namespace nerfedit {

// S bins between near [R] and far [R]. With jitter each edge moves uniformly inside its stratum (NeRF Eq. 2);
// without, edges are evenly spaced (deterministic evaluation).
at::Tensor StratifiedEdges(const at::Tensor& near, const at::Tensor& far, int64_t num_samples, bool jitter);
// The same with the jitter's uniforms given, [R,S+1] in [0,1) (columns 0 and S are ignored): a data-parallel rank
// renders its slice of a batch with the uniforms one process would have drawn for those rays.
at::Tensor StratifiedEdges(const at::Tensor& near, const at::Tensor& far, int64_t num_samples,
                           const at::Tensor& uniforms);

// Draws num_samples new edges from the piecewise-constant pdf given by `weights` [R,S] over `edges` [R,S+1]
// (NeRF Sec. 5.2); with include_coarse the result is the sorted union with the coarse edges, as NeRF's fine pass
// evaluates both sets. jitter=false uses evenly spaced CDF positions (deterministic).
at::Tensor HierarchicalEdges(const at::Tensor& edges, const at::Tensor& weights, int64_t num_samples, bool jitter,
                             bool include_coarse);

}  // namespace nerfedit
