#include "app/viewer/sphere_scene.h"

#include <ATen/ATen.h>

#include <cmath>

#include "util/math_constants.h"

namespace nerfedit {
namespace {

struct Sphere {
  float x, y, z, radius, r, g, b;
};
// Off-centre and differently sized, so every orbit step changes the picture.
const Sphere kSpheres[] = {{0.0f, 0.0f, 0.5f, 0.5f, 0.85f, 0.15f, 0.1f},
                           {0.9f, 0.25f, 0.3f, 0.3f, 0.1f, 0.7f, 0.2f},
                           {-0.55f, 0.8f, 0.25f, 0.25f, 0.15f, 0.3f, 0.9f}};
constexpr float kGroundRadius = 1.5f;
constexpr float kBackground[3] = {1.0f, 1.0f, 1.0f};

}  // namespace

SphereScene::SphereScene(bool with_features, int num_cameras) : with_features_(with_features) {
  for (int i = 0; i < num_cameras; ++i) {
    const double azimuth = 2 * kPi * i / num_cameras, elevation = 30 * kPi / 180, radius = 4.0;
    std::array<float, 3> eye = {static_cast<float>(radius * std::cos(elevation) * std::cos(azimuth)),
                                static_cast<float>(radius * std::cos(elevation) * std::sin(azimuth)),
                                static_cast<float>(0.4 + radius * std::sin(elevation))};
    cameras_.push_back(Camera::LookAt(eye, {0, 0, 0.4f}, {0, 0, 1}, 160, 120, 50 * kPi / 180));
  }
}

at::Tensor SphereScene::Aabb() const { return at::tensor({-1.5f, -1.5f, 0.0f, 1.5f, 1.5f, 1.2f}).reshape({2, 3}); }

RenderedView SphereScene::Render(const Camera& camera) {
  RayBatch rays = GenerateRays(camera);
  const auto& o = rays.origins;     // [N,3]
  const auto& d = rays.directions;  // [N,3]
  const int64_t n = o.size(0);
  const float inf = std::numeric_limits<float>::infinity();
  auto best_t = at::full({n}, inf);
  auto label = at::zeros({n}, at::kLong);  // 0 background, 1 ground, 2.. spheres
  auto normal = at::zeros({n, 3});

  // Ground disc z = 0, seen from above only.
  auto dz = d.select(1, 2);
  auto t_ground = -o.select(1, 2) / dz;
  auto hit_ground_xy = o.slice(1, 0, 2) + t_ground.unsqueeze(1) * d.slice(1, 0, 2);
  auto ground = (dz < 0) & (t_ground > 0) & (hit_ground_xy.norm(2, 1) < kGroundRadius);
  best_t = at::where(ground, t_ground, best_t);
  label = at::where(ground, at::ones_like(label), label);
  normal.select(1, 2).masked_fill_(ground, 1.0f);

  for (int s = 0; s < 3; ++s) {
    const Sphere& sp = kSpheres[s];
    auto oc = o - at::tensor({sp.x, sp.y, sp.z});
    auto b = (d * oc).sum(1);
    auto c = (oc * oc).sum(1) - sp.radius * sp.radius;
    auto disc = b * b - c;
    auto t = -b - disc.clamp_min(0).sqrt();  // nearer root; cameras are outside every sphere
    auto hit = (disc > 0) & (t > 0) & (t < best_t);
    best_t = at::where(hit, t, best_t);
    label = at::where(hit, at::full_like(label, 2 + s), label);
    auto n_s = (oc + t.unsqueeze(1) * d) / sp.radius;
    normal = at::where(hit.unsqueeze(1), n_s, normal);
  }

  auto hit = label > 0;
  auto t = at::where(hit, best_t, at::zeros_like(best_t));
  auto points = o + t.unsqueeze(1) * d;
  std::vector<at::Tensor> albedo_rows = {at::tensor({kBackground[0], kBackground[1], kBackground[2]})};
  albedo_rows.push_back(at::tensor({0.6f, 0.6f, 0.6f}));
  for (const auto& sp : kSpheres) albedo_rows.push_back(at::tensor({sp.r, sp.g, sp.b}));
  auto albedo = at::stack(albedo_rows).index_select(0, label);  // [N,3]
  // A checkerboard on the ground makes panning and zooming visible.
  auto checker = (at::floor(points.select(1, 0) * 2) + at::floor(points.select(1, 1) * 2)).remainder(2) == 0;
  albedo = at::where(((label == 1) & checker).unsqueeze(1), albedo * 0.6f, albedo);
  auto light = at::tensor({0.4f, -0.3f, 0.87f});
  light = light / light.norm();
  auto shade = 0.35f + 0.65f * (normal * light).sum(1).clamp_min(0);
  auto rgb = at::where(hit.unsqueeze(1), albedo * shade.unsqueeze(1), albedo);

  const int64_t h = camera.height, w = camera.width;
  RenderedView view;
  view.rgb = rgb.clamp(0, 1).reshape({h, w, 3});
  view.depth = t.reshape({h, w});
  view.opacity = hit.to(at::kFloat).reshape({h, w});
  if (with_features_) view.features = at::one_hot(label, 5).to(at::kFloat).reshape({h, w, 5});
  return view;
}

}  // namespace nerfedit
