// Exact ray tracing of ProceduralScene: analytic intersections (sphere, box, cylinder, cone, ground square), sphere
// tracing of the torus' exact SDF, Lambert + Blinn-Phong shading under one directional light with hard shadows.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "data/procedural_scene.h"
#include "util/error.h"

namespace nerfedit {

namespace {

struct Vec3 {
  double x = 0, y = 0, z = 0;
};
inline Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(Vec3 a, double s) { return {a.x * s, a.y * s, a.z * s}; }
inline Vec3 Div(Vec3 a, Vec3 b) { return {a.x / b.x, a.y / b.y, a.z / b.z}; }
inline double Dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline Vec3 Normalize(Vec3 a) { return a * (1.0 / std::sqrt(Dot(a, a))); }
inline Vec3 FromArray(const std::array<float, 3>& a) { return {a[0], a[1], a[2]}; }

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMinT = 1e-7;

enum class Shape { kSphere, kBox, kCylinder, kCone, kTorus };

struct TraceObject {
  Shape shape;
  Vec3 center, size, color;
  double specular;
  double bound_r2;   // squared radius of a sphere around the centre holding the object (cheap ray culling)
  double rot[3][3];  // world_from_local rotation Rz(rotation_z) Rx(rotation_x), row-major
  Vec3 ToLocal(Vec3 v) const {  // R^T v
    return {rot[0][0] * v.x + rot[1][0] * v.y + rot[2][0] * v.z, rot[0][1] * v.x + rot[1][1] * v.y + rot[2][1] * v.z,
            rot[0][2] * v.x + rot[1][2] * v.y + rot[2][2] * v.z};
  }
  Vec3 ToWorld(Vec3 v) const {
    return {rot[0][0] * v.x + rot[0][1] * v.y + rot[0][2] * v.z, rot[1][0] * v.x + rot[1][1] * v.y + rot[1][2] * v.z,
            rot[2][0] * v.x + rot[2][1] * v.y + rot[2][2] * v.z};
  }
};

struct Hit {
  double t = kInf;
  Vec3 normal;   // local frame until converted
  int id = 0;    // 0 none, 1 ground, 2+k object k
};

// Both roots of a t^2 + b t + c = 0 in ascending order (the cancellation-free form); false if none are real.
bool SolveQuadratic(double a, double b, double c, double* t0, double* t1) {
  if (std::abs(a) < 1e-14) {
    if (std::abs(b) < 1e-14) return false;
    *t0 = *t1 = -c / b;
    return true;
  }
  const double disc = b * b - 4 * a * c;
  if (disc < 0) return false;
  const double q = -0.5 * (b + std::copysign(std::sqrt(disc), b));
  double r0 = q / a, r1 = q != 0 ? c / q : r0;
  if (r0 > r1) std::swap(r0, r1);
  *t0 = r0;
  *t1 = r1;
  return true;
}

inline void Consider(double t, Vec3 n, double tmin, double* best_t, Vec3* best_n) {
  if (t > tmin && t < *best_t) {
    *best_t = t;
    *best_n = n;
  }
}

// Shapes in "scaled space" (local coordinates divided by size): unit sphere, unit cylinder, unit cone. The ray
// parameter t is unchanged by the scaling, and normals map back as grad/size.
double IntersectSphere(Vec3 o, Vec3 d, double tmin, Vec3* n) {
  double t0, t1;
  if (!SolveQuadratic(Dot(d, d), 2 * Dot(o, d), Dot(o, o) - 1, &t0, &t1)) return kInf;
  double best = kInf;
  Consider(t0, o + d * t0, tmin, &best, n);
  if (best == kInf) Consider(t1, o + d * t1, tmin, &best, n);
  return best;
}

double IntersectCylinder(Vec3 o, Vec3 d, double tmin, Vec3* n) {
  double best = kInf, t0, t1;
  if (SolveQuadratic(d.x * d.x + d.y * d.y, 2 * (o.x * d.x + o.y * d.y), o.x * o.x + o.y * o.y - 1, &t0, &t1)) {
    for (double t : {t0, t1}) {
      const Vec3 p = o + d * t;
      if (std::abs(p.z) <= 1) Consider(t, {p.x, p.y, 0}, tmin, &best, n);
    }
  }
  if (d.z != 0) {
    for (double cap : {-1.0, 1.0}) {
      const double t = (cap - o.z) / d.z;
      const Vec3 p = o + d * t;
      if (p.x * p.x + p.y * p.y <= 1) Consider(t, {0, 0, cap}, tmin, &best, n);
    }
  }
  return best;
}

// Unit cone: apex (0,0,1), base radius 1 at z = -1, i.e. x^2 + y^2 = k^2 (1 - z)^2 with k = 1/2.
double IntersectCone(Vec3 o, Vec3 d, double tmin, Vec3* n) {
  constexpr double k2 = 0.25;
  double best = kInf, t0, t1;
  const double w0 = 1 - o.z, we = -d.z;
  if (SolveQuadratic(d.x * d.x + d.y * d.y - k2 * we * we, 2 * (o.x * d.x + o.y * d.y - k2 * w0 * we),
                     o.x * o.x + o.y * o.y - k2 * w0 * w0, &t0, &t1)) {
    for (double t : {t0, t1}) {
      const Vec3 p = o + d * t;
      if (p.z >= -1 && p.z <= 1) Consider(t, {p.x, p.y, k2 * (1 - p.z)}, tmin, &best, n);
    }
  }
  if (d.z != 0) {
    const double t = (-1 - o.z) / d.z;
    const Vec3 p = o + d * t;
    if (p.x * p.x + p.y * p.y <= 1) Consider(t, {0, 0, -1}, tmin, &best, n);
  }
  return best;
}

// Slab test against the box |p| <= half; returns entry (or exit, when starting inside) distance and its face normal.
bool SlabInterval(Vec3 o, Vec3 d, Vec3 half, double* near, double* far, int* near_axis, int* far_axis) {
  const double os[3] = {o.x, o.y, o.z}, ds[3] = {d.x, d.y, d.z}, hs[3] = {half.x, half.y, half.z};
  double lo = -kInf, hi = kInf;
  for (int a = 0; a < 3; ++a) {
    if (ds[a] == 0) {
      if (std::abs(os[a]) > hs[a]) return false;
      continue;
    }
    double t0 = (-hs[a] - os[a]) / ds[a], t1 = (hs[a] - os[a]) / ds[a];
    if (t0 > t1) std::swap(t0, t1);
    if (t0 > lo) lo = t0, *near_axis = a;
    if (t1 < hi) hi = t1, *far_axis = a;
  }
  *near = lo;
  *far = hi;
  return lo <= hi;
}

double IntersectBox(Vec3 o, Vec3 d, Vec3 half, double tmin, Vec3* n) {
  double lo, hi;
  int near_axis = 0, far_axis = 0;
  if (!SlabInterval(o, d, half, &lo, &hi, &near_axis, &far_axis)) return kInf;
  auto face = [&](int axis, double t) {
    const Vec3 p = o + d * t;
    const double c[3] = {p.x, p.y, p.z};
    Vec3 f;
    (axis == 0 ? f.x : axis == 1 ? f.y : f.z) = c[axis] > 0 ? 1 : -1;
    return f;
  };
  if (lo > tmin) {
    *n = face(near_axis, lo);
    return lo;
  }
  if (hi > tmin) {  // the ray starts inside the box
    *n = face(far_axis, hi);
    return hi;
  }
  return kInf;
}

double TorusSdf(Vec3 p, double major, double minor) {
  const double q = std::sqrt(p.x * p.x + p.y * p.y) - major;
  return std::sqrt(q * q + p.z * p.z) - minor;
}

// Sphere tracing of the exact torus SDF inside its bounding box (the SDF is 1-Lipschitz, so steps never overshoot).
double IntersectTorus(Vec3 o, Vec3 d, Vec3 half, double tmin, Vec3* n) {
  const double minor = half.z, major = half.x - half.z;
  double lo, hi;
  int a0, a1;
  if (!SlabInterval(o, d, half * 1.001, &lo, &hi, &a0, &a1) || hi <= tmin) return kInf;
  double t = std::max(lo, tmin);
  for (int step = 0; step < 1000 && t <= hi; ++step) {
    const Vec3 p = o + d * t;
    const double dist = TorusSdf(p, major, minor);
    if (dist < 1e-7) {
      const double rho = std::max(std::sqrt(p.x * p.x + p.y * p.y), 1e-12);
      *n = {(rho - major) * p.x / rho, (rho - major) * p.y / rho, p.z};
      return t;
    }
    t += dist;
  }
  return kInf;
}

struct Tracer {
  std::vector<TraceObject> objects;
  const ProceduralScene& scene;
  Vec3 light;

  explicit Tracer(const ProceduralScene& s) : scene(s) {
    light = Normalize(FromArray(s.light_direction));
    for (const auto& o : s.objects) {
      TraceObject t;
      t.shape = o.shape == "sphere"     ? Shape::kSphere
                : o.shape == "box"      ? Shape::kBox
                : o.shape == "cylinder" ? Shape::kCylinder
                : o.shape == "cone"     ? Shape::kCone
                                        : Shape::kTorus;
      t.center = FromArray(o.center);
      t.size = FromArray(o.size);
      t.color = FromArray(o.color);
      const double cz = std::cos(o.rotation_z), sz = std::sin(o.rotation_z);
      const double cx = std::cos(o.rotation_x), sx = std::sin(o.rotation_x);
      const double rot[3][3] = {{cz, -sz * cx, sz * sx}, {sz, cz * cx, -cz * sx}, {0, sx, cx}};
      std::copy(&rot[0][0], &rot[0][0] + 9, &t.rot[0][0]);
      t.specular = o.specular;
      t.bound_r2 = 1.0001 * Dot(t.size, t.size);  // the local box's corners
      objects.push_back(t);
    }
  }

  // Nearest hit with t > tmin; the normal is in world space and unit length.
  Hit Trace(Vec3 origin, Vec3 dir, double tmin) const {
    Hit hit;
    if (dir.z != 0 && scene.ground_half_extent > 0) {
      const double t = -origin.z / dir.z;
      const Vec3 p = origin + dir * t;
      const double e = scene.ground_half_extent;
      if (t > tmin && std::abs(p.x) <= e && std::abs(p.y) <= e) {
        hit.t = t;
        hit.normal = {0, 0, 1};
        hit.id = 1;
      }
    }
    for (size_t k = 0; k < objects.size(); ++k) {
      const TraceObject& ob = objects[k];
      // Skip objects whose bounding sphere the ray (unit direction) misses or has behind it.
      const Vec3 oc = origin - ob.center;
      const double b = Dot(oc, dir), c = Dot(oc, oc) - ob.bound_r2;
      if (c > 0 && (b > 0 || b * b < c)) continue;
      const Vec3 o = ob.ToLocal(oc), d = ob.ToLocal(dir);
      Vec3 n;
      double t = kInf;
      switch (ob.shape) {
        case Shape::kSphere: t = IntersectSphere(Div(o, ob.size), Div(d, ob.size), tmin, &n); break;
        case Shape::kCylinder: t = IntersectCylinder(Div(o, ob.size), Div(d, ob.size), tmin, &n); break;
        case Shape::kCone: t = IntersectCone(Div(o, ob.size), Div(d, ob.size), tmin, &n); break;
        case Shape::kBox: t = IntersectBox(o, d, ob.size, tmin, &n); break;
        case Shape::kTorus: t = IntersectTorus(o, d, ob.size, tmin, &n); break;
      }
      if (t < hit.t) {
        // Scaled-space gradients become local normals by dividing by size (chain rule); box/torus are unscaled.
        if (ob.shape != Shape::kBox && ob.shape != Shape::kTorus) n = Div(n, ob.size);
        hit.t = t;
        hit.normal = Normalize(ob.ToWorld(n));
        hit.id = 2 + static_cast<int>(k);
      }
    }
    return hit;
  }

  Vec3 Shade(Vec3 origin, Vec3 dir, const Hit& hit) const {
    if (hit.id == 0) return FromArray(scene.background);
    const Vec3 p = origin + dir * hit.t;
    Vec3 n = hit.normal;
    if (Dot(n, dir) > 0) n = n * -1.0;  // the ground is two-sided
    Vec3 base;
    double specular = 0;
    if (hit.id == 1) {
      const int64_t cell = static_cast<int64_t>(std::floor(p.x / scene.checker_size)) +
                           static_cast<int64_t>(std::floor(p.y / scene.checker_size));
      base = FromArray(cell % 2 == 0 ? scene.ground_color_a : scene.ground_color_b);
    } else {
      const TraceObject& ob = objects[hit.id - 2];
      base = ob.color;
      specular = ob.specular;
    }
    const double n_dot_l = Dot(n, light);
    double lit = 0;
    if (n_dot_l > 0) {
      const Hit blocker = Trace(p + n * 1e-5, light, kMinT);
      lit = blocker.id == 0 ? 1.0 : 0.0;
    }
    const double diffuse = scene.ambient + (1 - scene.ambient) * n_dot_l * lit;
    double highlight = 0;
    if (lit > 0 && specular > 0) {
      const Vec3 half = Normalize(light - dir);
      highlight = specular * std::pow(std::max(0.0, Dot(n, half)), scene.shininess);
    }
    auto channel = [&](double c) { return std::min(1.0, std::max(0.0, c * diffuse + highlight)); };
    return {channel(base.x), channel(base.y), channel(base.z)};
  }
};

// SplitMix64: a deterministic per-sample jitter that does not depend on thread scheduling.
inline double Jitter(uint64_t key) {
  uint64_t z = key + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace

ProceduralRender RenderProcedural(const ProceduralScene& scene, const Camera& camera, int supersample) {
  scene.Check();
  NE_CHECK(supersample >= 1, "RenderProcedural: supersample must be >= 1, got ", supersample);
  NE_CHECK(camera.width >= 1 && camera.height >= 1 && camera.fx > 0 && camera.fy > 0,
           "RenderProcedural: invalid camera ", camera.width, "x", camera.height, " fx=", camera.fx, " fy=", camera.fy);
  NE_CHECK(camera.world_from_cam.defined() && camera.world_from_cam.numel() == 16,
           "RenderProcedural: camera has no 4x4 world_from_cam");
  const Tracer tracer(scene);
  const at::Tensor pose = camera.world_from_cam.to(at::kCPU, at::kDouble).contiguous();
  const double* m = pose.data_ptr<double>();
  const Vec3 origin{m[3], m[7], m[11]};
  const int64_t h = camera.height, w = camera.width;
  ProceduralRender out;
  out.rgb = at::empty({h, w, 3}, at::kFloat);
  out.depth = at::empty({h, w}, at::kFloat);
  out.labels = at::empty({h, w}, at::kInt);
  out.alpha = at::empty({h, w}, at::kFloat);
  float* alpha = out.alpha.data_ptr<float>();
  float* rgb = out.rgb.data_ptr<float>();
  float* depth = out.depth.data_ptr<float>();
  int32_t* labels = out.labels.data_ptr<int32_t>();
  // Same convention as GenerateRays: camera looks down -z, image rows go down while camera +y goes up.
  auto ray_dir = [&](double px, double py) {
    const double x = (px - camera.cx) / camera.fx, y = -(py - camera.cy) / camera.fy;
    return Normalize({m[0] * x + m[1] * y - m[2], m[4] * x + m[5] * y - m[6], m[8] * x + m[9] * y - m[10]});
  };
  const int s = supersample;
  at::parallel_for(0, h, 1, [&](int64_t row_begin, int64_t row_end) {
    for (int64_t y = row_begin; y < row_end; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const int64_t pixel = y * w + x;
        const Vec3 centre_dir = ray_dir(x + 0.5, y + 0.5);
        const Hit centre = tracer.Trace(origin, centre_dir, kMinT);
        depth[pixel] = centre.id == 0 ? 0.0f : static_cast<float>(centre.t);
        labels[pixel] = centre.id;
        Vec3 sum;
        int hits = 0;
        if (s == 1) {
          sum = tracer.Shade(origin, centre_dir, centre);
          hits = centre.id != 0;
        } else {
          for (int sy = 0; sy < s; ++sy) {
            for (int sx = 0; sx < s; ++sx) {
              const uint64_t key = (static_cast<uint64_t>(pixel) * s * s + sy * s + sx) * 2;
              const Vec3 dir = ray_dir(x + (sx + Jitter(key)) / s, y + (sy + Jitter(key + 1)) / s);
              const Hit hit = tracer.Trace(origin, dir, kMinT);
              sum = sum + tracer.Shade(origin, dir, hit);
              hits += hit.id != 0;
            }
          }
          sum = sum * (1.0 / (s * s));
        }
        alpha[pixel] = static_cast<float>(hits) / (s * s);
        rgb[pixel * 3 + 0] = static_cast<float>(sum.x);
        rgb[pixel * 3 + 1] = static_cast<float>(sum.y);
        rgb[pixel * 3 + 2] = static_cast<float>(sum.z);
      }
    }
  });
  return out;
}

}  // namespace nerfedit
