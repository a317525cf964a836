#include "data/style_images.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "data/image_io.h"
#include "util/error.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;
using StyleRng = std::mt19937_64;

// Uniform in [lo, hi) from the top 53 bits: identical on every standard library (std::uniform_real_distribution
// is not), so a seed gives the same picture everywhere.
double Uniform(StyleRng& rng, double lo, double hi) { return lo + (hi - lo) * ((rng() >> 11) * (1.0 / 9007199254740992.0)); }
int64_t UniformInt(StyleRng& rng, int64_t lo, int64_t hi) {  // [lo, hi]
  return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

std::array<float, 3> HsvToRgb(double h, double s, double v) {
  h = std::fmod(h, 1.0);
  if (h < 0) h += 1.0;  // hues drawn around a base may be negative (UBSan found rgb[-1] read below)
  h *= 6.0;
  const int i = std::min(static_cast<int>(std::floor(h)), 5);
  const double f = h - std::floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  const double rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  return {static_cast<float>(rgb[i][0]), static_cast<float>(rgb[i][1]), static_cast<float>(rgb[i][2])};
}

// [K,3] colours around a random base hue (analogous or complementary schemes), with varied saturation and value.
at::Tensor Palette(StyleRng& rng, int64_t k) {
  const double base = Uniform(rng, 0, 1);
  const double spread = Uniform(rng, 0.08, 0.5);
  std::vector<float> values;
  for (int64_t i = 0; i < k; ++i) {
    const double hue = base + spread * i + Uniform(rng, -0.04, 0.04);
    const auto rgb = HsvToRgb(hue, Uniform(rng, 0.35, 1.0), Uniform(rng, 0.3, 1.0));
    values.insert(values.end(), rgb.begin(), rgb.end());
  }
  return torch::tensor(values).view({k, 3});
}

// A uniform random tensor of the given shape from rng (deterministic per seed).
at::Tensor RandomTensor(StyleRng& rng, at::IntArrayRef shape) {
  at::Tensor t = torch::empty(shape, torch::kFloat);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(Uniform(rng, 0, 1));
  return t;
}

struct Grid {
  at::Tensor u, v;  // [H,W] pixel centres in units of the shorter side (so patterns keep their look at any size)
};

Grid MakeGrid(int64_t h, int64_t w) {
  const double s = static_cast<double>(std::min(h, w));
  auto ys = (torch::arange(h, torch::kFloat) + 0.5) / s;
  auto xs = (torch::arange(w, torch::kFloat) + 0.5) / s;
  auto g = torch::meshgrid({ys, xs}, "ij");
  return {g[1], g[0]};
}

// palette [K,3] indexed by idx [H,W] (any integer values, taken mod K) -> [3,H,W].
at::Tensor Lookup(const at::Tensor& palette, const at::Tensor& idx) {
  const int64_t k = palette.size(0);
  return palette.index_select(0, idx.remainder(k).reshape(-1)).view({idx.size(0), idx.size(1), 3}).permute({2, 0, 1});
}

// Smooth palette gradient: t [H,W] in [0,1] runs through the K colours in order -> [3,H,W].
at::Tensor Gradient(const at::Tensor& palette, const at::Tensor& t) {
  const int64_t k = palette.size(0);
  auto x = t.clamp(0, 1) * (k - 1);
  auto i0 = x.floor().to(torch::kLong).clamp(0, k - 1), i1 = (i0 + 1).clamp(0, k - 1);
  auto f = (x - i0.to(torch::kFloat)).unsqueeze(0);
  return Lookup(palette, i0) * (1 - f) + Lookup(palette, i1) * f;
}

at::Tensor Hash2(const at::Tensor& i, const at::Tensor& j, int64_t salt) {
  auto h = i * 73856093 + j * 19349663 + salt * 83492791;
  return (h.bitwise_xor(h.floor_divide(8192))).abs();
}

at::Tensor Stripes(StyleRng& rng, int64_t h, int64_t w) {
  const Grid g = MakeGrid(h, w);
  const double a = Uniform(rng, 0, M_PI), period = Uniform(rng, 0.04, 0.16);
  at::Tensor palette = Palette(rng, UniformInt(rng, 2, 4));
  auto s = (g.u * std::cos(a) + g.v * std::sin(a)) / period;
  return Lookup(palette, s.floor().to(torch::kLong));
}

at::Tensor Dots(StyleRng& rng, int64_t h, int64_t w) {
  const Grid g = MakeGrid(h, w);
  const double cell = Uniform(rng, 0.06, 0.16), radius = Uniform(rng, 0.22, 0.45);
  at::Tensor palette = Palette(rng, UniformInt(rng, 3, 5));
  auto row = (g.v / cell).floor();
  auto u = g.u / cell + 0.5 * row.remainder(2);  // hexagonal packing: odd rows shift by half a cell
  auto col = u.floor();
  auto du = u - col - 0.5, dv = g.v / cell - row - 0.5;
  auto inside = (du * du + dv * dv).sqrt() < radius;
  auto dot_colour = Lookup(palette.slice(0, 1), Hash2(row.to(torch::kLong), col.to(torch::kLong), 1));
  auto background = palette[0].view({3, 1, 1}).expand({3, h, w});
  return torch::where(inside.unsqueeze(0), dot_colour, background);
}

at::Tensor Waves(StyleRng& rng, int64_t h, int64_t w) {
  const Grid g = MakeGrid(h, w);
  const double a = Uniform(rng, 0, M_PI), period = Uniform(rng, 0.06, 0.2);
  const double amp = Uniform(rng, 0.03, 0.12), freq = Uniform(rng, 2, 6);
  at::Tensor palette = Palette(rng, 3);
  auto along = g.u * std::cos(a) + g.v * std::sin(a), across = -g.u * std::sin(a) + g.v * std::cos(a);
  auto phase = along + amp * (2 * M_PI * freq * across).sin();
  return Gradient(palette, 0.5 + 0.5 * (2 * M_PI * phase / period).sin());
}

at::Tensor Mosaic(StyleRng& rng, int64_t h, int64_t w) {
  const Grid g = MakeGrid(h, w);
  const double su = static_cast<double>(w) / std::min(h, w), sv = static_cast<double>(h) / std::min(h, w);
  const int64_t sites = static_cast<int64_t>(std::round(Uniform(rng, 20, 70) * su * sv));
  at::Tensor palette = Palette(rng, UniformInt(rng, 3, 6));
  at::Tensor site_xy = RandomTensor(rng, {sites, 2}) * torch::tensor({su, sv}).to(torch::kFloat);
  std::vector<int64_t> colour_index;
  for (int64_t i = 0; i < sites; ++i) colour_index.push_back(UniformInt(rng, 0, palette.size(0) - 1));
  at::Tensor site_colour = palette.index_select(0, torch::tensor(colour_index)) *
                           (0.8 + 0.4 * RandomTensor(rng, {sites, 1}));  // tiles of one colour still differ a little
  const double seam = Uniform(rng, 0.004, 0.015);
  auto pixels = torch::stack({g.u.reshape(-1), g.v.reshape(-1)}, 1);                 // [HW,2]
  auto d = torch::cdist(pixels, site_xy);                                           // [HW,S]
  auto nearest = d.topk(2, 1, /*largest=*/false);
  auto d1 = std::get<0>(nearest).select(1, 0), d2 = std::get<0>(nearest).select(1, 1);
  auto colour = site_colour.index_select(0, std::get<1>(nearest).select(1, 0));     // [HW,3]
  auto grout = (d2 - d1 < seam).unsqueeze(1);
  colour = torch::where(grout, torch::full({1, 3}, 0.12f), colour);
  return colour.clamp(0, 1).t().reshape({3, h, w});
}

at::Tensor Noise(StyleRng& rng, int64_t h, int64_t w) {
  at::Tensor field = torch::zeros({1, 3, h, w});
  const int64_t base = UniformInt(rng, 2, 4);
  double amp = 1.0, total = 0;
  for (int64_t o = 0, cells = base; o < 5; ++o, cells *= 2, amp *= Uniform(rng, 0.4, 0.6)) {
    at::Tensor coarse = RandomTensor(rng, {1, 3, cells + 1, cells + 1});
    field += amp * F::interpolate(coarse, F::InterpolateFuncOptions()
                                              .size(std::vector<int64_t>{h, w})
                                              .mode(torch::kBicubic)
                                              .align_corners(true));
    total += amp;
  }
  field = field[0] / total;
  // Stretch each channel to the full range, then tint by a palette colour so the field is not always grey-ish.
  auto lo = field.amin({1, 2}, true), hi = field.amax({1, 2}, true);
  field = (field - lo) / (hi - lo + 1e-6);
  at::Tensor tint = Palette(rng, 1)[0].view({3, 1, 1});
  return (0.6 * field + 0.4 * tint * field.mean(0, true) * 2).clamp(0, 1);
}

at::Tensor Checker(StyleRng& rng, int64_t h, int64_t w) {
  const Grid g = MakeGrid(h, w);
  const double a = Uniform(rng, 0, M_PI / 2), cell = Uniform(rng, 0.05, 0.2);
  at::Tensor palette = Palette(rng, 2);
  auto x = (g.u * std::cos(a) + g.v * std::sin(a)) / cell, y = (-g.u * std::sin(a) + g.v * std::cos(a)) / cell;
  auto parity = (x.floor() + y.floor()).to(torch::kLong);
  return Lookup(palette, parity);
}

at::Tensor Rings(StyleRng& rng, int64_t h, int64_t w) {
  const Grid g = MakeGrid(h, w);
  const double cu = Uniform(rng, -0.2, 1.2) * w / std::min(h, w), cv = Uniform(rng, -0.2, 1.2) * h / std::min(h, w);
  const double period = Uniform(rng, 0.03, 0.12);
  at::Tensor palette = Palette(rng, UniformInt(rng, 2, 5));
  auto r = ((g.u - cu).pow(2) + (g.v - cv).pow(2)).sqrt() / period;
  return Lookup(palette, r.floor().to(torch::kLong));
}

at::Tensor Strokes(StyleRng& rng, int64_t h, int64_t w) {
  const double s = static_cast<double>(std::min(h, w));
  at::Tensor palette = Palette(rng, UniformInt(rng, 3, 6));
  at::Tensor image = palette[0].view({3, 1, 1}).repeat({1, h, w}).contiguous();
  // A smooth flow field the strokes follow, like a painter's hand.
  const double base = Uniform(rng, 0, M_PI), bend = Uniform(rng, 0.3, 1.5);
  const double fu = Uniform(rng, 1, 4), fv = Uniform(rng, 1, 4), pu = Uniform(rng, 0, 6.3), pv = Uniform(rng, 0, 6.3);
  const double length = Uniform(rng, 0.08, 0.22), width = Uniform(rng, 0.012, 0.03);
  const int64_t count = static_cast<int64_t>(std::round(1.2 * (w / s) * (h / s) / (length * width)));
  for (int64_t k = 0; k < count; ++k) {
    const double cu = Uniform(rng, -0.05, w / s + 0.05), cv = Uniform(rng, -0.05, h / s + 0.05);
    const double angle = base + bend * std::sin(fu * cu + pu) * std::cos(fv * cv + pv) + Uniform(rng, -0.2, 0.2);
    const double half = 0.5 * length * Uniform(rng, 0.6, 1.4), rad = 0.5 * width * Uniform(rng, 0.7, 1.3);
    const double du = std::cos(angle), dv = std::sin(angle);
    // The stroke's bounding box in pixels.
    const double ext = half + rad;
    const int64_t x0 = std::max<int64_t>(0, std::floor((cu - ext) * s)), x1 = std::min<int64_t>(w, std::ceil((cu + ext) * s));
    const int64_t y0 = std::max<int64_t>(0, std::floor((cv - ext) * s)), y1 = std::min<int64_t>(h, std::ceil((cv + ext) * s));
    if (x0 >= x1 || y0 >= y1) continue;
    auto ys = (torch::arange(y0, y1, torch::kFloat) + 0.5) / s - cv;
    auto xs = (torch::arange(x0, x1, torch::kFloat) + 0.5) / s - cu;
    auto grid = torch::meshgrid({ys, xs}, "ij");
    auto along = (grid[1] * du + grid[0] * dv).clamp(-half, half);
    auto pu_ = grid[1] - along * du, pv_ = grid[0] - along * dv;  // offset from the nearest point of the segment
    auto dist = (pu_ * pu_ + pv_ * pv_).sqrt();
    auto cover = ((rad - dist) * s).clamp(0, 1).unsqueeze(0) * 0.9;  // one-pixel soft edge, slightly translucent
    const int64_t c = UniformInt(rng, 0, palette.size(0) - 1);
    at::Tensor colour = (palette[c] * Uniform(rng, 0.75, 1.15)).clamp(0, 1).view({3, 1, 1});
    at::Tensor region = image.slice(1, y0, y1).slice(2, x0, x1);
    region.copy_(region * (1 - cover) + colour * cover);
  }
  return image;
}

using Generator = std::function<at::Tensor(StyleRng&, int64_t, int64_t)>;

const std::vector<std::pair<std::string, Generator>>& Generators() {
  static const std::vector<std::pair<std::string, Generator>> generators = {
      {"stripes", Stripes}, {"dots", Dots},       {"waves", Waves}, {"mosaic", Mosaic},
      {"noise", Noise},     {"checker", Checker}, {"rings", Rings}, {"strokes", Strokes},
  };
  return generators;
}

std::string JoinNames() {
  std::string names;
  for (const auto& n : ProceduralStyleNames()) names += (names.empty() ? "" : ", ") + n;
  return names;
}

}  // namespace

const std::vector<std::string>& ProceduralStyleNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& g : Generators()) n.push_back(g.first);
    return n;
  }();
  return names;
}

at::Tensor ProceduralStyle(const std::string& name, uint64_t seed, int64_t height, int64_t width) {
  NE_CHECK(height >= 1 && width >= 1, "procedural style \"", name, "\": size must be positive, got ", width, "x",
           height);
  for (const auto& [n, generate] : Generators()) {
    if (n != name) continue;
    // The name salts the seed: "stripes:0" and "dots:0" draw unrelated palettes.
    StyleRng rng(seed * 0x9E3779B97F4A7C15ull + std::hash<std::string>{}(name) % 1000003);
    return generate(rng, height, width).to(torch::kFloat).clamp(0, 1).contiguous();
  }
  NE_FAIL("unknown procedural style \"", name, "\" (known: ", JoinNames(), ")");
}

at::Tensor LoadStyleImage(const std::string& path) {
  NE_CHECK(fs::exists(path), "style image ", path, " does not exist");
  NE_CHECK(fs::is_regular_file(path), "style image ", path, " is not a file");
  at::Tensor rgb;
  try {
    rgb = LoadImageFloat(path, {1.0f, 1.0f, 1.0f});  // [H,W,3]
  } catch (const std::exception& e) {
    NE_FAIL("style image ", path, " is not a readable PNG/JPEG image: ", e.what());
  }
  return rgb.permute({2, 0, 1}).contiguous();
}

at::Tensor ResolveStyle(const std::string& spec, int64_t height, int64_t width) {
  const std::string prefix = "procedural:";
  if (spec.rfind(prefix, 0) != 0) return LoadStyleImage(spec);
  std::string rest = spec.substr(prefix.size());
  uint64_t seed = 0;
  const size_t colon = rest.find(':');
  if (colon != std::string::npos) {
    const std::string seed_text = rest.substr(colon + 1);
    NE_CHECK(!seed_text.empty() && seed_text.find_first_not_of("0123456789") == std::string::npos,
             "style \"", spec, "\": the seed after the second ':' must be a non-negative integer, got \"", seed_text,
             "\"");
    seed = std::stoull(seed_text);
    rest = rest.substr(0, colon);
  }
  return ProceduralStyle(rest, seed, height, width);
}

std::vector<std::string> ListStyleImages(const std::string& dir) {
  std::vector<std::string> files;
  if (dir.empty() || !fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (entry.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

at::Tensor RandomStyleCrop(const at::Tensor& image, int64_t size, double max_scale, uint64_t seed) {
  NE_CHECK(image.dim() == 3 && image.size(0) == 3, "style crop: image must be [3,H,W], got ", image.sizes());
  NE_CHECK(size >= 1 && max_scale >= 1, "style crop: size ", size, " and max_scale ", max_scale,
           " must be >= 1");
  StyleRng rng(seed);
  const double shorter = static_cast<double>(std::min(image.size(1), image.size(2)));
  const double scale = Uniform(rng, size, size * max_scale) / shorter;
  const int64_t h = std::max<int64_t>(size, std::lround(image.size(1) * scale));
  const int64_t w = std::max<int64_t>(size, std::lround(image.size(2) * scale));
  // Shrinking averages areas (no aliasing of fine strokes); enlarging interpolates.
  const bool shrink = h < image.size(1);
  at::Tensor resized = F::interpolate(
      image.unsqueeze(0),
      shrink ? F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kArea)
             : F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false))[0];
  const int64_t y = UniformInt(rng, 0, h - size), x = UniformInt(rng, 0, w - size);
  at::Tensor crop = resized.slice(1, y, y + size).slice(2, x, x + size);
  if (rng() & 1) crop = crop.flip({2});
  return crop.clamp(0, 1).contiguous();
}

}  // namespace nerfedit
