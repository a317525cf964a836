#include "data/category_scene.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "data/image_io.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/math_constants.h"
#include "util/json_reader.h"
#include "util/npy.h"

namespace nerfedit {

namespace {

namespace fs = std::filesystem;
constexpr double kDeg = kPi / 180;

// SplitMix64 streams: the same numbers on every machine and standard library (std distributions are not).
uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(Mix(seed ^ 0x5bd1e995ULL)) {}
  double Uniform() {  // [0,1)
    state_ += 0x9e3779b97f4a7c15ULL;
    return static_cast<double>(Mix(state_) >> 11) * (1.0 / 9007199254740992.0);
  }
  float U(double lo, double hi) { return static_cast<float>(lo + (hi - lo) * Uniform()); }
  int Int(int n) { return std::min(n - 1, static_cast<int>(Uniform() * n)); }
  double Normal() {  // Box-Muller
    const double u1 = std::max(Uniform(), 1e-300), u2 = Uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2);
  }

 private:
  uint64_t state_;
};

// Independent streams per (dataset seed, instance, purpose).
uint64_t StreamSeed(uint64_t seed, int64_t index, uint64_t purpose) {
  return Mix(Mix(Mix(seed) ^ static_cast<uint64_t>(index)) ^ purpose);
}

Rgb Lerp(const Rgb& a, const Rgb& b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}
Rgb Scale(const Rgb& a, float s) {
  return {std::min(1.f, a[0] * s), std::min(1.f, a[1] * s), std::min(1.f, a[2] * s)};
}
Rgb Jittered(Rgb c, Rng& rng, float amount) {
  for (float& v : c) v = std::min(1.f, std::max(0.f, v + rng.U(-amount, amount)));
  return c;
}
Rgb RandomColor(Rng& rng, float lo = 0.05f, float hi = 0.95f) { return {rng.U(lo, hi), rng.U(lo, hi), rng.U(lo, hi)}; }

void CheckRange(double v, double lo, double hi, const std::string& what) {
  NE_CHECK(std::isfinite(v) && v >= lo && v <= hi, what, " must be in [", lo, ",", hi, "], got ", v);
}

ProceduralObject Part(const std::string& name, const std::string& shape, const Rgb& color,
                      std::array<float, 3> center, std::array<float, 3> size, float specular, float rotation_x = 0) {
  ProceduralObject o;
  o.name = name;
  o.shape = shape;
  o.color = color;
  o.center = center;
  o.size = size;
  o.specular = specular;
  o.rotation_x = rotation_x;
  return o;
}

at::Tensor Points(const std::vector<std::array<float, 3>>& p) {
  at::Tensor out = at::empty({static_cast<int64_t>(p.size()), 3}, at::kFloat);
  for (size_t i = 0; i < p.size(); ++i) {
    for (int a = 0; a < 3; ++a) out[i][a] = p[i][a];
  }
  return out;
}

ProceduralScene EmptyScene(const std::string& kind) {
  const CategoryRig rig = RigFor(kind);
  ProceduralScene s;
  s.ground_half_extent = 0;  // no ground: the object floats in front of its background
  s.background = {0, 0, 0};  // rays that miss add nothing: RenderProcedural's rgb is then premultiplied
  s.aabb = {rig.aabb_min[0], rig.aabb_min[1], rig.aabb_min[2], rig.aabb_max[0], rig.aabb_max[1], rig.aabb_max[2]};
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Parameters

nlohmann::json HeadParams::ToJson() const {
  return {{"head_size", Vec3Json(head_size)}, {"skin_color", Vec3Json(skin_color)},
          {"hair_color", Vec3Json(hair_color)}, {"eye_color", Vec3Json(eye_color)},
          {"lip_color", Vec3Json(lip_color)}, {"eye_spacing", ShortFloat(eye_spacing)},
          {"eye_height", ShortFloat(eye_height)}, {"eye_radius", ShortFloat(eye_radius)},
          {"nose_height", ShortFloat(nose_height)}, {"nose_length", ShortFloat(nose_length)},
          {"nose_width", ShortFloat(nose_width)}, {"nose_droop", ShortFloat(nose_droop)},
          {"mouth_height", ShortFloat(mouth_height)}, {"mouth_width", ShortFloat(mouth_width)},
          {"ear_size", ShortFloat(ear_size)}, {"hair_back", ShortFloat(hair_back)}, {"hair_up", ShortFloat(hair_up)},
          {"hair_scale", ShortFloat(hair_scale)}, {"neck_radius", ShortFloat(neck_radius)}};
}

HeadParams HeadParams::FromJson(const nlohmann::json& json) {
  const std::string c = "head parameters";
  JsonReader r(json, c);
  HeadParams p;
  r.OptionalVec3("head_size", &p.head_size);
  r.OptionalVec3("skin_color", &p.skin_color);
  r.OptionalVec3("hair_color", &p.hair_color);
  r.OptionalVec3("eye_color", &p.eye_color);
  r.OptionalVec3("lip_color", &p.lip_color);
  r.Optional("eye_spacing", &p.eye_spacing).Optional("eye_height", &p.eye_height).Optional("eye_radius", &p.eye_radius);
  r.Optional("nose_height", &p.nose_height).Optional("nose_length", &p.nose_length);
  r.Optional("nose_width", &p.nose_width).Optional("nose_droop", &p.nose_droop);
  r.Optional("mouth_height", &p.mouth_height).Optional("mouth_width", &p.mouth_width).Optional("ear_size", &p.ear_size);
  r.Optional("hair_back", &p.hair_back).Optional("hair_up", &p.hair_up).Optional("hair_scale", &p.hair_scale);
  r.Optional("neck_radius", &p.neck_radius);
  r.Finish();
  p.Check();
  return p;
}

void HeadParams::Check() const {
  const std::string c = "head parameters: ";
  CheckRange(head_size[0], 0.3, 0.5, c + "head_size.x");
  CheckRange(head_size[1], 0.35, 0.55, c + "head_size.y");
  CheckRange(head_size[2], 0.45, 0.65, c + "head_size.z");
  CheckUnitColor(skin_color, c + "skin_color");
  CheckUnitColor(hair_color, c + "hair_color");
  CheckUnitColor(eye_color, c + "eye_color");
  CheckUnitColor(lip_color, c + "lip_color");
  CheckRange(eye_spacing, 0.25, 0.55, c + "eye_spacing");
  CheckRange(eye_height, -0.1, 0.3, c + "eye_height");
  CheckRange(eye_radius, 0.03, 0.09, c + "eye_radius");
  CheckRange(nose_height, -0.3, 0.05, c + "nose_height");
  CheckRange(nose_length, 0.05, 0.22, c + "nose_length");
  CheckRange(nose_width, 0.03, 0.1, c + "nose_width");
  CheckRange(nose_droop, 0, 0.8, c + "nose_droop");
  CheckRange(mouth_height, -0.65, -0.3, c + "mouth_height");
  CheckRange(mouth_width, 0.06, 0.2, c + "mouth_width");
  CheckRange(ear_size, 0.06, 0.18, c + "ear_size");
  CheckRange(hair_scale, 1.0, 1.1, c + "hair_scale");
  CheckRange(hair_up, 0, 0.2, c + "hair_up");
  // The cap's front (at its widest) must stay behind the face, or the hair would cover the eyes.
  CheckRange(hair_back, hair_scale - 0.94, 0.3, c + "hair_back (at least hair_scale - 0.94)");
  CheckRange(neck_radius, 0.1, 0.26, c + "neck_radius");
}

nlohmann::json ChairParams::ToJson() const {
  return {{"seat_width", ShortFloat(seat_width)}, {"seat_depth", ShortFloat(seat_depth)},
          {"seat_thickness", ShortFloat(seat_thickness)}, {"leg_length", ShortFloat(leg_length)},
          {"leg_thickness", ShortFloat(leg_thickness)}, {"round_legs", round_legs},
          {"back_height", ShortFloat(back_height)}, {"back_thickness", ShortFloat(back_thickness)},
          {"back_width", ShortFloat(back_width)}, {"back_tilt", ShortFloat(back_tilt)}, {"armrests", armrests},
          {"arm_height", ShortFloat(arm_height)}, {"seat_color", Vec3Json(seat_color)},
          {"leg_color", Vec3Json(leg_color)}, {"back_color", Vec3Json(back_color)}, {"arm_color", Vec3Json(arm_color)}};
}

ChairParams ChairParams::FromJson(const nlohmann::json& json) {
  const std::string c = "chair parameters";
  JsonReader r(json, c);
  ChairParams p;
  r.Optional("seat_width", &p.seat_width).Optional("seat_depth", &p.seat_depth);
  r.Optional("seat_thickness", &p.seat_thickness).Optional("leg_length", &p.leg_length);
  r.Optional("leg_thickness", &p.leg_thickness).Optional("round_legs", &p.round_legs);
  r.Optional("back_height", &p.back_height).Optional("back_thickness", &p.back_thickness);
  r.Optional("back_width", &p.back_width).Optional("back_tilt", &p.back_tilt);
  r.Optional("armrests", &p.armrests).Optional("arm_height", &p.arm_height);
  r.OptionalVec3("seat_color", &p.seat_color);
  r.OptionalVec3("leg_color", &p.leg_color);
  r.OptionalVec3("back_color", &p.back_color);
  r.OptionalVec3("arm_color", &p.arm_color);
  r.Finish();
  p.Check();
  return p;
}

void ChairParams::Check() const {
  const std::string c = "chair parameters: ";
  CheckRange(seat_width, 0.5, 1.2, c + "seat_width");
  CheckRange(seat_depth, 0.5, 1.1, c + "seat_depth");
  CheckRange(seat_thickness, 0.03, 0.15, c + "seat_thickness");
  CheckRange(leg_length, 0.4, 0.9, c + "leg_length");
  CheckRange(leg_thickness, 0.03, 0.12, c + "leg_thickness");
  CheckRange(back_height, 0.3, 1.0, c + "back_height");
  CheckRange(back_thickness, 0.03, 0.12, c + "back_thickness");
  CheckRange(back_width, 0.4, seat_width, c + "back_width (at most seat_width)");
  CheckRange(back_tilt, 0, 0.4, c + "back_tilt");
  CheckRange(arm_height, 0.1, 0.4, c + "arm_height");
  CheckUnitColor(seat_color, c + "seat_color");
  CheckUnitColor(leg_color, c + "leg_color");
  CheckUnitColor(back_color, c + "back_color");
  CheckUnitColor(arm_color, c + "arm_color");
}

nlohmann::json BackdropParams::ToJson() const {
  return {{"pattern", pattern},        {"color_a", Vec3Json(color_a)},      {"color_b", Vec3Json(color_b)},
          {"color_c", Vec3Json(color_c)},    {"frequency", ShortFloat(frequency)}, {"angle", ShortFloat(angle)},
          {"phase", ShortFloat(phase)}};
}

BackdropParams BackdropParams::FromJson(const nlohmann::json& json) {
  const std::string c = "backdrop";
  JsonReader r(json, c);
  BackdropParams p;
  r.Optional("pattern", &p.pattern);
  r.OptionalVec3("color_a", &p.color_a);
  r.OptionalVec3("color_b", &p.color_b);
  r.OptionalVec3("color_c", &p.color_c);
  r.Optional("frequency", &p.frequency).Optional("angle", &p.angle).Optional("phase", &p.phase);
  r.Finish();
  p.Check();
  return p;
}

void BackdropParams::Check() const {
  NE_CHECK(pattern == "gradient" || pattern == "stripes" || pattern == "checker" || pattern == "noise",
           "backdrop: pattern must be gradient, stripes, checker or noise, got \"", pattern, "\"");
  CheckUnitColor(color_a, "backdrop: color_a");
  CheckUnitColor(color_b, "backdrop: color_b");
  CheckUnitColor(color_c, "backdrop: color_c");
  CheckRange(frequency, 0.1, 200, "backdrop: frequency");
  NE_CHECK(std::isfinite(angle) && std::isfinite(phase), "backdrop: angle and phase must be finite, got ", angle, ", ",
           phase);
}

at::Tensor RenderBackdrop(const BackdropParams& b, const Camera& camera) {
  b.Check();
  const int64_t h = camera.height, w = camera.width;
  const at::Tensor pose = camera.world_from_cam.to(at::kDouble).contiguous();
  const double* m = pose.data_ptr<double>();
  at::Tensor out = at::empty({h, w, 3}, at::kFloat);
  float* o = out.data_ptr<float>();
  const int pattern = b.pattern == "gradient" ? 0 : b.pattern == "stripes" ? 1 : b.pattern == "checker" ? 2 : 3;
  const double f = b.frequency, ca = std::cos(b.angle), sa = std::sin(b.angle);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const double cx = (x + 0.5 - camera.cx) / camera.fx, cy = -(y + 0.5 - camera.cy) / camera.fy;
      double d[3] = {m[0] * cx + m[1] * cy - m[2], m[4] * cx + m[5] * cy - m[6], m[8] * cx + m[9] * cy - m[10]};
      const double n = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      for (double& v : d) v /= n;
      // Azimuth about z (0 looking along -y, behind a head facing +y) and elevation.
      const double u = std::atan2(d[0], -d[1]), v = std::asin(std::max(-1.0, std::min(1.0, d[2])));
      Rgb c;
      if (pattern == 0) {
        const double t = 0.5 + 0.5 * std::sin(0.25 * f * (ca * v + 0.3 * sa * u) + b.phase);
        c = Lerp(b.color_a, b.color_b, static_cast<float>(t));
      } else if (pattern == 1) {
        const double s = std::sin(f * (ca * u + sa * v) + b.phase);
        c = Lerp(b.color_a, b.color_b, static_cast<float>(0.5 + 0.5 * std::tanh(4 * s)));
        c = Lerp(c, b.color_c, static_cast<float>(0.3 * (0.5 - 0.5 * v)));
      } else if (pattern == 2) {
        const int64_t cell = static_cast<int64_t>(std::floor(f * u / kPi + b.phase)) +
                             static_cast<int64_t>(std::floor(f * v / kPi));
        c = (cell % 2 == 0) ? b.color_a : b.color_b;
        c = Lerp(c, b.color_c, static_cast<float>(0.35 * (0.5 + 0.5 * std::sin(v * 2 + b.angle))));
      } else {
        const double s = std::sin(f * u + b.phase) * std::sin(1.3 * f * v + 2 * b.phase) +
                         0.5 * std::sin(2.1 * f * (ca * u + sa * v) + 3 * b.phase);
        const double t = std::min(1.0, std::max(0.0, 0.5 + 0.35 * s));
        c = t < 0.5 ? Lerp(b.color_a, b.color_b, static_cast<float>(2 * t))
                    : Lerp(b.color_b, b.color_c, static_cast<float>(2 * t - 1));
      }
      float* px = o + (y * w + x) * 3;
      for (int k = 0; k < 3; ++k) px[k] = c[k];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Families

const std::vector<std::string>& LandmarkNames(const std::string& kind) {
  static const std::vector<std::string> heads = {"left_eye", "right_eye", "nose_tip", "left_mouth_corner",
                                                 "right_mouth_corner"};
  static const std::vector<std::string> chairs = {"seat_front_left", "seat_front_right", "seat_back_left",
                                                  "seat_back_right", "back_top"};
  NE_CHECK(kind == "heads" || kind == "chairs", "unknown category kind \"", kind, "\" (expected heads or chairs)");
  return kind == "heads" ? heads : chairs;
}

CategoryRig RigFor(const std::string& kind) {
  LandmarkNames(kind);  // checks the kind
  CategoryRig rig;
  if (kind == "heads") {
    rig.target = {0, 0.05f, -0.12f};
    rig.radius = 3.0;
    rig.fov_x_degrees = 32;
    rig.aabb_min = {-0.62f, -0.78f, -1.1f};
    rig.aabb_max = {0.62f, 0.84f, 0.86f};
  } else {
    rig.target = {0, -0.1f, 0.85f};
    rig.radius = 4.0;
    rig.fov_x_degrees = 38;
    rig.aabb_min = {-0.66f, -1.0f, 0.0f};
    rig.aabb_max = {0.66f, 0.6f, 2.1f};
  }
  return rig;
}

CategoryInstance MakeHead(const HeadParams& p) {
  p.Check();
  const float hw = p.head_size[0], hd = p.head_size[1], hh = p.head_size[2];
  // Depth (y) of the head ellipsoid's front surface at (x, z).
  auto face_y = [&](float x, float z) {
    return hd * std::sqrt(std::max(0.f, 1 - (x / hw) * (x / hw) - (z / hh) * (z / hh)));
  };
  CategoryInstance inst;
  inst.kind = "heads";
  inst.params = p.ToJson();
  ProceduralScene s = EmptyScene("heads");
  s.light_direction = {0.35f, 0.8f, 0.55f};
  s.ambient = 0.38f;
  s.shininess = 30;
  const Rgb white{0.94f, 0.94f, 0.92f};
  const float neck_top = -0.5f * hh, neck_bottom = -1.05f;
  s.objects.push_back(Part("head", "sphere", p.skin_color, {0, 0, 0}, p.head_size, 0.12f));
  s.objects.push_back(Part("hair", "sphere", p.hair_color, {0, -p.hair_back * hd, p.hair_up * hh},
                           {1.02f * hw, p.hair_scale * hd, p.hair_scale * hh}, 0.06f));
  s.objects.push_back(Part("neck", "cylinder", Scale(p.skin_color, 0.93f),
                           {0, -0.12f * hd, 0.5f * (neck_top + neck_bottom)},
                           {p.neck_radius, 0.95f * p.neck_radius, 0.5f * (neck_top - neck_bottom)}, 0.08f));
  const float ear_z = (p.eye_height - 0.15f) * hh;
  for (int side : {-1, 1}) {
    s.objects.push_back(Part(side < 0 ? "left_ear" : "right_ear", "sphere", Scale(p.skin_color, 0.95f),
                             {side * (hw + 0.005f), -0.08f * hd, ear_z}, {0.04f, 0.07f, p.ear_size}, 0.1f));
  }
  const float ex = p.eye_spacing * hw, ez = p.eye_height * hh, re = p.eye_radius;
  std::vector<std::array<float, 3>> landmarks;
  for (int side : {-1, 1}) {
    const std::array<float, 3> sclera = {side * ex, face_y(ex, ez) - 0.45f * re, ez};
    const std::array<float, 3> iris = {sclera[0], sclera[1] + 0.62f * re, ez};
    s.objects.push_back(Part(side < 0 ? "left_eye" : "right_eye", "sphere", white, sclera, {re, re, re}, 0.4f));
    s.objects.push_back(
        Part(side < 0 ? "left_iris" : "right_iris", "sphere", p.eye_color, iris, {0.5f * re, 0.5f * re, 0.5f * re}, 0.6f));
    landmarks.push_back({iris[0], iris[1] + 0.5f * re, ez});  // the front of the iris
  }
  // Nose: a cone whose base sits inside the face, pointing forward and nose_droop below horizontal. Rx(theta) takes
  // the cone's local z to (0, -sin theta, cos theta) = (0, cos droop, -sin droop) for theta = -(pi/2 + droop).
  const float nz = p.nose_height * hh, inset = 0.03f, length = p.nose_length + inset;
  const std::array<float, 3> dir = {0, std::cos(p.nose_droop), -std::sin(p.nose_droop)};
  const std::array<float, 3> base = {0, face_y(0, nz) - inset, nz};
  s.objects.push_back(Part("nose", "cone", Scale(p.skin_color, 0.97f),
                           {0, base[1] + 0.5f * length * dir[1], base[2] + 0.5f * length * dir[2]},
                           {p.nose_width, 1.1f * p.nose_width, 0.5f * length}, 0.15f,
                           static_cast<float>(-(kPi / 2 + p.nose_droop))));
  landmarks.push_back({0, base[1] + length * dir[1], base[2] + length * dir[2]});
  const float mz = p.mouth_height * hh, mw = p.mouth_width;
  const float mouth_y = face_y(0, mz) - 0.012f;
  s.objects.push_back(Part("mouth", "sphere", p.lip_color, {0, mouth_y, mz}, {mw, 0.03f, 0.024f}, 0.3f));
  for (int side : {-1, 1}) {
    const float x = side * 0.92f * mw;
    const float lip_front = mouth_y + 0.03f * std::sqrt(1 - 0.92f * 0.92f);
    landmarks.push_back({x, std::max(face_y(x, mz), lip_front), mz});
  }
  s.Check();
  inst.scene = std::move(s);
  inst.landmarks = Points(landmarks);
  return inst;
}

CategoryInstance MakeChair(const ChairParams& p) {
  p.Check();
  CategoryInstance inst;
  inst.kind = "chairs";
  inst.params = p.ToJson();
  ProceduralScene s = EmptyScene("chairs");
  s.ambient = 0.35f;
  const float sw = p.seat_width, sd = p.seat_depth, st = p.seat_thickness, top = p.leg_length + st;
  s.objects.push_back(Part("seat", "box", p.seat_color, {0, 0, p.leg_length + 0.5f * st},
                           {0.5f * sw, 0.5f * sd, 0.5f * st}, 0.2f));
  const float lt = p.leg_thickness, lx = 0.5f * sw - 0.5f * lt - 0.01f, ly = 0.5f * sd - 0.5f * lt - 0.01f;
  const char* leg_names[4] = {"leg_front_left", "leg_front_right", "leg_back_left", "leg_back_right"};
  for (int k = 0; k < 4; ++k) {
    const float x = (k % 2 == 0 ? -1 : 1) * lx, y = (k < 2 ? 1 : -1) * ly;
    s.objects.push_back(Part(leg_names[k], p.round_legs ? "cylinder" : "box", p.leg_color, {x, y, 0.5f * p.leg_length},
                             {0.5f * lt, 0.5f * lt, 0.5f * p.leg_length}, 0.3f));
  }
  // The back rises from the middle of the seat's thickness at its rear edge, leaning back by back_tilt: Rx(tilt)
  // takes local z to (0, -sin tilt, cos tilt).
  const float back_len = p.back_height + 0.5f * st;
  const std::array<float, 3> up = {0, -std::sin(p.back_tilt), std::cos(p.back_tilt)};
  const std::array<float, 3> foot = {0, -0.5f * sd + 0.5f * p.back_thickness, p.leg_length + 0.5f * st};
  s.objects.push_back(Part("back", "box", p.back_color,
                           {0, foot[1] + 0.5f * back_len * up[1], foot[2] + 0.5f * back_len * up[2]},
                           {0.5f * p.back_width, 0.5f * p.back_thickness, 0.5f * back_len}, 0.2f, p.back_tilt));
  if (p.armrests) {
    const float ax = 0.5f * sw - 0.035f;
    for (int side : {-1, 1}) {
      s.objects.push_back(Part(side < 0 ? "left_armrest" : "right_armrest", "box", p.arm_color,
                               {side * ax, -0.05f * sd, top + p.arm_height}, {0.035f, 0.42f * sd, 0.025f}, 0.2f));
    }
    for (int side : {-1, 1}) {
      s.objects.push_back(Part(side < 0 ? "left_arm_support" : "right_arm_support", "box", p.arm_color,
                               {side * ax, 0.3f * sd, top + 0.5f * p.arm_height}, {0.025f, 0.025f, 0.5f * p.arm_height},
                               0.2f));
    }
  }
  s.Check();
  inst.scene = std::move(s);
  inst.landmarks = Points({{-0.5f * sw, 0.5f * sd, top},
                           {0.5f * sw, 0.5f * sd, top},
                           {-0.5f * sw, -0.5f * sd, top},
                           {0.5f * sw, -0.5f * sd, top},
                           {0, foot[1] + back_len * up[1], foot[2] + back_len * up[2]}});
  return inst;
}

HeadParams RandomHeadParams(uint64_t seed) {
  Rng rng(seed);
  HeadParams p;
  p.head_size = {rng.U(0.36, 0.46), rng.U(0.42, 0.52), rng.U(0.50, 0.62)};
  // Skin tones along a light - mid - dark ramp.
  const Rgb light{0.96f, 0.80f, 0.69f}, mid{0.80f, 0.60f, 0.45f}, dark{0.42f, 0.28f, 0.20f};
  const float t = rng.U(0, 1);
  p.skin_color = Jittered(t < 0.5f ? Lerp(light, mid, 2 * t) : Lerp(mid, dark, 2 * t - 1), rng, 0.03f);
  const Rgb hair[6] = {{0.07f, 0.06f, 0.05f}, {0.30f, 0.18f, 0.09f}, {0.55f, 0.38f, 0.20f},
                       {0.86f, 0.72f, 0.42f}, {0.62f, 0.24f, 0.10f}, {0.62f, 0.62f, 0.62f}};
  p.hair_color = Jittered(hair[rng.Int(6)], rng, 0.04f);
  const Rgb eyes[4] = {{0.35f, 0.22f, 0.12f}, {0.25f, 0.45f, 0.75f}, {0.30f, 0.55f, 0.30f}, {0.45f, 0.48f, 0.50f}};
  p.eye_color = Jittered(eyes[rng.Int(4)], rng, 0.04f);
  p.lip_color = Lerp(p.skin_color, {0.75f, 0.22f, 0.22f}, rng.U(0.3, 0.6));
  p.eye_spacing = rng.U(0.34, 0.46);
  p.eye_height = rng.U(0.02, 0.2);
  p.eye_radius = rng.U(0.05, 0.07);
  p.nose_height = rng.U(-0.2, -0.06);
  p.nose_length = rng.U(0.10, 0.19);
  p.nose_width = rng.U(0.05, 0.08);
  p.nose_droop = rng.U(0.2, 0.5);
  p.mouth_height = rng.U(-0.55, -0.42);
  p.mouth_width = rng.U(0.10, 0.16);
  p.ear_size = rng.U(0.10, 0.15);
  p.hair_scale = rng.U(1.03, 1.08);
  p.hair_back = p.hair_scale - 0.93f + rng.U(0, 0.08);
  p.hair_up = rng.U(0.05, 0.16);
  p.neck_radius = rng.U(0.16, 0.23);
  p.Check();
  return p;
}

ChairParams RandomChairParams(uint64_t seed) {
  Rng rng(seed);
  ChairParams p;
  p.seat_width = rng.U(0.7, 1.1);
  p.seat_depth = rng.U(0.6, 1.0);
  p.seat_thickness = rng.U(0.05, 0.12);
  p.leg_length = rng.U(0.55, 0.85);
  p.leg_thickness = rng.U(0.05, 0.10);
  p.round_legs = rng.Uniform() < 0.5;
  p.back_height = rng.U(0.45, 0.95);
  p.back_thickness = rng.U(0.05, 0.10);
  p.back_width = p.seat_width * rng.U(0.8, 1.0);
  p.back_tilt = rng.U(0, 0.35);
  p.armrests = rng.Uniform() < 0.4;
  p.arm_height = rng.U(0.18, 0.3);
  const Rgb palette[6] = {{0.55f, 0.36f, 0.18f}, {0.80f, 0.65f, 0.45f}, {0.85f, 0.15f, 0.12f},
                          {0.15f, 0.30f, 0.75f}, {0.90f, 0.90f, 0.88f}, {0.20f, 0.55f, 0.30f}};
  p.seat_color = Jittered(palette[rng.Int(6)], rng, 0.05f);
  p.back_color = rng.Uniform() < 0.7 ? p.seat_color : Jittered(palette[rng.Int(6)], rng, 0.05f);
  const Rgb legs[3] = {{0.25f, 0.16f, 0.08f}, {0.55f, 0.56f, 0.60f}, {0.08f, 0.08f, 0.08f}};
  p.leg_color = rng.Uniform() < 0.4 ? p.seat_color : Jittered(legs[rng.Int(3)], rng, 0.04f);
  p.arm_color = p.back_color;
  p.Check();
  return p;
}

BackdropParams RandomBackdrop(uint64_t seed) {
  Rng rng(seed);
  BackdropParams b;
  const char* patterns[4] = {"gradient", "stripes", "checker", "noise"};
  b.pattern = patterns[rng.Int(4)];
  b.color_a = RandomColor(rng);
  b.color_b = RandomColor(rng);
  b.color_c = RandomColor(rng);
  b.frequency = rng.U(8, 24);
  b.angle = rng.U(0, kPi);
  b.phase = rng.U(0, 2 * kPi);
  return b;
}

CategoryInstance MeanInstance(const std::string& kind) {
  LandmarkNames(kind);
  return kind == "heads" ? MakeHead(HeadParams()) : MakeChair(ChairParams());
}

// ---------------------------------------------------------------------------------------------------------------
// Datasets

void CategoryDatasetOptions::Check() const {
  LandmarkNames(kind());
  NE_CHECK(instances() >= 1, "category dataset: instances must be >= 1, got ", instances());
  NE_CHECK(size() >= 8 && size() <= 4096, "category dataset: size must be in [8,4096], got ", size());
  NE_CHECK(std::isfinite(landmark_noise_px()) && landmark_noise_px() >= 0,
           "category dataset: landmark_noise_px must be >= 0, got ", landmark_noise_px());
  NE_CHECK(eval_views() >= 0 && eval_views() <= 64, "category dataset: eval_views must be in [0,64], got ",
           eval_views());
  NE_CHECK(supersample() >= 1 && supersample() <= 8, "category dataset: supersample must be in [1,8], got ",
           supersample());
  NE_CHECK(background() == "auto" || background() == "textured" || background() == "white",
           "category dataset: background must be auto, textured or white, got \"", background(), "\"");
}

nlohmann::json CategoryDatasetOptions::ToJson() const {
  return {{"kind", kind()},
          {"instances", instances()},
          {"size", size()},
          {"seed", seed()},
          {"landmark_noise_px", landmark_noise_px()},
          {"eval_views", eval_views()},
          {"supersample", supersample()},
          {"background", background()}};
}

CategoryDatasetOptions CategoryDatasetOptions::FromJson(const nlohmann::json& json) {
  JsonReader r(json, "category dataset options");
  CategoryDatasetOptions o;
  std::string kind = o.kind(), background = o.background();
  int instances = o.instances(), size = o.size(), seed = o.seed(), eval_views = o.eval_views(),
      supersample = o.supersample();
  double noise = o.landmark_noise_px();
  r.Optional("kind", &kind).Optional("instances", &instances).Optional("size", &size).Optional("seed", &seed);
  r.Optional("landmark_noise_px", &noise).Optional("eval_views", &eval_views).Optional("supersample", &supersample);
  r.Optional("background", &background);
  r.Finish();
  o.kind(kind).instances(instances).size(size).seed(seed).landmark_noise_px(noise).eval_views(eval_views);
  o.supersample(supersample).background(background);
  o.Check();
  return o;
}

bool CategoryDatasetOptions::Textured() const {
  return background() == "textured" || (background() == "auto" && kind() == "heads");
}

namespace {

Camera OrbitCamera(const CategoryRig& rig, double azimuth, double elevation, int size) {
  // Azimuth 0 looks at the object's front (camera on +y); positive azimuth moves the camera towards +x.
  const double r = rig.radius;
  const std::array<float, 3> eye = {static_cast<float>(rig.target[0] + r * std::cos(elevation) * std::sin(azimuth)),
                                    static_cast<float>(rig.target[1] + r * std::cos(elevation) * std::cos(azimuth)),
                                    static_cast<float>(rig.target[2] + r * std::sin(elevation))};
  return Camera::LookAt(eye, rig.target, {0, 0, 1}, size, size, rig.fov_x_degrees * kDeg);
}

}  // namespace

CategorySample MakeCategorySample(const CategoryDatasetOptions& options, int64_t index) {
  options.Check();
  NE_CHECK(index >= 0 && index < options.instances(), "category instance ", index, " out of range [0,",
           options.instances(), ")");
  const uint64_t seed = static_cast<uint64_t>(static_cast<uint32_t>(options.seed()));
  const bool heads = options.kind() == "heads";
  CategorySample out;
  out.instance = heads ? MakeHead(RandomHeadParams(StreamSeed(seed, index, 1)))
                       : MakeChair(RandomChairParams(StreamSeed(seed, index, 1)));
  out.textured = options.Textured();
  out.backdrop = RandomBackdrop(StreamSeed(seed, index, 2));
  const CategoryRig rig = RigFor(options.kind());
  Rng rng(StreamSeed(seed, index, 3));
  const int n = options.eval_views();
  if (heads) {
    out.train_camera = OrbitCamera(rig, rng.U(-50, 50) * kDeg, rng.U(-25, 25) * kDeg, options.size());
    for (int k = 0; k < n; ++k) {
      const double yaw = n == 1 ? 0 : -40 + 80.0 * k / (n - 1);
      out.eval_cameras.push_back(OrbitCamera(rig, yaw * kDeg, rng.U(-15, 15) * kDeg, options.size()));
    }
  } else {
    // Area-uniform over the band of elevations 10-60 degrees.
    auto elevation = [&]() { return std::asin(rng.U(std::sin(10 * kDeg), std::sin(60 * kDeg))); };
    const double azimuth = rng.U(0, 2 * kPi);
    out.train_camera = OrbitCamera(rig, azimuth, elevation(), options.size());
    for (int k = 0; k < n; ++k) {
      out.eval_cameras.push_back(OrbitCamera(rig, azimuth + 2 * kPi * (k + 1) / (n + 1), elevation(), options.size()));
    }
  }
  return out;
}

at::Tensor ProjectPoints(const Camera& camera, const at::Tensor& points) {
  NE_CHECK(points.size(-1) == 3, "ProjectPoints: points must be [...,3], got ", points.sizes());
  const at::Tensor pose = camera.world_from_cam.to(at::kFloat);
  const at::Tensor rotation = pose.slice(0, 0, 3).slice(1, 0, 3), centre = pose.slice(0, 0, 3).select(1, 3);
  const at::Tensor cam = at::matmul(points.to(at::kFloat) - centre, rotation);  // R^T (x - t), row vectors
  const at::Tensor depth = -cam.select(-1, 2);
  const at::Tensor u = camera.cx + camera.fx * cam.select(-1, 0) / depth;
  const at::Tensor v = camera.cy - camera.fy * cam.select(-1, 1) / depth;
  return at::stack({u, v}, -1);
}

namespace {

Json LandmarksJson(const at::Tensor& xy) {
  Json out = Json::array();
  const at::Tensor c = xy.contiguous();
  for (int64_t k = 0; k < c.size(0); ++k) out.push_back({ShortFloat(c[k][0].item<float>()), ShortFloat(c[k][1].item<float>())});
  return out;
}

// Renders one view of a sample and writes image, mask, depth and labels under `root`; returns its frame entry.
Json WriteView(const CategorySample& sample, const Camera& camera, const CategoryDatasetOptions& options,
               int64_t index, Rng& noise_rng, const fs::path& root, const std::string& prefix,
               const std::string& stem) {
  const ProceduralRender r = RenderProcedural(sample.instance.scene, camera, options.supersample());
  const at::Tensor alpha = r.alpha.unsqueeze(-1);
  const at::Tensor background = sample.textured ? RenderBackdrop(sample.backdrop, camera)
                                                : at::ones({camera.height, camera.width, 3}, at::kFloat);
  const at::Tensor rgb = (r.rgb + (1 - alpha) * background).clamp(0, 1);
  const std::string image = prefix + "images/" + stem + ".png", mask = prefix + "masks/" + stem + ".png";
  const std::string depth = prefix + "depth/" + stem + ".npy", labels = prefix + "labels/" + stem + ".png";
  SaveImage((root / image).string(), rgb);
  SaveImage((root / mask).string(), r.alpha);
  WriteNpy((root / depth).string(), r.depth);
  SaveImage((root / labels).string(), r.labels.clamp(0, 255).to(at::kByte).unsqueeze(-1));
  at::Tensor landmarks = ProjectPoints(camera, sample.instance.landmarks);
  if (options.landmark_noise_px() > 0) {
    at::Tensor noise = at::empty_like(landmarks);
    float* p = noise.data_ptr<float>();
    for (int64_t k = 0; k < noise.numel(); ++k) p[k] = static_cast<float>(options.landmark_noise_px() * noise_rng.Normal());
    landmarks = landmarks + noise;
  }
  return {{"file_path", image},
          {"mask_file_path", mask},
          {"depth_file_path", depth},
          {"label_file_path", labels},
          {"latent_index", index},
          {"landmarks", LandmarksJson(landmarks)},
          {"transform_matrix", camera.ToJson().at("transform_matrix")}};
}

Json TransformsJson(const CategoryDatasetOptions& options, const Camera& c0, Json frames) {
  const CategoryRig rig = RigFor(options.kind());
  return {{"fl_x", c0.fx},
          {"fl_y", c0.fy},
          {"cx", c0.cx},
          {"cy", c0.cy},
          {"w", c0.width},
          {"h", c0.height},
          {"aabb", {Vec3Json(rig.aabb_min), Vec3Json(rig.aabb_max)}},
          {"category", options.kind()},
          {"landmark_names", LandmarkNames(options.kind())},
          {"frames", std::move(frames)}};
}

}  // namespace

void WriteCategoryDataset(const CategoryDatasetOptions& options, const std::string& out_dir) {
  options.Check();
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    NE_CHECK(fs::is_directory(out_dir, ec), "cannot write the category dataset to ", out_dir,
             ": it exists and is not a directory");
    NE_CHECK(fs::is_empty(out_dir, ec), "refusing to overwrite ", out_dir,
             ": the directory is not empty (remove it or choose another output directory)");
  }
  fs::path final_dir = fs::path(out_dir).lexically_normal();
  if (final_dir.filename().empty()) final_dir = final_dir.parent_path();
  const fs::path tmp = final_dir.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  const int64_t n = options.instances();
  const int views = options.eval_views();
  const char letter = options.kind() == "heads" ? 'h' : 'c';
  try {
    for (const char* sub : {"images", "masks", "depth", "labels"}) {
      fs::create_directories(tmp / sub);
      if (views > 0) fs::create_directories(tmp / "eval" / sub);
    }
    std::vector<Json> train_frames(n), eval_frames(n * views), instances(n);
    std::vector<std::string> errors(n);
    Camera first_camera;
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        try {
          const CategorySample sample = MakeCategorySample(options, i);
          Rng noise_rng(StreamSeed(static_cast<uint32_t>(options.seed()), i, 4));
          char stem[32];
          std::snprintf(stem, sizeof(stem), "%c_%05lld", letter, static_cast<long long>(i));
          train_frames[i] = WriteView(sample, sample.train_camera, options, i, noise_rng, tmp, "", stem);
          for (int k = 0; k < views; ++k) {
            eval_frames[i * views + k] = WriteView(sample, sample.eval_cameras[k], options, i, noise_rng, tmp,
                                                   "eval/", std::string(stem) + "_" + std::to_string(k));
          }
          Json landmarks = Json::array();
          const at::Tensor l = sample.instance.landmarks;
          for (int64_t k = 0; k < l.size(0); ++k) {
            landmarks.push_back({ShortFloat(l[k][0].item<float>()), ShortFloat(l[k][1].item<float>()), ShortFloat(l[k][2].item<float>())});
          }
          instances[i] = {{"index", i},
                          {"params", sample.instance.params},
                          {"background", sample.textured ? sample.backdrop.ToJson() : Json("white")},
                          {"landmarks_3d", landmarks}};
          if (i == 0) first_camera = sample.train_camera;
        } catch (const std::exception& e) {
          errors[i] = std::string("category instance ") + std::to_string(i) + ": " + e.what();
        }
      }
    });
    for (const auto& e : errors) NE_CHECK(e.empty(), e);
    WriteTextAtomically((tmp / "transforms.json").string(),
                        TransformsJson(options, first_camera, Json(train_frames)).dump(1));
    if (views > 0) {
      WriteTextAtomically((tmp / "transforms_eval.json").string(),
                          TransformsJson(options, first_camera, Json(eval_frames)).dump(1));
    }
    // Part ids (label values 2+k) from a full instance (chairs without armrests lack only the last parts).
    CategoryInstance full = MeanInstance(options.kind());
    if (options.kind() == "chairs") {
      ChairParams p;
      p.armrests = true;
      full = MakeChair(p);
    }
    Json parts = Json::array();
    for (size_t k = 0; k < full.scene.objects.size(); ++k) {
      parts.push_back({{"id", 2 + k}, {"name", full.scene.objects[k].name}});
    }
    const Json category = {{"kind", options.kind()},
                           {"options", options.ToJson()},
                           {"landmark_names", LandmarkNames(options.kind())},
                           {"parts", parts},
                           {"instances", Json(instances)}};
    WriteTextAtomically((tmp / "category.json").string(), category.dump(1));
    if (fs::exists(final_dir, ec)) fs::remove(final_dir);  // empty, checked above
    if (final_dir.has_parent_path()) fs::create_directories(final_dir.parent_path());
    fs::rename(tmp, final_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

CategoryDataset LoadCategoryDataset(const std::string& path, const DatasetOptions& options) {
  CategoryDataset out;
  out.data = LoadTransformsDataset(path, options);
  const std::string& source = out.data.source;
  const Json root = ReadJsonFile(source);
  if (root.contains("category")) {
    NE_CHECK(root.at("category").is_string(), source, ": \"category\" must be a string, got ", root.at("category").dump());
    out.kind = root.at("category").get<std::string>();
  }
  if (root.contains("landmark_names")) {
    const Json& names = root.at("landmark_names");
    bool ok = names.is_array() && names.size() == kNumLandmarks;
    for (size_t k = 0; ok && k < names.size(); ++k) ok = names[k].is_string();
    NE_CHECK(ok, source, ": \"landmark_names\" must be ", kNumLandmarks, " strings, got ", names.dump());
    for (const auto& name : names) out.landmark_names.push_back(name.get<std::string>());
  }
  const Json& frames = root.at("frames");
  const fs::path base = fs::path(source).parent_path();
  const int factor = options.downscale();
  const int64_t n = out.data.size(), h = out.data.height(), w = out.data.width();
  const bool has_landmarks = frames[0].contains("landmarks"), has_masks = frames[0].contains("mask_file_path");
  out.latent_index = at::empty({n}, at::kLong);
  if (has_landmarks) out.landmarks = at::empty({n, kNumLandmarks, 2}, at::kFloat);
  if (has_masks) out.masks = at::empty({n, h, w}, at::kFloat);
  std::vector<std::string> mask_paths(n);
  for (int64_t i = 0; i < n; ++i) {
    const Json& f = frames[out.data.frame_indices[i]];
    const std::string context = source + ": frame " + std::to_string(out.data.frame_indices[i]);
    NE_CHECK(f.contains("latent_index"), context, ": missing \"latent_index\" (the instance the frame shows)");
    const Json& li = f.at("latent_index");
    NE_CHECK(li.is_number_integer() && li.get<int64_t>() >= 0, context,
             ": \"latent_index\" must be an integer >= 0, got ", li.dump());
    out.latent_index[i] = li.get<int64_t>();
    out.num_latents = std::max(out.num_latents, li.get<int64_t>() + 1);
    NE_CHECK(f.contains("landmarks") == has_landmarks, context, ": ", has_landmarks ? "lacks" : "has",
             " \"landmarks\" while frame 0 ", has_landmarks ? "has" : "lacks", " them");
    NE_CHECK(f.contains("mask_file_path") == has_masks, context, ": ", has_masks ? "lacks" : "has",
             " \"mask_file_path\" while frame 0 ", has_masks ? "has" : "lacks", " one");
    if (has_landmarks) {
      const Json& l = f.at("landmarks");
      std::string shown = l.dump();
      if (shown.size() > 160) shown = shown.substr(0, 157) + "...";
      NE_CHECK(l.is_array() && l.size() == kNumLandmarks, context, ": \"landmarks\" must be ", kNumLandmarks,
               " [x,y] pairs, got ", l.is_array() ? std::to_string(l.size()) + " entries: " : "", shown);
      for (int k = 0; k < kNumLandmarks; ++k) {
        const Json& p = l[k];
        const bool ok = p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number() &&
                        std::isfinite(p[0].get<double>()) && std::isfinite(p[1].get<double>());
        NE_CHECK(ok, context, ": landmark ", k, " must be a pair of finite numbers [x,y], got ", p.dump());
        out.landmarks[i][k][0] = static_cast<float>(p[0].get<double>() / factor);
        out.landmarks[i][k][1] = static_cast<float>(p[1].get<double>() / factor);
      }
    }
    if (has_masks) {
      NE_CHECK(f.at("mask_file_path").is_string(), context, ": \"mask_file_path\" must be a string, got ",
               f.at("mask_file_path").dump());
      mask_paths[i] = (base / f.at("mask_file_path").get<std::string>()).lexically_normal().string();
    }
  }
  if (has_masks) {
    std::vector<std::string> errors(n);
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const std::string context = source + ": frame " + std::to_string(out.data.frame_indices[i]);
        try {
          const ImageInfo image = ReadImageInfo(out.data.image_paths[i]);
          const at::Tensor mask = LoadImage(mask_paths[i]);
          NE_CHECK(mask.size(0) == image.height && mask.size(1) == image.width, context, ": mask ", mask_paths[i],
                   " is ", mask.size(1), "x", mask.size(0), " but the image is ", image.width, "x", image.height);
          const at::Tensor grey = mask.select(-1, 0).to(at::kFloat).div(255).unsqueeze(-1).contiguous();
          out.masks[i].copy_(DownscaleArea(grey, factor).slice(0, 0, h).slice(1, 0, w).squeeze(-1));
        } catch (const std::exception& e) {
          const std::string what = e.what();
          errors[i] = what.rfind(context, 0) == 0 ? what : context + ": " + what;
        }
      }
    });
    for (const auto& e : errors) NE_CHECK(e.empty(), e);
  }
  return out;
}

}  // namespace nerfedit
