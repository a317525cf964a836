#include "fields/encodings.h"

#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace nerfedit {

PositionalEncodingImpl::PositionalEncodingImpl(PositionalEncodingOptions options_) : options(options_) {
  NE_CHECK(options.num_frequencies() >= 0, "positional encoding: num_frequencies is ", options.num_frequencies(),
           ", expected >= 0");
  NE_CHECK(options.include_input() || options.num_frequencies() > 0,
           "positional encoding: no frequencies and include_input false would produce an empty encoding");
}

int64_t PositionalEncodingImpl::output_dim(int64_t input_dim) const {
  return input_dim * ((options.include_input() ? 1 : 0) + 2 * options.num_frequencies());
}

at::Tensor PositionalEncodingImpl::forward(const at::Tensor& x) const {
  NE_CHECK(x.dim() == 2, "positional encoding: input must be [N,D], got ", x.sizes());
  const int64_t k = options.num_frequencies();
  std::vector<at::Tensor> parts;
  if (options.include_input()) parts.push_back(x);
  if (k > 0) {
    const double base = options.multiply_by_pi() ? M_PI : 1.0;
    const at::Tensor freqs = torch::exp2(torch::arange(k, x.options())) * base;  // [K]
    const at::Tensor scaled = x.unsqueeze(1) * freqs.view({1, k, 1});            // [N,K,D]
    // [N,K,2,D] -> [N, 2KD]: per frequency a sin block then a cos block, as NeRF's embedder orders them.
    parts.push_back(torch::stack({scaled.sin(), scaled.cos()}, 2).reshape({x.size(0), 2 * k * x.size(1)}));
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
}

SphericalHarmonicsEncodingImpl::SphericalHarmonicsEncodingImpl(int64_t degree) : degree_(degree) {
  NE_CHECK(degree >= 1 && degree <= 4, "spherical harmonics encoding: degree is ", degree, ", expected 1..4");
}

at::Tensor SphericalHarmonicsEncodingImpl::forward(const at::Tensor& directions) const {
  NE_CHECK(directions.dim() == 2 && directions.size(1) == 3,
           "spherical harmonics encoding: directions must be [N,3], got ",
           directions.sizes());
  const at::Tensor x = directions.select(1, 0), y = directions.select(1, 1), z = directions.select(1, 2);
  std::vector<at::Tensor> out;
  out.push_back(torch::full_like(x, 0.28209479177387814));  // 1/(2 sqrt(pi))
  if (degree_ > 1) {
    out.push_back(-0.48860251190291987 * y);  // -sqrt(3) y / (2 sqrt(pi))
    out.push_back(0.48860251190291987 * z);
    out.push_back(-0.48860251190291987 * x);
  }
  if (degree_ > 2) {
    const at::Tensor xy = x * y, yz = y * z, xz = x * z, x2 = x * x, y2 = y * y, z2 = z * z;
    out.push_back(1.0925484305920792 * xy);  // sqrt(15) xy / (2 sqrt(pi))
    out.push_back(-1.0925484305920792 * yz);
    out.push_back(0.94617469575755997 * z2 - 0.31539156525251999);  // sqrt(5)(3z^2 - 1) / (4 sqrt(pi))
    out.push_back(-1.0925484305920792 * xz);
    out.push_back(0.54627421529603959 * (x2 - y2));
    if (degree_ > 3) {
      out.push_back(0.59004358992664352 * y * (y2 - 3.0 * x2));       // sqrt(70) y(y^2 - 3x^2) / (8 sqrt(pi))
      out.push_back(2.8906114426405538 * xy * z);                     // sqrt(105) xyz / (2 sqrt(pi))
      out.push_back(0.45704579946446572 * y * (1.0 - 5.0 * z2));      // sqrt(42) y(1 - 5z^2) / (8 sqrt(pi))
      out.push_back(0.3731763325901154 * z * (5.0 * z2 - 3.0));        // sqrt(7) z(5z^2 - 3) / (4 sqrt(pi))
      out.push_back(0.45704579946446572 * x * (1.0 - 5.0 * z2));
      out.push_back(1.4453057213202769 * z * (x2 - y2));               // sqrt(105) z(x^2 - y^2) / (4 sqrt(pi))
      out.push_back(0.59004358992664352 * x * (3.0 * y2 - x2));
    }
  }
  return torch::stack(out, 1);
}

}  // namespace nerfedit
