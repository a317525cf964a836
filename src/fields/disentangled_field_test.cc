#include "fields/disentangled_field.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "util/error.h"

namespace nerfedit {
namespace {

DisentangledFieldOptions Tiny() {
  return DisentangledFieldOptions()
      .shape_code_dim(5)
      .appearance_code_dim(4)
      .position_frequencies(3)
      .direction_frequencies(1)
      .deform_width(16)
      .num_layers(3)
      .hidden_dim(16)
      .skip_layer(0)
      .color_width(8);
}

at::Tensor RandomDirections(int64_t n) {
  const at::Tensor d = torch::randn({n, 3});
  return d / d.norm(2, 1, true);
}

// The zero-initialised last layer of T made non-zero (a trained deformation).
void RandomiseDeformation(DisentangledFieldImpl& field, double std) {
  torch::NoGradGuard no_grad;
  field.deform_out->weight.normal_(0, std);
  field.deform_out->bias.normal_(0, std);
}

TEST(DisentangledField, GammaStarIsGammaWhenDeltaIsZeroAndWithinOneOfIt) {
  torch::manual_seed(0);
  DisentangledField field(Tiny());
  const at::Tensor p = torch::rand({200, 3}) * 2 - 1;  // the default box is [-1,1]^3: unit coordinates = p
  const at::Tensor zs = torch::randn({200, 5});
  DeformedEncoding e = field->Encode(p, zs);
  // γ is the paper's: per frequency k a sin block then a cos block of the 3 coordinates, 2m entries per coordinate.
  ASSERT_EQ(e.gamma.size(1), 2 * 3 * 3);
  EXPECT_TRUE(torch::allclose(e.gamma.slice(1, 0, 3), torch::sin(M_PI * p), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(e.gamma.slice(1, 3, 6), torch::cos(M_PI * p), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(e.gamma.slice(1, 12, 15), torch::sin(4 * M_PI * p), 1e-4, 1e-5));
  // Δ = 0 (the initial T): Γ* = γ exactly.
  EXPECT_EQ(e.delta.abs().max().item<float>(), 0.f);
  EXPECT_TRUE(torch::equal(e.gamma_star, e.gamma));
  // A large displacement: Γ* moves, each entry by less than 1, as tanh bounds it; and it depends on z_s.
  RandomiseDeformation(*field, 5.0);
  e = field->Encode(p, zs);
  const at::Tensor moved = (e.gamma_star - e.gamma).abs();
  EXPECT_GT(moved.max().item<float>(), 0.9f);
  EXPECT_LE(moved.max().item<float>(), 1.f);
  EXPECT_TRUE(torch::allclose(e.gamma_star - e.gamma, torch::tanh(e.delta), 1e-5, 1e-6));
  const DeformedEncoding other = field->Encode(p, torch::randn({200, 5}));
  EXPECT_GT((other.gamma_star - e.gamma_star).abs().max().item<float>(), 0.1f);
  EXPECT_TRUE(torch::equal(other.gamma, e.gamma));
}

TEST(DisentangledField, AppearanceCodeHasExactlyZeroGradientOnDensity) {
  torch::manual_seed(1);
  DisentangledField field(Tiny());
  RandomiseDeformation(*field, 0.5);
  const int64_t n = 300;
  const at::Tensor p = torch::rand({n, 3}) * 1.8 - 0.9;
  const at::Tensor d = RandomDirections(n);
  const at::Tensor codes = torch::randn({n, 9}).requires_grad_(true);
  const FieldOutputs out = field->Query(p, d, codes);
  ASSERT_EQ(out.density.sizes(), torch::IntArrayRef({n}));
  ASSERT_EQ(out.rgb.sizes(), torch::IntArrayRef({n, 3}));
  const at::Tensor g = torch::autograd::grad({out.density.sum()}, {codes}, {}, /*retain_graph=*/true)[0];
  EXPECT_EQ(g.slice(1, 5).abs().max().item<float>(), 0.f) << "z_a reaches the density";
  EXPECT_GT(g.slice(1, 0, 5).abs().max().item<float>(), 0.f) << "z_s does not reach the density";
  // ... while the colour reads both.
  const at::Tensor gc = torch::autograd::grad({out.rgb.sum()}, {codes})[0];
  EXPECT_GT(gc.slice(1, 5).abs().max().item<float>(), 0.f);
  // Swapping z_a leaves σ bit for bit and changes the colour.
  torch::NoGradGuard no_grad;
  at::Tensor swapped = codes.detach().clone();
  swapped.slice(1, 5).normal_();
  const FieldOutputs out2 = field->Query(p, d, swapped);
  EXPECT_TRUE(torch::equal(out2.density, out.density.detach()));
  EXPECT_GT((out2.rgb - out.rgb.detach()).abs().max().item<float>(), 1e-3f);
  EXPECT_TRUE(torch::equal(field->QueryDensity(p, swapped), out.density.detach()));
}

TEST(DisentangledField, ShapesPerRayCodesAndTheBox) {
  torch::manual_seed(2);
  DisentangledField field(Tiny().aabb({-1, -1, 0, 1, 1, 2}));
  RandomiseDeformation(*field, 0.5);
  const int64_t rays = 7, per_ray = 5, n = rays * per_ray;
  const at::Tensor p = torch::rand({n, 3}) * 2 - at::tensor({1.f, 1.f, 0.f});
  const at::Tensor d = RandomDirections(n);
  const at::Tensor ray_codes = torch::randn({rays, 9});
  const at::Tensor ray_of_sample = torch::arange(rays).repeat_interleave(per_ray);
  const FieldOutputs a = field->QueryRays(p, d, ray_codes, ray_of_sample);
  const FieldOutputs b = field->Query(p, d, ray_codes.index_select(0, ray_of_sample));
  EXPECT_TRUE(torch::allclose(a.density, b.density, 1e-4, 1e-6));
  EXPECT_TRUE(torch::allclose(a.rgb, b.rgb, 1e-4, 1e-6));
  EXPECT_GT(a.density.min().item<float>(), 0.f);
  EXPECT_GE(a.rgb.min().item<float>(), 0.f);
  EXPECT_LE(a.rgb.max().item<float>(), 1.f);
  // Outside the box: no density.
  const at::Tensor outside = torch::tensor({{0.f, 0.f, -0.5f}, {1.5f, 0.f, 1.f}});
  EXPECT_EQ(field->QueryDensity(outside, torch::randn({2, 9})).abs().max().item<float>(), 0.f);
  EXPECT_EQ(field->code_dim(), 9);
  EXPECT_THROW(field->Query(p, d, torch::randn({n, 8})), Error);
  EXPECT_THROW(field->QueryRays(p, d, ray_codes, ray_of_sample.slice(0, 1)), Error);
  // Instances: the field with a fixed code is a plain Field.
  InstanceFieldImpl instance(field.ptr(), torch::randn({9}));
  EXPECT_EQ(instance.Query(p, d).rgb.sizes(), torch::IntArrayRef({n, 3}));
}

TEST(DisentangledField, ConfigRoundTripAndPaperSizes) {
  const DisentangledFieldOptions paper = DisentangledFieldOptions::Paper();
  EXPECT_EQ(paper.shape_code_dim(), 128);
  EXPECT_EQ(paper.appearance_code_dim(), 128);
  EXPECT_EQ(paper.deform_layers(), 4);
  EXPECT_EQ(paper.deform_width(), 256);
  EXPECT_EQ(paper.num_layers(), 8);
  EXPECT_EQ(paper.hidden_dim(), 256);
  EXPECT_EQ(DisentangledFieldOptions::FromJson(paper.ToJson()).ToJson(), paper.ToJson());
  EXPECT_EQ(DisentangledFieldOptions::FromJson(Tiny().ToJson()).ToJson(), Tiny().ToJson());
  // Built at the paper's sizes: T outputs 2m = 20 entries per coordinate; the trunk's skip re-reads Γ*.
  DisentangledField big(paper);
  EXPECT_EQ(big->deform_out->weight.size(0), 60);
  EXPECT_EQ(big->trunk->ptr<torch::nn::LinearImpl>(5)->weight.size(1), 256 + 60);
  EXPECT_EQ(big->color->weight.size(1), 256 + 27 + 128);
  nlohmann::json bad = paper.ToJson();
  bad["shape_dim"] = 3;
  EXPECT_THROW(DisentangledFieldOptions::FromJson(bad), Error);
  EXPECT_THROW(DisentangledFieldOptions::FromJson({{"skip_layer", 7}}), Error);
  EXPECT_THROW(DisentangledFieldOptions::FromJson({{"appearance_code_dim", 0}}), Error);
}

}  // namespace
}  // namespace nerfedit
