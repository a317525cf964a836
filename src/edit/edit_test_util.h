// Test-only: an analytic feature field with two spheres, so every edit has an exact expected answer.
#pragma once
#include <torch/torch.h>

#include "edit/selection.h"
#include "fields/field.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit::testing {

constexpr int64_t kFeatureDim = 8;
constexpr double kRadius = 0.3;
constexpr float kDensity = 20.0f;

// Unit basis vector i of the feature space, times `scale` (features are not normalised in a feature field).
inline at::Tensor Basis(int64_t i, double scale = 1.0) {
  at::Tensor e = torch::zeros({kFeatureDim});
  e[i] = scale;
  return e;
}

// Sphere 1 at (-0.5,0,0): feature 3*e1, red shaded along x (rgb = (0.6 + 0.3u, 0.1, 0.1), u = (x+0.5)/(2r) in
// [-0.5,0.5], so the colour varies inside it). Sphere 2 at (0.5,0,0): feature 2*e2, blue (0.1,0.1,0.9).
// Outside: density 0, grey, feature e0 (a background embedding). `with_features` false models a plain NeRF.
class TwoSpheresField : public Field {
 public:
  explicit TwoSpheresField(bool with_features = true) : with_features_(with_features) {}

  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override {
    const int64_t n = positions.size(0);
    at::Tensor in1 = Inside(positions, -0.5), in2 = Inside(positions, 0.5);
    FieldOutputs out;
    out.density = (in1 | in2).to(torch::kFloat) * kDensity;
    const at::Tensor u = (positions.select(1, 0) + 0.5) / (2 * kRadius);  // [-0.5, 0.5] inside sphere 1
    at::Tensor red = torch::stack({0.6 + 0.3 * u, torch::full({n}, 0.1), torch::full({n}, 0.1)}, 1);
    at::Tensor blue = torch::tensor({0.1f, 0.1f, 0.9f}).expand({n, 3});
    at::Tensor grey = torch::full({n, 3}, 0.5f);
    out.rgb = torch::where(in1.unsqueeze(1), red, torch::where(in2.unsqueeze(1), blue, grey));
    if (with_features_) {
      at::Tensor f1 = Basis(1, 3.0).expand({n, kFeatureDim}), f2 = Basis(2, 2.0).expand({n, kFeatureDim});
      at::Tensor f0 = Basis(0).expand({n, kFeatureDim});
      out.features = torch::where(in1.unsqueeze(1), f1, torch::where(in2.unsqueeze(1), f2, f0)).contiguous();
    }
    return out;
  }
  at::Tensor QueryDensity(const at::Tensor& positions) override {
    return Query(positions, torch::zeros_like(positions)).density;
  }
  std::string Kind() const override { return "two_spheres"; }
  nlohmann::json Config() const override { return nlohmann::json::object(); }
  at::Tensor Aabb() const override { return torch::tensor({-1.5f, -1.5f, -1.5f, 1.5f, 1.5f, 1.5f}).view({2, 3}); }

  static at::Tensor Inside(const at::Tensor& x, double cx) {
    return (x - torch::tensor({static_cast<float>(cx), 0.0f, 0.0f})).norm(2, 1) < kRadius;
  }

 private:
  bool with_features_;
};

// "sphere 1" against the others, as a text query would give.
inline FieldPtr Spheres() { return std::make_shared<TwoSpheresField>(); }

inline Selection SelectSphere1(SelectionOptions options = {}) {
  return Selection::FromText("sphere 1", Basis(1), torch::stack({Basis(2), Basis(0)}), options);
}
inline Selection SelectSphere2(SelectionOptions options = {}) {
  return Selection::FromText("sphere 2", Basis(2), torch::stack({Basis(1), Basis(0)}), options);
}

// Points [N,3] f32 from coordinates.
inline at::Tensor Points(std::initializer_list<std::array<float, 3>> pts) {
  at::Tensor out = torch::empty({static_cast<int64_t>(pts.size()), 3});
  int64_t i = 0;
  for (const auto& p : pts) out[i++] = torch::tensor({p[0], p[1], p[2]});
  return out;
}

inline at::Tensor UpDirections(int64_t n) { return torch::tensor({0.0f, 0.0f, 1.0f}).expand({n, 3}).contiguous(); }

}  // namespace nerfedit::testing
