#include "eval/image_metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "util/error.h"

namespace nerfedit {

TEST(ImageMetrics, PsnrOfKnownNoise) {
  auto a = torch::full({8, 8, 3}, 0.5f);
  auto b = a + 0.1f;  // MSE = 0.01 -> 20 dB
  EXPECT_NEAR(Psnr(a, b), 20.0, 1e-4);
  EXPECT_GT(Psnr(a, a), 100.0);
  EXPECT_THROW(Psnr(a, torch::zeros({8, 7, 3})), Error);
}

TEST(ImageMetrics, SsimIsOneForIdenticalAndDropsWithNoise) {
  auto a = torch::rand({32, 32, 3});
  EXPECT_NEAR(Ssim(a, a), 1.0, 1e-9);
  auto noisy = (a + 0.2f * torch::randn_like(a)).clamp(0, 1);
  const double s = Ssim(noisy, a);
  EXPECT_LT(s, 0.9);
  EXPECT_GT(s, 0.0);
  // A constant offset of a flat image only hits the luminance term: l = (2 mu_x mu_y + c1)/(mu_x^2 + mu_y^2 + c1).
  auto flat = torch::full({16, 16, 1}, 0.5f), brighter = torch::full({16, 16, 1}, 0.6f);
  const double c1 = 1e-4;
  EXPECT_NEAR(Ssim(flat, brighter), (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1), 1e-6);
}

TEST(ImageMetrics, MaskedMae) {
  auto v = torch::tensor({{1.f, 2.f}, {3.f, 4.f}});
  auto r = torch::zeros({2, 2});
  auto m = torch::tensor({{true, false}, {false, true}});
  EXPECT_DOUBLE_EQ(MaskedMae(v, r, m), 2.5);
}

}  // namespace nerfedit
