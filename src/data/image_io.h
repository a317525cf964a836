// PNG/JPEG reading and writing (Debian's stb) and the image arithmetic the dataset readers share.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>

namespace nerfedit {

// [H,W,C] uint8, C = 3 or 4 (grey is expanded to RGB, grey+alpha to RGBA). Throws naming the path for a missing,
// truncated or corrupt file (with stb's reason).
at::Tensor LoadImage(const std::string& path);

// [H,W,3] f32 in [0,1]; an alpha channel is composited on `background`: rgb*a + background*(1-a).
at::Tensor LoadImageFloat(const std::string& path, std::array<float, 3> background);

// [H/factor,W/factor,C] f32 in [0,1], C = 3 (no alpha in the file) or 4 (RGB premultiplied by alpha, then alpha),
// box-filtered by `factor` in premultiplied form so that edges blend correctly once composited.
at::Tensor LoadImagePremultiplied(const std::string& path, int factor = 1);

// What LoadImagePremultiplied + CompositePremultiplied give, written straight into rgb_out [H/factor,W/factor,3] and
// (when defined) alpha_out [H/factor,W/factor] (f32, contiguous; 1 where the file has no alpha). Returns whether the
// file has an alpha channel. Dataset loading uses it to avoid full-size temporaries.
bool LoadImageInto(const std::string& path, int factor, std::array<float, 3> background, at::Tensor rgb_out,
                   at::Tensor alpha_out);

// Single-channel 8-bit image (object-id maps) as [H,W] i32. Throws unless the file has exactly one channel.
at::Tensor LoadLabelImage(const std::string& path);

// Header only: width, height and channel count in the file. Throws like LoadImage.
struct ImageInfo {
  int64_t width = 0, height = 0;
  int channels = 0;
};
ImageInfo ReadImageInfo(const std::string& path);

// Writes [H,W,C] (C = 1, 3 or 4; or [H,W] for grey) f32 in [0,1] (clamped) or uint8 as PNG or JPEG, chosen by the
// extension (.png, .jpg, .jpeg), atomically. JPEG drops alpha.
void SaveImage(const std::string& path, const at::Tensor& image);

// Box filter: each output pixel is the mean of a factor x factor block of image [H,W,C] f32. Rows/columns past the
// last whole block are dropped (Camera::Downscaled rounds down the same way). Feed it premultiplied RGBA.
at::Tensor DownscaleArea(const at::Tensor& image, int factor);

// [H,W,3] f32 from [H,W,4] premultiplied RGBA: rgb + background * (1 - a). [H,W,3] input is returned as is.
at::Tensor CompositePremultiplied(const at::Tensor& rgba, std::array<float, 3> background);

}  // namespace nerfedit
