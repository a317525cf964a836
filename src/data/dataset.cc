#include "data/dataset.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "data/image_io.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/npy.h"

namespace nerfedit {

namespace {

namespace fs = std::filesystem;

// Intrinsics as written at one level (top level or one frame); a frame's values override the top level's.
struct Intrinsics {
  std::optional<double> fl_x, fl_y, cx, cy, angle_x, angle_y;
  std::optional<int64_t> w, h;
};

template <typename T>
void TakeOptional(JsonReader& reader, const Json& json, const char* key, std::optional<T>* out) {
  if (!json.contains(key)) return;
  T value{};
  reader.Optional(key, &value);
  *out = value;
}

// Reads this level's intrinsics and rejects what a pinhole model cannot represent.
Intrinsics ReadIntrinsics(const Json& json, const std::string& context, const Intrinsics& parent) {
  JsonReader r(json, context);
  Intrinsics k = parent;
  TakeOptional(r, json, "fl_x", &k.fl_x);
  TakeOptional(r, json, "fl_y", &k.fl_y);
  TakeOptional(r, json, "cx", &k.cx);
  TakeOptional(r, json, "cy", &k.cy);
  TakeOptional(r, json, "w", &k.w);
  TakeOptional(r, json, "h", &k.h);
  // A frame's camera_angle_x replaces an inherited focal length, as its fl_x would.
  if (json.contains("camera_angle_x")) {
    TakeOptional(r, json, "camera_angle_x", &k.angle_x);
    if (!json.contains("fl_x")) k.fl_x.reset();
  }
  if (json.contains("camera_angle_y")) {
    TakeOptional(r, json, "camera_angle_y", &k.angle_y);
    if (!json.contains("fl_y")) k.fl_y.reset();
  }
  for (const char* key : {"k1", "k2", "k3", "k4", "p1", "p2"}) {
    double v = 0;
    r.Optional(key, &v);
    NE_CHECK(v == 0, context, ": lens distortion ", key, " = ", v,
             " is not supported (undistort the images first, e.g. with COLMAP's image_undistorter)");
  }
  std::string model = "PINHOLE";
  r.Optional("camera_model", &model);
  NE_CHECK(model == "PINHOLE" || model == "SIMPLE_PINHOLE" || model == "OPENCV", context, ": camera_model \"", model,
           "\" is not supported (pinhole cameras only)");
  return k;
}

at::Tensor ReadMatrix4x4(const Json& frame, const std::string& context) {
  NE_CHECK(frame.contains("transform_matrix"), context, ": missing \"transform_matrix\"");
  const Json& m = frame.at("transform_matrix");
  std::vector<float> values;
  bool ok = m.is_array() && m.size() == 4;
  for (size_t r = 0; ok && r < 4; ++r) {
    ok = m[r].is_array() && m[r].size() == 4;
    for (size_t c = 0; ok && c < 4; ++c) {
      ok = m[r][c].is_number();
      if (ok) values.push_back(m[r][c].get<float>());
    }
  }
  std::string shown = m.dump();
  if (shown.size() > 120) shown = shown.substr(0, 117) + "...";
  NE_CHECK(ok, context, ": \"transform_matrix\" must be a 4x4 array of numbers, got ", shown);
  NE_CHECK(std::abs(values[12]) < 1e-4 && std::abs(values[13]) < 1e-4 && std::abs(values[14]) < 1e-4 &&
               std::abs(values[15] - 1) < 1e-4,
           context, ": \"transform_matrix\" bottom row must be [0,0,0,1], got ", shown);
  return at::tensor(values, at::kFloat).reshape({4, 4});
}

bool IsImageExtension(const fs::path& p) {
  std::string ext = p.extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Blender writes "./train/r_0" without extension; try the image extensions in turn.
std::string ResolveImagePath(const fs::path& base, const std::string& file_path, const std::string& context) {
  const fs::path p = (base / file_path).lexically_normal();
  std::vector<std::string> tried = {p.string()};
  if (!IsImageExtension(p)) {
    for (const char* ext : {".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG"}) tried.push_back(p.string() + ext);
  }
  std::error_code ec;
  for (const auto& candidate : tried) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  NE_FAIL(context, ": image file not found (file_path \"", file_path, "\"); tried ", list);
}

std::string ResolveTransformsFile(const std::string& path, const std::string& split) {
  std::error_code ec;
  NE_CHECK(fs::exists(path, ec), "dataset path ", path, " does not exist");
  if (!fs::is_directory(path, ec)) return path;
  const std::string plain = (fs::path(path) / "transforms.json").string();
  if (fs::is_regular_file(plain, ec)) return plain;
  const std::string by_split = (fs::path(path) / ("transforms_" + split + ".json")).string();
  if (fs::is_regular_file(by_split, ec)) return by_split;
  NE_FAIL("dataset directory ", path, " holds neither transforms.json nor transforms_", split, ".json");
}

at::Tensor ReadAabb(const Json& root, const std::string& source) {
  if (root.contains("aabb")) {
    const Json& a = root.at("aabb");
    bool ok = a.is_array() && a.size() == 2;
    std::vector<float> v;
    for (size_t r = 0; ok && r < 2; ++r) {
      ok = a[r].is_array() && a[r].size() == 3;
      for (size_t c = 0; ok && c < 3; ++c) {
        ok = a[r][c].is_number();
        if (ok) v.push_back(a[r][c].get<float>());
      }
    }
    NE_CHECK(ok, source, ": \"aabb\" must be [[x0,y0,z0],[x1,y1,z1]], got ", a.dump());
    NE_CHECK(v[0] < v[3] && v[1] < v[4] && v[2] < v[5], source, ": \"aabb\" min ", a[0].dump(),
             " must be below max ", a[1].dump(), " on every axis");
    return at::tensor(v, at::kFloat).reshape({2, 3});
  }
  // instant-ngp's aabb_scale multiplies the unit scene; Blender scenes fit in [-1.5,1.5]^3, so that is scale 1.
  double scale = 1;
  if (root.contains("aabb_scale")) {
    NE_CHECK(root.at("aabb_scale").is_number() && root.at("aabb_scale").get<double>() > 0, source,
             ": \"aabb_scale\" must be a positive number, got ", root.at("aabb_scale").dump());
    scale = root.at("aabb_scale").get<double>();
  }
  const float half = static_cast<float>(1.5 * scale);
  return at::tensor({-half, -half, -half, half, half, half}, at::kFloat).reshape({2, 3});
}

struct FrameSpec {
  int64_t index = 0;
  std::string context;  // "<file>: frame i"
  std::string image_path, depth_path, label_path;
  at::Tensor world_from_cam;
  Intrinsics intrinsics;
};

// The pixel at the centre of each factor x factor block (depth and ids must not be averaged).
at::Tensor DownscaleNearest(const at::Tensor& map, int factor, int64_t h, int64_t w) {
  if (factor == 1) return map;
  auto rows = at::arange(h, at::kLong) * factor + factor / 2;
  auto cols = at::arange(w, at::kLong) * factor + factor / 2;
  return map.index_select(0, rows).index_select(1, cols).contiguous();
}

at::Tensor LoadMap(const std::string& path, bool labels, const std::string& context, int64_t full_h, int64_t full_w) {
  const std::string kind = labels ? "label" : "depth";
  std::error_code ec;
  NE_CHECK(fs::is_regular_file(path, ec), context, ": ", kind, " file ", path, " does not exist");
  std::string ext = fs::path(path).extension().string();
  at::Tensor map;
  if (labels && (ext == ".png" || ext == ".PNG")) {
    map = LoadLabelImage(path);
  } else {
    NE_CHECK(ext == ".npy", context, ": ", kind, " file ", path, " must be .npy", labels ? " or .png" : "");
    map = ReadNpy(path);
    if (labels) {
      NE_CHECK(map.scalar_type() == at::kInt || map.scalar_type() == at::kByte, context, ": label file ", path,
               " has dtype ", map.scalar_type(), "; expected int32 or uint8");
    } else {
      NE_CHECK(map.scalar_type() == at::kFloat, context, ": depth file ", path, " has dtype ", map.scalar_type(),
               "; expected float32");
    }
  }
  NE_CHECK(map.dim() == 2 && map.size(0) == full_h && map.size(1) == full_w, context, ": ", kind, " file ", path,
           " has shape ", map.sizes(), " but the image is ", full_h, "x", full_w, " (HxW)");
  return labels ? map.to(at::kInt) : map;
}

}  // namespace

Dataset Dataset::Subset(const std::vector<int64_t>& which) const {
  for (int64_t i : which) NE_CHECK(i >= 0 && i < size(), "Dataset::Subset: index ", i, " out of range [0,", size(), ")");
  auto index = at::tensor(which, at::kLong);
  auto rows = [&](const at::Tensor& t) { return t.defined() ? t.index_select(0, index) : t; };
  Dataset out;
  out.images = rows(images);
  out.alphas = rows(alphas);
  out.depths = rows(depths);
  out.labels = rows(labels);
  out.aabb = aabb;
  out.background = background;
  out.source = source;
  for (int64_t i : which) {
    out.cameras.push_back(cameras[i]);
    out.image_paths.push_back(image_paths[i]);
    out.frame_indices.push_back(frame_indices[i]);
  }
  return out;
}

void SplitEveryNth(const Dataset& all, int every, Dataset* train, Dataset* test) {
  NE_CHECK(every >= 2, "SplitEveryNth: every must be >= 2 (1 leaves no training views), got ", every);
  std::vector<int64_t> train_rows, test_rows;
  for (int64_t i = 0; i < all.size(); ++i) (all.frame_indices[i] % every == 0 ? test_rows : train_rows).push_back(i);
  *train = all.Subset(train_rows);
  *test = all.Subset(test_rows);
}

Dataset LoadTransformsDataset(const std::string& path, const DatasetOptions& options) {
  const int factor = options.downscale();
  NE_CHECK(factor >= 1, "--downscale must be >= 1, got ", factor);
  NE_CHECK(options.background().size() == 3, "background must have 3 values (RGB), got ",
           options.background().size());
  const std::array<float, 3> background = {options.background()[0], options.background()[1],
                                           options.background()[2]};
  const std::string source = ResolveTransformsFile(path, options.split());
  const Json root = ReadJsonFile(source);
  NE_CHECK(root.is_object(), source, ": expected a JSON object at the top level, got ", root.type_name());
  NE_CHECK(root.contains("frames"), source, ": missing \"frames\"");
  const Json& frames = root.at("frames");
  NE_CHECK(frames.is_array(), source, ": \"frames\" must be an array, got ", frames.type_name());
  NE_CHECK(!frames.empty(), source, ": \"frames\" is empty");
  const Intrinsics top = ReadIntrinsics(root, source, Intrinsics());
  const fs::path base = fs::path(source).parent_path();

  // Parse every frame first (cheap), so JSON errors come before any image is decoded.
  std::vector<FrameSpec> specs;
  for (size_t i = 0; i < frames.size(); ++i) {
    FrameSpec s;
    s.index = static_cast<int64_t>(i);
    s.context = source + ": frame " + std::to_string(i);
    const Json& f = frames[i];
    NE_CHECK(f.is_object(), s.context, ": expected an object, got ", f.type_name());
    s.intrinsics = ReadIntrinsics(f, s.context, top);
    s.world_from_cam = ReadMatrix4x4(f, s.context);
    JsonReader r(f, s.context);
    std::string file_path;
    r.Required("file_path", &file_path).Optional("depth_file_path", &s.depth_path);
    r.Optional("label_file_path", &s.label_path);
    const Intrinsics& k = s.intrinsics;
    NE_CHECK(k.fl_x || k.angle_x, s.context, ": no intrinsics: need \"camera_angle_x\" or \"fl_x\" (per frame or at",
             " the top level)");
    s.image_path = ResolveImagePath(base, file_path, s.context);
    if (!s.depth_path.empty()) s.depth_path = (base / s.depth_path).lexically_normal().string();
    if (!s.label_path.empty()) s.label_path = (base / s.label_path).lexically_normal().string();
    specs.push_back(std::move(s));
  }
  const bool has_depth = !specs[0].depth_path.empty(), has_labels = !specs[0].label_path.empty();
  for (const auto& s : specs) {
    NE_CHECK(s.depth_path.empty() != has_depth, s.context, ": ", has_depth ? "lacks" : "has",
             " \"depth_file_path\" while frame 0 ", has_depth ? "has" : "lacks", " one");
    NE_CHECK(s.label_path.empty() != has_labels, s.context, ": ", has_labels ? "lacks" : "has",
             " \"label_file_path\" while frame 0 ", has_labels ? "has" : "lacks", " one");
  }

  // Sizes from the image headers: every image must match its w/h and the first image.
  const int64_t n = static_cast<int64_t>(specs.size());
  int64_t full_w = 0, full_h = 0;
  bool any_alpha = false;
  for (auto& s : specs) {
    ImageInfo info;
    try {
      info = ReadImageInfo(s.image_path);
    } catch (const Error& e) {
      NE_FAIL(s.context, ": ", e.what());
    }
    auto& k = s.intrinsics;
    NE_CHECK((!k.w || *k.w == info.width) && (!k.h || *k.h == info.height), s.context, ": image ", s.image_path,
             " is ", info.width, "x", info.height, " but the transforms file says w x h = ", k.w.value_or(info.width),
             "x", k.h.value_or(info.height));
    if (s.index == 0) {
      full_w = info.width;
      full_h = info.height;
    }
    NE_CHECK(info.width == full_w && info.height == full_h, s.context, ": image ", s.image_path, " is ", info.width,
             "x", info.height, " but the first image ", specs[0].image_path, " is ", full_w, "x", full_h);
    k.w = info.width;
    k.h = info.height;
    any_alpha = any_alpha || info.channels == 2 || info.channels == 4;
  }
  const int64_t h = full_h / factor, w = full_w / factor;
  NE_CHECK(h >= 1 && w >= 1, source, ": images are ", full_w, "x", full_h, "; --downscale ", factor,
           " would leave ", w, "x", h, " pixels");

  Dataset data;
  data.source = source;
  data.background.assign(background.begin(), background.end());
  data.aabb = ReadAabb(root, source);
  for (const auto& s : specs) {
    const auto& k = s.intrinsics;
    Camera c;
    c.width = full_w;
    c.height = full_h;
    c.fx = k.fl_x ? *k.fl_x : 0.5 * full_w / std::tan(0.5 * *k.angle_x);
    c.fy = k.fl_y ? *k.fl_y : (k.angle_y ? 0.5 * full_h / std::tan(0.5 * *k.angle_y) : c.fx);
    c.cx = k.cx.value_or(0.5 * full_w);
    c.cy = k.cy.value_or(0.5 * full_h);
    NE_CHECK(std::isfinite(c.fx) && c.fx > 0 && std::isfinite(c.fy) && c.fy > 0, s.context,
             ": focal lengths must be positive, got fx=", c.fx, " fy=", c.fy);
    c.world_from_cam = s.world_from_cam;
    data.cameras.push_back(c.Downscaled(factor));
    data.image_paths.push_back(s.image_path);
    data.frame_indices.push_back(s.index);
  }

  data.images = at::empty({n, h, w, 3}, at::kFloat);
  if (any_alpha) data.alphas = at::empty({n, h, w}, at::kFloat);
  if (has_depth) data.depths = at::empty({n, h, w}, at::kFloat);
  if (has_labels) data.labels = at::empty({n, h, w}, at::kInt);
  // Decoding dominates (100 PNGs of 800x800), so files are spread over the intra-op threads; the first failing
  // frame's message is reported so errors do not depend on scheduling.
  std::vector<std::string> errors(n);
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const FrameSpec& s = specs[i];
      try {
        LoadImageInto(s.image_path, factor, background, data.images[i], any_alpha ? data.alphas[i] : at::Tensor());
        if (has_depth) {
          data.depths[i].copy_(DownscaleNearest(LoadMap(s.depth_path, false, s.context, full_h, full_w), factor, h, w));
        }
        if (has_labels) {
          data.labels[i].copy_(DownscaleNearest(LoadMap(s.label_path, true, s.context, full_h, full_w), factor, h, w));
        }
      } catch (const Error& e) {
        const std::string what = e.what();
        errors[i] = what.rfind(s.context, 0) == 0 ? what : s.context + ": " + what;
      } catch (const std::exception& e) {
        errors[i] = s.context + ": " + e.what();
      }
    }
  });
  for (const auto& e : errors) NE_CHECK(e.empty(), e);
  return data;
}

}  // namespace nerfedit
