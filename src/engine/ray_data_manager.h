// The data manager of ray-based methods (nerfstudio's DataManager): the training images flattened once, and each
// step a batch of random pixels with their rays, targets and background (random backgrounds for RGBA data).
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "data/dataset.h"
#include "render/camera.h"

namespace nerfedit {

// P pixels seen through R = P * rays_per_pixel rays (ray r belongs to pixel r / rays_per_pixel).
struct PixelBatch {
  RayBatch rays;              // [R]
  at::Tensor target;          // [P,3] f32 pixel colours composited on their pixel's background
  at::Tensor background;      // [3] or [R,3] f32 the colour each ray's render must composite on
  at::Tensor camera;          // [R] i64 training-image index of each ray
  at::Tensor xy;              // [R,2] f32 where each ray crosses its image (x, y) in pixels
  at::Tensor index;           // [P] i64 flat pixel index over all training images (image * H * W + y * W + x)
  // [R] f32 in [0,1) or undefined: the sampler's jitter for each ray, drawn with the batch (the `nerf` method draws
  // it for the occupancy sampler) so that a data-parallel rank's slice gets the draws one process would make.
  at::Tensor sample_offsets;
  int64_t rays_per_pixel = 1;

  int64_t num_pixels() const { return index.defined() ? index.size(0) : 0; }
  // Pixels [begin, end) with their rays (a data-parallel rank's share of a global batch).
  PixelBatch Slice(int64_t begin, int64_t end) const;
  // Per-ray values [R,C] averaged over each pixel's rays -> [P,C] (what the pixel's colour is compared with).
  at::Tensor PixelMean(const at::Tensor& per_ray) const;
};

class RayDataManager {
 public:
  RayDataManager() = default;
  // random_background: with an alpha channel, re-composite every batch on random colours (Instant-NGP), so that
  // transparent pixels cannot be explained by density. supersample s: each pixel is seen through s x s rays, one
  // through a random point of each cell of an s x s grid over the pixel, whose colours the loss averages: a pixel is
  // an area average (a render, a box-filtered downscale), which one ray through its centre cannot reproduce from
  // every view at low resolution. (One ray through a random point instead — Instant-NGP's jitter — was measured
  // worse on box-filtered data: the field learns each view's blocky pixels; see bench/results/lego_cpu_hash-*.)
  RayDataManager(const Dataset& train, const std::vector<float>& background, bool random_background,
                 c10::Device device, int64_t supersample = 1);

  // `pixels` uniformly random pixels over every training image (the global RNG: seeded runs repeat).
  PixelBatch Sample(int64_t pixels) const;
  // Only pixels of the images in [first, last): a data-parallel rank's shard.
  PixelBatch SampleFrom(int64_t pixels, int64_t first_image, int64_t last_image) const;
  int64_t rays_per_pixel() const { return supersample_ * supersample_; }

  int64_t num_images() const { return num_images_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 private:
  at::Tensor pixels_;      // [P,3] f32 every training pixel, P = N * H * W
  at::Tensor alphas_;      // [P] f32 or undefined without alpha
  at::Tensor intrinsics_;  // [N,4] f32
  at::Tensor poses_;       // [N,4,4] f32
  at::Tensor background_;  // [3] f32
  bool random_background_ = false;
  int64_t supersample_ = 1;
  int64_t num_images_ = 0, height_ = 0, width_ = 0;
  c10::Device device_ = c10::kCPU;
};

}  // namespace nerfedit
