#include "engine/ray_data_manager.h"

#include <ATen/ATen.h>

#include "util/error.h"

namespace nerfedit {

RayDataManager::RayDataManager(const Dataset& train, const std::vector<float>& background, bool random_background,
                               c10::Device device, int64_t supersample)
    : random_background_(random_background && train.alphas.defined()),
      supersample_(supersample),
      num_images_(train.size()),
      height_(train.height()),
      width_(train.width()),
      device_(device) {
  NE_CHECK(num_images_ > 0, "no training images");
  NE_CHECK(supersample_ >= 1 && supersample_ <= 8, "rays per pixel side must be in [1, 8], got ", supersample_);
  pixels_ = train.images.reshape({-1, 3}).to(device);
  if (train.alphas.defined()) alphas_ = train.alphas.reshape({-1}).to(device);
  StackCameras(train.cameras, &intrinsics_, &poses_);
  intrinsics_ = intrinsics_.to(device);
  poses_ = poses_.to(device);
  background_ = at::tensor(background).to(device, at::kFloat);
}

at::Tensor PixelBatch::PixelMean(const at::Tensor& per_ray) const {
  if (rays_per_pixel == 1) return per_ray;
  return per_ray.view({num_pixels(), rays_per_pixel, -1}).mean(1);
}

PixelBatch PixelBatch::Slice(int64_t begin, int64_t end) const {
  NE_CHECK(0 <= begin && begin <= end && end <= num_pixels(), "pixel slice [", begin, ", ", end, ") of a batch of ",
           num_pixels());
  const int64_t r0 = begin * rays_per_pixel, r1 = end * rays_per_pixel;
  PixelBatch s;
  s.rays = rays.Slice(r0, r1);
  s.target = target.slice(0, begin, end);
  s.background = background.dim() == 2 ? background.slice(0, r0, r1) : background;
  s.camera = camera.slice(0, r0, r1);
  s.xy = xy.slice(0, r0, r1);
  s.index = index.slice(0, begin, end);
  if (sample_offsets.defined()) s.sample_offsets = sample_offsets.slice(0, r0, r1);
  s.rays_per_pixel = rays_per_pixel;
  return s;
}

PixelBatch RayDataManager::Sample(int64_t pixels) const { return SampleFrom(pixels, 0, num_images_); }

PixelBatch RayDataManager::SampleFrom(int64_t pixels, int64_t first_image, int64_t last_image) const {
  NE_CHECK(0 <= first_image && first_image < last_image && last_image <= num_images_, "image range [", first_image,
           ", ", last_image, ") is not within the ", num_images_, " training images");
  const int64_t per_image = height_ * width_;
  PixelBatch b;
  b.rays_per_pixel = rays_per_pixel();
  b.index = at::randint(first_image * per_image, last_image * per_image, {pixels},
                        at::TensorOptions().dtype(at::kLong).device(device_));
  const at::Tensor camera = at::div(b.index, per_image, "floor");
  const auto pixel = b.index - camera * per_image;
  const auto y = at::div(pixel, width_, "floor");
  const auto x = pixel - y * width_;
  const at::Tensor corner = at::stack({x, y}, 1).to(at::kFloat);  // [P,2] the pixel's top-left corner
  if (supersample_ == 1) {
    b.camera = camera;
    b.xy = corner + 0.5f;
  } else {
    // Stratified: sub-ray k of a pixel crosses a random point of cell (k % s, k / s) of an s x s grid over it.
    const int64_t s = supersample_, k = s * s;
    const at::Tensor cell = at::arange(k, b.index.options());
    const at::Tensor cell_xy = at::stack({cell % s, at::div(cell, s, "floor")}, 1).to(at::kFloat);  // [k,2]
    const at::Tensor jitter = at::rand({pixels, k, 2}, corner.options());
    b.xy = (corner.unsqueeze(1) + (cell_xy.unsqueeze(0) + jitter) / static_cast<float>(s)).reshape({-1, 2});
    b.camera = camera.repeat_interleave(k);
  }
  b.rays = GenerateRays(intrinsics_, poses_, b.camera, b.xy);
  b.target = pixels_.index_select(0, b.index);
  b.background = background_;
  if (random_background_) {
    auto random = at::rand({pixels, 3}, at::TensorOptions().device(device_));
    auto alpha = alphas_.index_select(0, b.index).unsqueeze(1);
    b.target = b.target + (1 - alpha) * (random - background_);
    b.background = b.rays_per_pixel == 1 ? random : random.repeat_interleave(b.rays_per_pixel, 0);
  }
  return b;
}

}  // namespace nerfedit
