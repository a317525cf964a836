#include "data/procedural_scene.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include "data/image_io.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/math_constants.h"
#include "util/json_reader.h"
#include "util/npy.h"

namespace nerfedit {

namespace {

const std::set<std::string> kShapes = {"sphere", "box", "cylinder", "cone", "torus"};

nlohmann::json AabbJson(const std::vector<float>& aabb) {
  nlohmann::json out = nlohmann::json::array();
  for (float v : aabb) out.push_back(ShortFloat(v));
  return out;
}

}  // namespace

void CheckUnitColor(const std::array<float, 3>& c, const std::string& what) {
  for (float v : c) {
    NE_CHECK(std::isfinite(v) && v >= 0 && v <= 1, what, " must be in [0,1], got [", c[0], ",", c[1], ",", c[2], "]");
  }
}

nlohmann::json ProceduralScene::ToJson() const {
  nlohmann::json objs = nlohmann::json::array();
  for (const auto& o : objects) {
    objs.push_back({{"name", o.name},
                    {"shape", o.shape},
                    {"color", Vec3Json(o.color)},
                    {"center", Vec3Json(o.center)},
                    {"size", Vec3Json(o.size)},
                    {"rotation_z", ShortFloat(o.rotation_z)},
                    {"specular", ShortFloat(o.specular)}});
    if (o.rotation_x != 0) objs.back()["rotation_x"] = ShortFloat(o.rotation_x);
  }
  return {{"objects", objs},
          {"ground_color_a", Vec3Json(ground_color_a)},
          {"ground_color_b", Vec3Json(ground_color_b)},
          {"ground_half_extent", ShortFloat(ground_half_extent)},
          {"checker_size", ShortFloat(checker_size)},
          {"background", Vec3Json(background)},
          {"light_direction", Vec3Json(light_direction)},
          {"ambient", ShortFloat(ambient)},
          {"shininess", ShortFloat(shininess)},
          {"aabb", AabbJson(aabb)}};
}

ProceduralScene ProceduralScene::FromJson(const nlohmann::json& json) {
  const std::string context = "procedural scene";
  JsonReader r(json, context);
  ProceduralScene s;
  const Json& objs = r.Sub("objects");
  NE_CHECK(objs.is_array(), context, ": \"objects\" must be an array, got ", objs.type_name());
  for (size_t i = 0; i < objs.size(); ++i) {
    const std::string oc = context + ": objects[" + std::to_string(i) + "]";
    JsonReader o(objs[i], oc);
    ProceduralObject obj;
    o.Required("name", &obj.name).Required("shape", &obj.shape);
    o.RequiredVec3("color", &obj.color);
    o.RequiredVec3("center", &obj.center);
    o.RequiredVec3("size", &obj.size);
    o.Optional("rotation_z", &obj.rotation_z).Optional("specular", &obj.specular).Optional("rotation_x", &obj.rotation_x);
    o.Finish();
    s.objects.push_back(obj);
  }
  r.OptionalVec3("ground_color_a", &s.ground_color_a);
  r.OptionalVec3("ground_color_b", &s.ground_color_b);
  r.OptionalVec3("background", &s.background);
  r.OptionalVec3("light_direction", &s.light_direction);
  r.Optional("ground_half_extent", &s.ground_half_extent).Optional("checker_size", &s.checker_size);
  r.Optional("ambient", &s.ambient).Optional("shininess", &s.shininess).Optional("aabb", &s.aabb);
  r.Finish();
  s.Check();
  return s;
}

void ProceduralScene::Check() const {
  const std::string c = "procedural scene";
  NE_CHECK(aabb.size() == 6, c, ": aabb must have 6 values (min xyz, max xyz), got ", aabb.size());
  for (int a = 0; a < 3; ++a) {
    NE_CHECK(aabb[a] < aabb[a + 3], c, ": aabb min ", aabb[a], " must be below max ", aabb[a + 3], " on axis ", a);
  }
  NE_CHECK(ground_half_extent >= 0 && checker_size > 0, c, ": ground_half_extent (", ground_half_extent,
           ") must be >= 0 (0: no ground) and checker_size (", checker_size, ") positive");
  NE_CHECK(ground_half_extent == 0 || (-ground_half_extent >= aabb[0] && ground_half_extent <= aabb[3] &&
                                        -ground_half_extent >= aabb[1] && ground_half_extent <= aabb[4] &&
                                        aabb[2] <= 0 && aabb[5] >= 0),
           c, ": the ground square (half extent ", ground_half_extent, " at z=0) does not fit in the aabb");
  CheckUnitColor(ground_color_a, c + ": ground_color_a");
  CheckUnitColor(ground_color_b, c + ": ground_color_b");
  CheckUnitColor(background, c + ": background");
  const auto& l = light_direction;
  NE_CHECK(l[0] * l[0] + l[1] * l[1] + l[2] * l[2] > 1e-12, c, ": light_direction must be non-zero");
  NE_CHECK(ambient >= 0 && ambient <= 1, c, ": ambient must be in [0,1], got ", ambient);
  NE_CHECK(shininess > 0, c, ": shininess must be positive, got ", shininess);
  std::set<std::string> names;
  for (size_t i = 0; i < objects.size(); ++i) {
    const auto& o = objects[i];
    const std::string oc = c + ": object " + std::to_string(i) + " \"" + o.name + "\"";
    NE_CHECK(!o.name.empty(), c, ": object ", i, " has an empty name");
    NE_CHECK(names.insert(o.name).second, oc, ": duplicate name");
    NE_CHECK(kShapes.count(o.shape), oc, ": unknown shape \"", o.shape,
             "\" (expected sphere, box, cylinder, cone or torus)");
    CheckUnitColor(o.color, oc + ": color");
    for (float v : o.size) NE_CHECK(v > 0, oc, ": size must be positive, got ", v);
    NE_CHECK(o.specular >= 0, oc, ": specular must be >= 0, got ", o.specular);
    if (o.shape == "torus") {
      NE_CHECK(o.size[0] == o.size[1] && o.size[2] < o.size[0], oc, ": a torus needs size.x == size.y > size.z",
               " (outer radius, outer radius, tube radius), got [", o.size[0], ",", o.size[1], ",", o.size[2], "]");
    }
    // Half extents of the rotated local box (R = Rz Rx: ext_a = sum_j |R_aj| size_j), which must lie inside the
    // scene bounds.
    const double cz = std::cos(o.rotation_z), sz = std::sin(o.rotation_z);
    const double cx = std::cos(o.rotation_x), sx = std::sin(o.rotation_x);
    const double rot[3][3] = {{cz, -sz * cx, sz * sx}, {sz, cz * cx, -cz * sx}, {0, sx, cx}};
    double ext[3];
    for (int a = 0; a < 3; ++a) {
      ext[a] = std::abs(rot[a][0]) * o.size[0] + std::abs(rot[a][1]) * o.size[1] + std::abs(rot[a][2]) * o.size[2];
    }
    for (int a = 0; a < 3; ++a) {
      NE_CHECK(o.center[a] - ext[a] >= aabb[a] - 1e-5 && o.center[a] + ext[a] <= aabb[a + 3] + 1e-5, oc,
               ": extends to [", o.center[a] - ext[a], ",", o.center[a] + ext[a], "] on axis ", a,
               ", outside the scene aabb [", aabb[a], ",", aabb[a + 3], "]");
    }
  }
}

int ProceduralScene::FindObject(const std::string& name) const {
  for (size_t i = 0; i < objects.size(); ++i) {
    if (objects[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

ProceduralScene DefaultScene() {
  ProceduralScene s;
  // Objects rest on the ground (centre.z = size.z) and are spread so that each is seen whole from most views.
  s.objects = {
      {"red sphere", "sphere", {0.90f, 0.12f, 0.10f}, {0.62f, 0.52f, 0.34f}, {0.34f, 0.34f, 0.34f}, 0.0f, 0.35f},
      {"blue box", "box", {0.12f, 0.28f, 0.92f}, {-0.62f, 0.58f, 0.26f}, {0.26f, 0.26f, 0.26f}, 0.5f, 0.25f},
      {"green cylinder", "cylinder", {0.12f, 0.78f, 0.22f}, {-0.64f, -0.56f, 0.36f}, {0.22f, 0.22f, 0.36f}, 0.0f,
       0.25f},
      {"yellow cone", "cone", {0.96f, 0.84f, 0.08f}, {0.60f, -0.58f, 0.42f}, {0.30f, 0.30f, 0.42f}, 0.0f, 0.25f},
      {"purple torus", "torus", {0.62f, 0.16f, 0.82f}, {0.0f, 0.0f, 0.11f}, {0.36f, 0.36f, 0.11f}, 0.0f, 0.3f},
  };
  s.Check();
  return s;
}

void ProceduralDatasetOptions::Check() const {
  NE_CHECK(num_views() >= 1, "procedural dataset: num_views must be >= 1, got ", num_views());
  NE_CHECK(width() >= 1 && height() >= 1, "procedural dataset: image size must be positive, got ", width(), "x",
           height());
  NE_CHECK(radius() > 0, "procedural dataset: radius must be positive, got ", radius());
  NE_CHECK(fov_x_degrees() > 0 && fov_x_degrees() < 180, "procedural dataset: fov_x_degrees must be in (0,180), got ",
           fov_x_degrees());
  NE_CHECK(min_elevation_degrees() >= -89 && max_elevation_degrees() <= 89 &&
               min_elevation_degrees() <= max_elevation_degrees(),
           "procedural dataset: elevations must satisfy -89 <= min (", min_elevation_degrees(), ") <= max (",
           max_elevation_degrees(), ") <= 89");
  NE_CHECK(supersample() >= 1, "procedural dataset: supersample must be >= 1, got ", supersample());
}

nlohmann::json ProceduralDatasetOptions::ToJson() const {
  return {{"num_views", num_views()},
          {"width", width()},
          {"height", height()},
          {"radius", radius()},
          {"fov_x_degrees", fov_x_degrees()},
          {"seed", seed()},
          {"min_elevation_degrees", min_elevation_degrees()},
          {"max_elevation_degrees", max_elevation_degrees()},
          {"supersample", supersample()},
          {"alpha", alpha()}};
}

std::vector<Camera> HemisphereCameras(const ProceduralDatasetOptions& options) {
  options.Check();
  // mt19937's output sequence is fixed by the standard (distributions are not), so use its raw bits.
  std::mt19937 gen(static_cast<uint32_t>(options.seed()));
  auto uniform = [&]() { return (gen() >> 8) * (1.0 / 16777216.0); };
  const double golden_angle = kPi * (3 - std::sqrt(5.0));
  const double azimuth0 = 2 * kPi * uniform();
  const double z_lo = std::sin(options.min_elevation_degrees() * kPi / 180);
  const double z_hi = std::sin(options.max_elevation_degrees() * kPi / 180);
  const int n = options.num_views();
  std::vector<Camera> cameras;
  for (int i = 0; i < n; ++i) {
    // Stratified in sin(elevation) (equal area on the sphere), golden-angle azimuths with a little jitter.
    const double z = z_lo + (z_hi - z_lo) * (i + uniform()) / n;
    const double elevation = std::asin(std::max(-1.0, std::min(1.0, z)));
    const double azimuth = azimuth0 + i * golden_angle + 0.2 * (uniform() - 0.5);
    const double r = options.radius();
    const std::array<float, 3> target = {0, 0, kLookAtHeight};
    const std::array<float, 3> eye = {static_cast<float>(r * std::cos(elevation) * std::cos(azimuth)),
                                      static_cast<float>(r * std::cos(elevation) * std::sin(azimuth)),
                                      static_cast<float>(kLookAtHeight + r * std::sin(elevation))};
    cameras.push_back(Camera::LookAt(eye, target, {0, 0, 1}, options.width(), options.height(),
                                     options.fov_x_degrees() * kPi / 180));
  }
  return cameras;
}

void WriteProceduralDataset(const ProceduralScene& scene, const ProceduralDatasetOptions& options,
                            const std::string& out_dir) {
  namespace fs = std::filesystem;
  scene.Check();
  options.Check();
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    NE_CHECK(fs::is_directory(out_dir, ec), "cannot write the procedural dataset to ", out_dir,
             ": it exists and is not a directory");
    NE_CHECK(fs::is_empty(out_dir, ec), "refusing to overwrite ", out_dir,
             ": the directory is not empty (remove it or choose another output directory)");
  }
  fs::path final_dir = fs::path(out_dir).lexically_normal();
  if (final_dir.filename().empty()) final_dir = final_dir.parent_path();  // "out/" names the folder "out"
  const fs::path tmp = final_dir.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  const bool u8_labels = scene.objects.size() + 2 <= 256;
  try {
    fs::create_directories(tmp / "images");
    fs::create_directories(tmp / "depth");
    fs::create_directories(tmp / "labels");
    const std::vector<Camera> cameras = HemisphereCameras(options);
    nlohmann::json frames = nlohmann::json::array();
    for (size_t i = 0; i < cameras.size(); ++i) {
      char stem[32];
      std::snprintf(stem, sizeof(stem), "r_%03zu", i);
      const std::string image = std::string("images/") + stem + ".png";
      const std::string depth = std::string("depth/") + stem + ".npy";
      const std::string label = std::string("labels/") + stem + (u8_labels ? ".png" : ".npy");
      const ProceduralRender r = RenderProcedural(scene, cameras[i], options.supersample());
      if (options.alpha()) {
        // Straight (unpremultiplied) colour: rgb = alpha * colour + (1 - alpha) * background.
        const at::Tensor a = r.alpha.unsqueeze(-1);
        const at::Tensor bg = at::tensor(std::vector<float>(scene.background.begin(), scene.background.end()));
        const at::Tensor colour = at::where(a > 0, (r.rgb - (1 - a) * bg) / a.clamp_min(1e-6f), at::zeros_like(r.rgb));
        SaveImage((tmp / image).string(), at::cat({colour.clamp(0, 1), a}, -1));
      } else {
        SaveImage((tmp / image).string(), r.rgb);
      }
      WriteNpy((tmp / depth).string(), r.depth);
      if (u8_labels) {
        at::Tensor ids = at::empty({r.labels.size(0), r.labels.size(1), 1}, at::kByte);
        std::copy_n(r.labels.data_ptr<int32_t>(), r.labels.numel(), ids.data_ptr<uint8_t>());  // ids < 256 here
        SaveImage((tmp / label).string(), ids);
      } else {
        WriteNpy((tmp / label).string(), r.labels);
      }
      frames.push_back({{"file_path", image},
                        {"depth_file_path", depth},
                        {"label_file_path", label},
                        {"transform_matrix", cameras[i].ToJson().at("transform_matrix")}});
    }
    const Camera& c0 = cameras.front();
    const auto& a = scene.aabb;
    nlohmann::json transforms = {{"fl_x", c0.fx},
                                 {"fl_y", c0.fy},
                                 {"cx", c0.cx},
                                 {"cy", c0.cy},
                                 {"w", c0.width},
                                 {"h", c0.height},
                                 {"aabb", {Vec3Json({a[0], a[1], a[2]}), Vec3Json({a[3], a[4], a[5]})}},
                                 {"frames", frames},
                                 {"scene", scene.ToJson()},
                                 {"procedural_options", options.ToJson()}};
    WriteTextAtomically((tmp / "transforms.json").string(), transforms.dump(2));
    // Ids are the values of the label maps.
    nlohmann::json objects = nlohmann::json::array();
    objects.push_back({{"id", 1}, {"name", "ground"}, {"shape", "plane"}, {"color", Vec3Json(scene.ground_color_a)}});
    for (size_t k = 0; k < scene.objects.size(); ++k) {
      const auto& o = scene.objects[k];
      objects.push_back({{"id", 2 + k}, {"name", o.name}, {"shape", o.shape}, {"color", Vec3Json(o.color)}});
    }
    WriteTextAtomically((tmp / "objects.json").string(), objects.dump(2));
    if (fs::exists(final_dir, ec)) fs::remove(final_dir);  // empty, checked above
    if (final_dir.has_parent_path()) fs::create_directories(final_dir.parent_path());
    fs::rename(tmp, final_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace nerfedit
