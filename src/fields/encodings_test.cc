#include "fields/encodings.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace nerfedit {
namespace {

TEST(PositionalEncoding, MatchesNerfLayout) {
  PositionalEncoding encoding(PositionalEncodingOptions().num_frequencies(3));
  const at::Tensor x = torch::tensor({{0.1f, -0.7f, 0.25f}, {1.3f, 0.0f, -2.0f}});
  const at::Tensor out = encoding->forward(x);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 21}));
  EXPECT_EQ(encoding->output_dim(3), 21);
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t d = 0; d < 3; ++d) {
      const double v = x[n][d].item<float>();
      EXPECT_FLOAT_EQ(out[n][d].item<float>(), v);
      for (int64_t k = 0; k < 3; ++k) {
        EXPECT_NEAR(out[n][3 + 6 * k + d].item<float>(), std::sin(std::pow(2.0, k) * M_PI * v), 1e-5);
        EXPECT_NEAR(out[n][6 + 6 * k + d].item<float>(), std::cos(std::pow(2.0, k) * M_PI * v), 1e-5);
      }
    }
  }
}

TEST(PositionalEncoding, OptionsChangeTheOutput) {
  const at::Tensor x = torch::rand({5, 3});
  PositionalEncoding no_input(PositionalEncodingOptions().num_frequencies(2).include_input(false));
  EXPECT_EQ(no_input->forward(x).size(1), 12);
  PositionalEncoding no_pi(PositionalEncodingOptions().num_frequencies(2).multiply_by_pi(false));
  EXPECT_TRUE(torch::allclose(no_pi->forward(x).narrow(1, 12, 3), torch::cos(2.0 * x)));
  PositionalEncoding identity(PositionalEncodingOptions().num_frequencies(0));
  EXPECT_TRUE(torch::equal(identity->forward(x), x));
  EXPECT_THROW(PositionalEncoding(PositionalEncodingOptions().num_frequencies(0).include_input(false)), Error);
}

TEST(SphericalHarmonicsEncoding, ValuesAlongZMatchTinyCudaNn) {
  SphericalHarmonicsEncoding sh(4);
  const at::Tensor out = sh->forward(torch::tensor({{0.f, 0.f, 1.f}}));
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 16}));
  std::vector<float> expected(16, 0.0f);
  expected[0] = 0.28209479177387814f;
  expected[2] = 0.48860251190291987f;
  expected[6] = 0.94617469575755997f - 0.31539156525251999f;
  expected[12] = 0.3731763325901154f * 2.0f;
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(out[0][i].item<float>(), expected[i], 1e-6) << i;
  // tiny-cuda-nn's sign convention: Y_1^{-1} = -c*y, Y_1^1 = -c*x.
  const at::Tensor xy = sh->forward(torch::tensor({{1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}}));
  EXPECT_NEAR(xy[0][3].item<float>(), -0.48860251f, 1e-6);
  EXPECT_NEAR(xy[1][1].item<float>(), -0.48860251f, 1e-6);
  EXPECT_NEAR(xy[1][9].item<float>(), 0.59004358992664352f, 1e-6);
}

TEST(SphericalHarmonicsEncoding, IsOrthonormalOverTheSphere) {
  // Fibonacci-sphere quadrature: (4 pi / M) sum_m Y_i(d_m) Y_j(d_m) approximates delta_ij.
  const int64_t m = 20000;
  const at::Tensor i = torch::arange(m, torch::kDouble) + 0.5;
  const at::Tensor z = 1.0 - 2.0 * i / m;
  const at::Tensor r = torch::sqrt(1.0 - z * z);
  const at::Tensor phi = i * M_PI * (3.0 - std::sqrt(5.0));
  const at::Tensor dirs = torch::stack({r * torch::cos(phi), r * torch::sin(phi), z}, 1).to(torch::kFloat);
  for (int64_t degree = 1; degree <= 4; ++degree) {
    SphericalHarmonicsEncoding sh(degree);
    const at::Tensor y = sh->forward(dirs).to(torch::kDouble);
    ASSERT_EQ(y.size(1), degree * degree);
    const at::Tensor gram = y.t().mm(y) * (4.0 * M_PI / m);
    EXPECT_TRUE(torch::allclose(gram, torch::eye(degree * degree, torch::kDouble), 0.0, 2e-3))
        << "degree " << degree << ":\n" << gram;
  }
  EXPECT_THROW(SphericalHarmonicsEncoding(5), Error);
}

}  // namespace
}  // namespace nerfedit
