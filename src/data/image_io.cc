#include "data/image_io.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "util/atomic_file.h"
#include "util/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
// Debian's stb_image (git 2022-09-08, v2.27) predates the fixes for CVE-2023-45661..45667, reachable through its GIF
// decoder (out-of-bounds reads, double frees, a NULL dereference), and older HDR/PNM loader bugs: only the PNG and
// JPEG decoders are compiled in (datasets use nothing else), and sizes are capped so a forged header cannot ask
// for gigabytes. fuzz/image_fuzz.cc runs what remains under AddressSanitizer.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_MAX_DIMENSIONS 16384
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace nerfedit {

namespace {

// Debian's stb_image builds a JPEG Huffman table without checking that the 16 code counts of a DHT table sum to at
// most 256, and then writes past its 257-entry arrays (found by fuzz/image_fuzz.cc under UBSan; newer stb checks
// it). Such tables are refused here, before stb sees the bytes. Segments are walked by their lengths; after a scan
// header the entropy-coded data is searched for the next marker (0xFF 0x00 is a stuffed byte, 0xFFD0-7 restarts).
void CheckJpegHuffmanTables(const unsigned char* p, size_t n, const std::string& path) {
  size_t i = 0;
  while (i < n && p[i] == 0xFF) ++i;  // stb skips any number of fill bytes before the start-of-image marker
  if (i == 0 || i >= n || p[i] != 0xD8) return;  // not a JPEG (stb's test would refuse it)
  ++i;
  while (i + 1 < n) {
    const unsigned char marker = p[i + 1];
    if (p[i] != 0xFF || marker == 0xFF) {
      ++i;  // entropy-coded data or fill bytes
      continue;
    }
    if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;  // no length field
      continue;
    }
    if (marker == 0xD9 || i + 3 >= n) return;  // end of image
    const size_t length = (static_cast<size_t>(p[i + 2]) << 8) | p[i + 3];
    if (marker == 0xC4) {
      // One or more tables: class/id byte, 16 counts, the symbols. stb reads a table's 17 bytes even past the segment.
      const size_t end = std::min(n, i + 2 + length);
      for (size_t t = i + 4; t < end;) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16 && t + k < n; ++k) codes += p[t + k];
        NE_CHECK(codes <= 256, "cannot decode image ", path, ": corrupt JPEG (a Huffman table declares ", codes,
                 " codes, at most 256 are possible)");
        t += 17 + codes;
      }
    }
    i += 2 + std::max<size_t>(length, 2);
  }
}

// Reads the whole file so that "missing" and "unreadable" get their own messages before stb sees the bytes.
std::vector<unsigned char> ReadFileBytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  NE_CHECK(fs::exists(path, ec), "image file ", path, " does not exist");
  NE_CHECK(fs::is_regular_file(path, ec), "image file ", path, " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  NE_CHECK(in.good(), "cannot open image file ", path);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NE_CHECK(!bytes.empty(), "image file ", path, " is empty");
  CheckJpegHuffmanTables(bytes.data(), bytes.size(), path);
  return bytes;
}

std::string FailureReason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "unknown reason";
}

// stb's buffer wrapped in a tensor that owns a copy (stb frees its own).
at::Tensor DecodeU8(const std::vector<unsigned char>& bytes, const std::string& path, int* channels_in_file) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 0);
  NE_CHECK(data != nullptr, "cannot decode image ", path, ": ", FailureReason(), " (truncated or corrupt file?)");
  at::Tensor t = at::from_blob(data, {h, w, c}, at::kByte).clone();
  stbi_image_free(data);
  *channels_in_file = c;
  return t;
}

std::string LowerExtension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext;
}

}  // namespace

at::Tensor LoadImage(const std::string& path) {
  int c = 0;
  at::Tensor t = DecodeU8(ReadFileBytes(path), path, &c);
  switch (c) {
    case 1: return t.expand({t.size(0), t.size(1), 3}).contiguous();
    case 2: {
      auto grey = t.slice(2, 0, 1);
      return at::cat({grey, grey, grey, t.slice(2, 1, 2)}, 2);
    }
    case 3:
    case 4: return t;
    default: NE_FAIL("image ", path, " has ", c, " channels; expected 1 to 4");
  }
}

ImageInfo ReadImageInfo(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  NE_CHECK(fs::exists(path, ec), "image file ", path, " does not exist");
  NE_CHECK(fs::is_regular_file(path, ec), "image file ", path, " is not a regular file");
  int w = 0, h = 0, c = 0;
  // stbi_info reads only the header, so checking 100 sizes costs nothing next to decoding them. A JPEG's header
  // segments include its Huffman tables, which stb must not see unchecked: those are read whole first.
  bool png = false;
  {
    std::ifstream in(path, std::ios::binary);
    unsigned char magic[4] = {0, 0, 0, 0};
    in.read(reinterpret_cast<char*>(magic), 4);
    png = magic[0] == 0x89 && magic[1] == 'P' && magic[2] == 'N' && magic[3] == 'G';
  }
  if (!png) {  // a JPEG, or nothing stb can read
    const std::vector<unsigned char> bytes = ReadFileBytes(path);
    NE_CHECK(stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c), "cannot read image ",
             path, ": ", FailureReason(), " (truncated or corrupt file?)");
  } else {
    NE_CHECK(stbi_info(path.c_str(), &w, &h, &c), "cannot read image ", path, ": ", FailureReason(),
             " (truncated or corrupt file?)");
  }
  ImageInfo info;
  info.width = w;
  info.height = h;
  info.channels = c;
  return info;
}

namespace {

struct DecodedImage {
  std::unique_ptr<unsigned char, void (*)(void*)> data{nullptr, stbi_image_free};
  int width = 0, height = 0, channels = 0;
  bool has_alpha() const { return channels == 2 || channels == 4; }
};

DecodedImage Decode(const std::string& path) {
  const auto bytes = ReadFileBytes(path);
  DecodedImage d;
  d.data.reset(stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &d.width, &d.height, &d.channels, 0));
  NE_CHECK(d.data != nullptr, "cannot decode image ", path, ": ", FailureReason(), " (truncated or corrupt file?)");
  NE_CHECK(d.channels >= 1 && d.channels <= 4, "image ", path, " has ", d.channels, " channels; expected 1 to 4");
  return d;
}

// Pixel `in` (c channels, 8 bits) as premultiplied RGBA in [0,1]; alpha 1 when the file has none.
inline void PremultipliedPixel(const unsigned char* in, int c, float* out) {
  constexpr float inv = 1.0f / 255.0f;
  const float a = (c == 2 || c == 4) ? in[c - 1] * inv : 1.0f;
  const float r = in[0] * inv;
  out[0] = r * a;
  out[1] = (c >= 3 ? in[1] * inv : r) * a;
  out[2] = (c >= 3 ? in[2] * inv : r) * a;
  out[3] = a;
}

// Box-averages premultiplied RGBA over factor x factor blocks into [h,w,4] in one pass over stb's bytes (the same
// result as DownscaleArea on the premultiplied float image, without its full-size float intermediates).
std::vector<float> BoxPremultiplied(const DecodedImage& d, int factor, const std::string& path, int64_t* h,
                                    int64_t* w) {
  NE_CHECK(factor >= 1, "downscale factor must be >= 1, got ", factor);
  *h = d.height / factor;
  *w = d.width / factor;
  NE_CHECK(*h >= 1 && *w >= 1, "image ", path, " of ", d.width, "x", d.height, " (WxH) is too small to downscale by ",
           factor, " (gives ", *w, "x", *h, ")");
  std::vector<float> out(*h * *w * 4, 0.0f);
  const float norm = 1.0f / (factor * factor);
  const int c = d.channels;
  for (int64_t y = 0; y < *h * factor; ++y) {
    float* out_row = out.data() + (y / factor) * *w * 4;
    const unsigned char* in = d.data.get() + y * static_cast<int64_t>(d.width) * c;
    for (int64_t x = 0; x < *w * factor; ++x, in += c) {
      float* dst = out_row + (x / factor) * 4;
      float p[4];
      PremultipliedPixel(in, c, p);
      for (int k = 0; k < 4; ++k) dst[k] += p[k] * norm;
    }
  }
  return out;
}

}  // namespace

at::Tensor LoadImagePremultiplied(const std::string& path, int factor) {
  const DecodedImage d = Decode(path);
  int64_t h = 0, w = 0;
  std::vector<float> box = BoxPremultiplied(d, factor, path, &h, &w);
  at::Tensor rgba = at::from_blob(box.data(), {h, w, 4}, at::kFloat);
  return (d.has_alpha() ? rgba : rgba.slice(2, 0, 3)).clone();
}

bool LoadImageInto(const std::string& path, int factor, std::array<float, 3> background, at::Tensor rgb_out,
                   at::Tensor alpha_out) {
  NE_CHECK(factor >= 1, "downscale factor must be >= 1, got ", factor);
  const DecodedImage d = Decode(path);
  const int64_t h = d.height / factor, w = d.width / factor;
  NE_CHECK(h >= 1 && w >= 1, "image ", path, " of ", d.width, "x", d.height, " (WxH) is too small to downscale by ",
           factor, " (gives ", w, "x", h, ")");
  NE_CHECK(rgb_out.is_contiguous() && rgb_out.scalar_type() == at::kFloat &&
               rgb_out.sizes() == at::IntArrayRef({h, w, 3}),
           "image ", path, " is ", d.width, "x", d.height, "; downscaled by ", factor, " that is ", w, "x", h,
           " but the destination is ", rgb_out.sizes());
  NE_CHECK(!alpha_out.defined() || (alpha_out.is_contiguous() && alpha_out.scalar_type() == at::kFloat &&
                                    alpha_out.sizes() == at::IntArrayRef({h, w})),
           "image ", path, ": alpha destination ", alpha_out.sizes(), " does not match ", h, "x", w);
  float* rgb = rgb_out.data_ptr<float>();
  float* alpha = alpha_out.defined() ? alpha_out.data_ptr<float>() : nullptr;
  auto composite = [&](int64_t i, const float* p) {
    const float t = 1.0f - p[3];
    rgb[i * 3 + 0] = p[0] + background[0] * t;
    rgb[i * 3 + 1] = p[1] + background[1] * t;
    rgb[i * 3 + 2] = p[2] + background[2] * t;
    if (alpha) alpha[i] = p[3];
  };
  if (factor == 1) {  // full size: straight from stb's bytes, no intermediate buffer
    for (int64_t i = 0; i < h * w; ++i) {
      float p[4];
      PremultipliedPixel(d.data.get() + i * d.channels, d.channels, p);
      composite(i, p);
    }
  } else {
    int64_t bh = 0, bw = 0;
    const std::vector<float> box = BoxPremultiplied(d, factor, path, &bh, &bw);
    for (int64_t i = 0; i < h * w; ++i) composite(i, box.data() + i * 4);
  }
  return d.has_alpha();
}

at::Tensor LoadImageFloat(const std::string& path, std::array<float, 3> background) {
  return CompositePremultiplied(LoadImagePremultiplied(path, 1), background);
}

at::Tensor LoadLabelImage(const std::string& path) {
  auto bytes = ReadFileBytes(path);
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  at::Tensor labels;
  // 16-bit PNGs hold up to 65535 ids; stbi_load would squash them to 8 bits.
  if (stbi_is_16_bit_from_memory(bytes.data(), size)) {
    stbi_us* data = stbi_load_16_from_memory(bytes.data(), size, &w, &h, &c, 0);
    NE_CHECK(data != nullptr, "cannot decode label image ", path, ": ", FailureReason());
    labels = at::from_blob(data, {h, w, c}, at::kShort).to(at::kInt).bitwise_and(0xffff);
    stbi_image_free(data);
  } else {
    labels = DecodeU8(bytes, path, &c).to(at::kInt);
  }
  NE_CHECK(c == 1, "label image ", path, " has ", c, " channels; expected a single-channel (grey) image of ids");
  return labels.squeeze(2).contiguous();
}

void SaveImage(const std::string& path, const at::Tensor& image) {
  const std::string ext = LowerExtension(path);
  const bool png = ext == ".png";
  NE_CHECK(png || ext == ".jpg" || ext == ".jpeg", "cannot save ", path, ": unsupported extension '", ext,
           "' (use .png, .jpg or .jpeg)");
  NE_CHECK(image.defined(), "cannot save ", path, ": undefined tensor");
  at::Tensor t = image.detach().to(at::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(2);
  NE_CHECK(t.dim() == 3, "cannot save ", path, ": expected an [H,W,C] image, got ", t.sizes());
  const int64_t c = t.size(2);
  NE_CHECK(c == 1 || c == 3 || c == 4, "cannot save ", path, ": unsupported channel count ", c,
           " (expected 1, 3 or 4)");
  NE_CHECK(t.size(0) > 0 && t.size(1) > 0, "cannot save ", path, ": empty image ", t.sizes());
  if (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble) {
    // A plain loop: small images are written inside render loops, where waking torch's thread pool costs more.
    const at::Tensor f = t.to(at::kFloat).contiguous();
    at::Tensor u8 = at::empty(f.sizes(), at::kByte);
    const float* src = f.data_ptr<float>();
    uint8_t* dst = u8.data_ptr<uint8_t>();
    for (int64_t i = 0, n = f.numel(); i < n; ++i) {
      const float v = std::isnan(src[i]) ? 0.0f : std::min(1.0f, std::max(0.0f, src[i]));
      dst[i] = static_cast<uint8_t>(std::lround(v * 255.0f));
    }
    t = u8;
  } else {
    NE_CHECK(t.scalar_type() == at::kByte, "cannot save ", path, ": dtype ", t.scalar_type(),
             " (expected float in [0,1] or uint8)");
  }
  t = t.contiguous();
  const int h = static_cast<int>(t.size(0)), w = static_cast<int>(t.size(1)), channels = static_cast<int>(c);
  WriteAtomically(path, [&](const std::string& tmp) {
    const int ok = png ? stbi_write_png(tmp.c_str(), w, h, channels, t.data_ptr(), w * channels)
                       : stbi_write_jpg(tmp.c_str(), w, h, channels, t.data_ptr(), 95);
    NE_CHECK(ok != 0, "failed writing image ", tmp);
  });
}

at::Tensor DownscaleArea(const at::Tensor& image, int factor) {
  NE_CHECK(factor >= 1, "downscale factor must be >= 1, got ", factor);
  NE_CHECK(image.dim() == 3, "DownscaleArea expects an [H,W,C] image, got ", image.sizes());
  const int64_t h = image.size(0) / factor, w = image.size(1) / factor, c = image.size(2);
  NE_CHECK(h >= 1 && w >= 1, "image of ", image.size(1), "x", image.size(0), " (WxH) is too small to downscale by ",
           factor, " (gives ", w, "x", h, ")");
  if (factor == 1) return image;
  auto cropped = image.slice(0, 0, h * factor).slice(1, 0, w * factor);
  return cropped.reshape({h, factor, w, factor, c}).to(at::kFloat).mean({1, 3});
}

at::Tensor CompositePremultiplied(const at::Tensor& rgba, std::array<float, 3> background) {
  NE_CHECK(rgba.dim() == 3 && (rgba.size(2) == 3 || rgba.size(2) == 4),
           "CompositePremultiplied expects [H,W,3] or [H,W,4], got ", rgba.sizes());
  if (rgba.size(2) == 3) return rgba;
  auto bg = at::tensor({background[0], background[1], background[2]}, at::kFloat);
  auto alpha = rgba.slice(2, 3, 4);
  return (rgba.slice(2, 0, 3) + bg * (1.0f - alpha)).contiguous();
}

}  // namespace nerfedit
