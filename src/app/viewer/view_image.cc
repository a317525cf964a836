#include "app/viewer/view_image.h"

#include <ATen/ATen.h>
// Declarations only: the implementation is compiled once, in the data layer (STB_IMAGE_WRITE_IMPLEMENTATION).
#include <stb/stb_image_write.h>

#include "util/error.h"

namespace nerfedit {
namespace {

// Turbo colour map, polynomial fit by Google (Mikhailov 2019, "Turbo, an improved rainbow colormap"). x: [N] in [0,1].
at::Tensor Turbo(const at::Tensor& x) {
  auto t = x.clamp(0, 1);
  auto t2 = t * t, t3 = t2 * t, t4 = t2 * t2, t5 = t4 * t;
  auto poly = [&](double c0, double c1, double c2, double c3, double c4, double c5) {
    return c0 + c1 * t + c2 * t2 + c3 * t3 + c4 * t4 + c5 * t5;
  };
  auto r = poly(0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943);
  auto g = poly(0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604);
  auto b = poly(0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973);
  return at::stack({r, g, b}, -1).clamp(0, 1);
}

at::Tensor ToBytes(const at::Tensor& rgb) {
  return (rgb.to(at::kCPU, at::kFloat).clamp(0, 1) * 255.0f).round().to(at::kByte).contiguous();
}

void AppendToString(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

void CheckPlane(const at::Tensor& t, const char* name, int64_t h, int64_t w) {
  NE_CHECK(t.defined(), "rendered view has no ", name);
  NE_CHECK(t.dim() == 2 && t.size(0) == h && t.size(1) == w, "rendered ", name, " has shape ", t.sizes(),
           " expected [", h, ",", w, "]");
}

}  // namespace

ViewMode ParseViewMode(const std::string& name) {
  if (name == "rgb") return ViewMode::kRgb;
  if (name == "depth") return ViewMode::kDepth;
  if (name == "opacity") return ViewMode::kOpacity;
  NE_FAIL("unknown mode \"", name, "\": expected \"rgb\", \"depth\" or \"opacity\"");
}

ImageFormat ParseImageFormat(const std::string& name) {
  if (name == "jpeg" || name == "jpg") return ImageFormat::kJpeg;
  if (name == "png") return ImageFormat::kPng;
  NE_FAIL("unknown format \"", name, "\": expected \"jpeg\" or \"png\"");
}

const char* ContentType(ImageFormat format) { return format == ImageFormat::kJpeg ? "image/jpeg" : "image/png"; }

at::Tensor ViewToImage(const RenderedView& view, ViewMode mode, DepthRange* range) {
  NE_CHECK(view.rgb.defined() && view.rgb.dim() == 3 && view.rgb.size(2) == 3, "rendered rgb has shape ",
           view.rgb.defined() ? view.rgb.sizes() : at::IntArrayRef{}, " expected [H,W,3]");
  const int64_t h = view.rgb.size(0), w = view.rgb.size(1);
  if (mode == ViewMode::kRgb) return ToBytes(view.rgb);
  CheckPlane(view.opacity, "opacity", h, w);
  auto opacity = view.opacity.to(at::kCPU, at::kFloat).clamp(0, 1);
  if (mode == ViewMode::kOpacity) return ToBytes(opacity.unsqueeze(-1).expand({h, w, 3}));

  CheckPlane(view.depth, "depth", h, w);
  // The renderer's depth is sum(weights * t); dividing by opacity gives the distance of the surface itself.
  auto depth = view.depth.to(at::kCPU, at::kFloat) / opacity.clamp_min(1e-6f);
  auto solid = opacity > 0.5f;
  float near = 0, far = 0;
  if (solid.any().item<bool>()) {
    auto bounds = at::quantile(depth.masked_select(solid), at::tensor({0.01, 0.99}, at::kFloat));
    near = bounds[0].item<float>();
    far = bounds[1].item<float>();
  }
  if (range != nullptr) *range = {near, far};
  auto normalised = (depth - near) / std::max(far - near, 1e-6f);
  auto colour = Turbo(1.0f - normalised);  // near = red end of the map
  const float background = 0.1f;
  auto alpha = opacity.unsqueeze(-1);
  return ToBytes(colour * alpha + background * (1 - alpha));
}

std::string EncodeImage(const at::Tensor& rgb8, ImageFormat format, int jpeg_quality) {
  NE_CHECK(rgb8.dim() == 3 && rgb8.size(2) == 3 && rgb8.scalar_type() == at::kByte, "EncodeImage expects [H,W,3] u8, got ",
           rgb8.sizes(), " ", rgb8.scalar_type());
  NE_CHECK(jpeg_quality >= 1 && jpeg_quality <= 100, "jpeg quality is ", jpeg_quality, " expected 1..100");
  auto pixels = rgb8.to(at::kCPU).contiguous();
  const int h = static_cast<int>(pixels.size(0)), w = static_cast<int>(pixels.size(1));
  std::string bytes;
  int ok = format == ImageFormat::kJpeg
               ? stbi_write_jpg_to_func(AppendToString, &bytes, w, h, 3, pixels.data_ptr(), jpeg_quality)
               : stbi_write_png_to_func(AppendToString, &bytes, w, h, 3, pixels.data_ptr(), w * 3);
  NE_CHECK(ok != 0 && !bytes.empty(), "stb_image_write failed to encode a ", w, "x", h, " image");
  return bytes;
}

}  // namespace nerfedit
