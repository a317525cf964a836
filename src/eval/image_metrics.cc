#include "eval/image_metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace nerfedit {

namespace {
void CheckPair(const at::Tensor& a, const at::Tensor& b, const char* what) {
  NE_CHECK(a.sizes() == b.sizes(), what, ": image is ", a.sizes(), " but reference is ", b.sizes());
  NE_CHECK(a.dim() == 3, what, ": expected [H,W,C] images, got ", a.sizes());
}
}  // namespace

double Psnr(const at::Tensor& image, const at::Tensor& reference) {
  CheckPair(image, reference, "PSNR");
  const double mse = (image.to(at::kDouble) - reference.to(at::kDouble)).pow(2).mean().item<double>();
  return -10.0 * std::log10(std::max(mse, 1e-12));
}

double Ssim(const at::Tensor& image, const at::Tensor& reference) {
  CheckPair(image, reference, "SSIM");
  const int64_t size = 11;
  const double sigma = 1.5, c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  auto coords = at::arange(size, at::kDouble) - (size - 1) / 2.0;
  auto g = at::exp(-coords.pow(2) / (2 * sigma * sigma));
  g = g / g.sum();
  auto window = (g.unsqueeze(1) * g.unsqueeze(0)).view({1, 1, size, size});
  const int64_t channels = image.size(2);
  window = window.expand({channels, 1, size, size}).contiguous();
  auto x = image.to(at::kDouble).permute({2, 0, 1}).unsqueeze(0);
  auto y = reference.to(at::kDouble).permute({2, 0, 1}).unsqueeze(0);
  NE_CHECK(x.size(2) >= size && x.size(3) >= size, "SSIM needs images of at least 11x11, got ", image.sizes());
  auto blur = [&](const at::Tensor& t) { return at::conv2d(t, window, at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, channels); };
  auto mu_x = blur(x), mu_y = blur(y);
  auto sxx = blur(x * x) - mu_x * mu_x;
  auto syy = blur(y * y) - mu_y * mu_y;
  auto sxy = blur(x * y) - mu_x * mu_y;
  auto ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2));
  return ssim_map.mean().item<double>();
}

double MaskedMae(const at::Tensor& value, const at::Tensor& reference, const at::Tensor& mask) {
  NE_CHECK(value.sizes() == reference.sizes() && mask.sizes() == value.sizes(), "MAE: shapes differ: ",
           value.sizes(), " ", reference.sizes(), " ", mask.sizes());
  auto m = mask.to(at::kBool);
  const int64_t n = m.sum().item<int64_t>();
  if (n == 0) return 0.0;
  return (value.to(at::kDouble) - reference.to(at::kDouble)).abs().masked_select(m).mean().item<double>();
}

double MaskIou(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.scalar_type() == at::kBool ? a : a > 0.5, y = b.scalar_type() == at::kBool ? b : b > 0.5;
  const double united = (x | y).sum().item<double>();
  return united > 0 ? (x & y).sum().item<double>() / united : 1.0;
}

ForegroundHue MeanForegroundHue(const at::Tensor& rgb, const at::Tensor& mask) {
  NE_CHECK(rgb.dim() == 3 && rgb.size(2) == 3 && mask.dim() == 2 && mask.size(0) == rgb.size(0) &&
               mask.size(1) == rgb.size(1),
           "foreground hue: expected rgb [H,W,3] and mask [H,W], got ", rgb.sizes(), " and ", mask.sizes());
  const at::Tensor fg = mask > 0.5f;
  ForegroundHue out;
  if (fg.sum().item<int64_t>() == 0) return out;
  const at::Tensor mean = rgb.index({fg}).mean(0).to(at::kDouble);
  const double r = mean[0].item<double>(), g = mean[1].item<double>(), b = mean[2].item<double>();
  const double mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
  out.value = mx;
  out.saturation = mx > 0 ? d / mx : 0;
  double h = 0;
  if (d > 0) {
    if (mx == r) h = std::fmod((g - b) / d, 6.0);
    else if (mx == g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
  }
  h *= 60;
  out.hue_deg = h < 0 ? h + 360 : h;
  return out;
}

double HueDistanceDeg(double a, double b) {
  const double d = std::fmod(std::abs(a - b), 360.0);
  return std::min(d, 360 - d);
}

}  // namespace nerfedit
