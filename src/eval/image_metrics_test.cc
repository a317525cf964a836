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

TEST(ImageMetrics, ForegroundHueIsHsvHueOfTheMeanColour) {
  const at::Tensor mask = torch::zeros({4, 4});
  mask.slice(0, 0, 2).fill_(1);
  auto image = [&](std::vector<float> fg) {
    at::Tensor im = torch::zeros({4, 4, 3});
    im.slice(0, 0, 2).copy_(torch::tensor(fg).view({1, 1, 3}).expand({2, 4, 3}));
    im.slice(0, 2).fill_(0.7f);  // background: not counted
    return im;
  };
  EXPECT_NEAR(MeanForegroundHue(image({1, 0, 0}), mask).hue_deg, 0, 1e-6);
  EXPECT_NEAR(MeanForegroundHue(image({0, 1, 0}), mask).hue_deg, 120, 1e-6);
  EXPECT_NEAR(MeanForegroundHue(image({0, 0, 1}), mask).hue_deg, 240, 1e-6);
  EXPECT_NEAR(MeanForegroundHue(image({1, 0, 0.5f}), mask).hue_deg, 330, 1e-4);
  EXPECT_NEAR(MeanForegroundHue(image({0.8f, 0.4f, 0.4f}), mask).saturation, 0.5, 1e-6);
  EXPECT_EQ(MeanForegroundHue(image({1, 0, 0}), torch::zeros({4, 4})).hue_deg, -1);
  EXPECT_NEAR(HueDistanceDeg(350, 10), 20, 1e-9);
  EXPECT_NEAR(HueDistanceDeg(10, 190), 180, 1e-9);
}

}  // namespace nerfedit
