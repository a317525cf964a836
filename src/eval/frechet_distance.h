// Fréchet distance between two sets of embeddings (the statistic behind FID, Heusel et al. 2017), each set summarised
// by a Gaussian (mean, covariance):
//   FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)
// with the matrix square roots taken by symmetric eigendecomposition (S_a^1/2 S_b S_a^1/2 is symmetric PSD, so its
// trace-of-square-root is the sum of the square roots of its eigenvalues; tiny negative ones from rounding are 0).
// nerfedit uses it in a CLIP image-embedding space (CLIP-NeRF's FID table with the embedding that is available): the
// embeddings come from methods/clipnerf/clipnerf_clip.h (ClipImageEmbeddings), this layer sees only [N,D] tensors.
#pragma once
#include <ATen/core/Tensor.h>

namespace nerfedit {

struct GaussianStats {
  at::Tensor mean;        // [D] f64
  at::Tensor covariance;  // [D,D] f64, unbiased (N - 1)
};

// x [N,D] (N >= 2, finite) -> its mean and covariance. Throws naming the shape otherwise.
GaussianStats EmbeddingStats(const at::Tensor& x);
// FD between two Gaussians of the same dimension (covariances symmetric PSD).
double FrechetDistance(const GaussianStats& a, const GaussianStats& b);
// FD between the Gaussians fitted to two sets of embeddings a [N,D] and b [M,D].
double FrechetDistance(const at::Tensor& a, const at::Tensor& b);
// Symmetric PSD matrix square root [D,D] (eigenvalues clamped at 0), f64.
at::Tensor SymmetricSqrt(const at::Tensor& m);

}  // namespace nerfedit
