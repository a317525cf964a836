// Input encodings of the fields: NeRF's positional (Fourier) encoding and the real spherical-harmonics encoding
// of view directions used by Instant-NGP (tiny-cuda-nn "SphericalHarmonics").
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>

namespace nerfedit {

struct PositionalEncodingOptions {
  TORCH_ARG(int64_t, num_frequencies) = 10;  // K
  TORCH_ARG(bool, include_input) = true;     // prepend x itself, as NeRF does
  // gamma(x) uses sin(2^k pi x) as the NeRF paper writes it; the official NeRF and tiny-NeRF code use sin(2^k x)
  // (false here) because their scenes span a few units.
  TORCH_ARG(bool, multiply_by_pi) = true;
};

// x [N,D] -> [N, D*(include_input + 2K)] laid out as NeRF's embedder: [x, sin(f_0 x), cos(f_0 x), sin(f_1 x), ...]
// with f_k = 2^k (times pi when multiply_by_pi), each block D wide.
class PositionalEncodingImpl : public torch::nn::Module {
 public:
  explicit PositionalEncodingImpl(PositionalEncodingOptions options = {});
  void reset() {}
  at::Tensor forward(const at::Tensor& x) const;
  int64_t output_dim(int64_t input_dim = 3) const;

  PositionalEncodingOptions options;
};
TORCH_MODULE(PositionalEncoding);

// Real spherical harmonics of degree `degree` (1..4 -> 1, 4, 9, 16 coefficients) of unit directions [N,3] with
// components in [-1,1]; the same polynomials and signs as tiny-cuda-nn (which maps its [0,1] inputs to [-1,1] first).
class SphericalHarmonicsEncodingImpl : public torch::nn::Module {
 public:
  explicit SphericalHarmonicsEncodingImpl(int64_t degree = 4);
  void reset() {}
  at::Tensor forward(const at::Tensor& directions) const;  // [N,3] -> [N, degree^2] f32
  int64_t output_dim() const { return degree_ * degree_; }
  int64_t degree() const { return degree_; }

 private:
  int64_t degree_;
};
TORCH_MODULE(SphericalHarmonicsEncoding);

}  // namespace nerfedit
