// Turning a rendered view into the picture the viewer shows (rgb, colour-mapped depth, opacity) and into JPEG/PNG bytes.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "render/renderable.h"

namespace nerfedit {

enum class ViewMode { kRgb, kDepth, kOpacity };
enum class ImageFormat { kJpeg, kPng };

// "rgb" | "depth" | "opacity" and "jpeg" | "png"; throw nerfedit::Error naming the bad value and the choices.
ViewMode ParseViewMode(const std::string& name);
ImageFormat ParseImageFormat(const std::string& name);
const char* ContentType(ImageFormat format);

// What a depth picture was normalised by, so the page can print the range.
struct DepthRange {
  float near = 0, far = 0;
};

// [H,W,3] u8 CPU contiguous picture of one channel of `view`.
// Depth: per-pixel depth / opacity, normalised between the 1st and 99th percentile of the pixels with opacity > 0.5,
// coloured with Turbo (near = red, far = blue) and blended over dark grey by opacity. `range` may be null.
at::Tensor ViewToImage(const RenderedView& view, ViewMode mode, DepthRange* range);

// Encodes [H,W,3] u8 with stb_image_write. jpeg_quality in [1,100] (ignored for PNG).
std::string EncodeImage(const at::Tensor& rgb8, ImageFormat format, int jpeg_quality);

}  // namespace nerfedit
