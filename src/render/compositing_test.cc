#include "render/compositing.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "render/samplers.h"

namespace nerfedit {
namespace {

// Random packed samples: `rays` rays with 0..max_per_ray sorted intervals each.
RaySamples RandomSamples(int64_t rays, int64_t max_per_ray) {
  auto counts = torch::randint(0, max_per_ray + 1, {rays}, torch::kLong);
  auto edges = torch::sort(torch::rand({rays, max_per_ray + 1}) * 4 + 2, 1);
  RaySamples dense = RaySamples::FromDenseEdges(std::get<0>(edges));
  auto local = torch::arange(max_per_ray).repeat({rays});
  auto keep = local < counts.repeat_interleave(max_per_ray);
  RaySamples s;
  s.ray_indices = dense.ray_indices.index({keep});
  s.t_starts = dense.t_starts.index({keep});
  s.t_ends = dense.t_ends.index({keep});
  s.offsets = torch::cat({torch::zeros({1}, torch::kLong), torch::cumsum(counts, 0)});
  return s;
}

TEST(Compositing, ConstantDensitySlabMatchesClosedForm) {
  // One ray crossing a slab of thickness d with constant sigma: opacity = 1 - exp(-sigma d), colour = c * opacity,
  // and the expected depth is the closed-form integral of t * sigma * exp(-sigma (t - t0)) over the slab.
  const double sigma = 1.7, t0 = 2.0, d = 0.8;
  const int64_t n = 1024;  // float32 transmittance products accumulate ~n * 1e-7 relative error
  auto edges = torch::linspace(t0, t0 + d, n + 1, torch::kDouble).to(torch::kFloat).unsqueeze(0);
  auto samples = RaySamples::FromDenseEdges(edges);
  auto sigmas = torch::full({n}, sigma);
  auto colour = torch::tensor({0.2f, 0.5f, 0.9f}).expand({n, 3}).contiguous();
  auto out = CompositeAlongRays(sigmas, colour, samples);
  const double opacity = 1 - std::exp(-sigma * d);
  EXPECT_NEAR(out.opacity.item<float>(), opacity, 5e-5);
  EXPECT_TRUE(torch::allclose(out.values[0], torch::tensor({0.2f, 0.5f, 0.9f}) * opacity, 5e-5, 5e-5));
  // integral_0^d (t0 + s) sigma e^{-sigma s} ds = t0 (1 - e^{-sigma d}) + [1 - e^{-sigma d}(1 + sigma d)] / sigma
  const double depth = t0 * opacity + (1 - std::exp(-sigma * d) * (1 + sigma * d)) / sigma;
  EXPECT_NEAR(out.depth.item<float>(), depth, 1e-4);
  // Transmittance after the slab is exp(-sigma d): background shows through by exactly that much.
  auto with_bg = AddBackground(out, torch::ones({3}));
  EXPECT_NEAR(with_bg[0][0].item<float>(), 0.2 * opacity + std::exp(-sigma * d), 5e-5);
}

TEST(Compositing, KernelMatchesReferenceValuesAndGradients) {
  auto samples = RandomSamples(64, 24);
  const int64_t m = samples.num_samples();
  auto sigma_a = (torch::rand({m}) * 3).requires_grad_();
  auto value_a = torch::rand({m, 5}).requires_grad_();
  auto sigma_b = sigma_a.detach().clone().requires_grad_();
  auto value_b = value_a.detach().clone().requires_grad_();
  auto a = CompositeAlongRays(sigma_a, value_a, samples);
  auto b = CompositeAlongRaysReference(sigma_b, value_b, samples);
  EXPECT_TRUE(torch::allclose(a.values, b.values, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a.opacity, b.opacity, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a.depth, b.depth, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(a.weights, b.weights, 1e-5, 1e-6));
  auto g_values = torch::randn_like(a.values), g_opacity = torch::randn_like(a.opacity), g_depth = torch::randn_like(a.depth);
  auto loss_a = (a.values * g_values).sum() + (a.opacity * g_opacity).sum() + (a.depth * g_depth).sum();
  auto loss_b = (b.values * g_values).sum() + (b.opacity * g_opacity).sum() + (b.depth * g_depth).sum();
  loss_a.backward();
  loss_b.backward();
  EXPECT_TRUE(torch::allclose(sigma_a.grad(), sigma_b.grad(), 1e-4, 1e-5))
      << (sigma_a.grad() - sigma_b.grad()).abs().max();
  EXPECT_TRUE(torch::allclose(value_a.grad(), value_b.grad(), 1e-5, 1e-6));
}

TEST(Compositing, FeaturesUseTheSameWeightsAsColour) {
  auto samples = RandomSamples(16, 12);
  const int64_t m = samples.num_samples();
  auto sigmas = torch::rand({m}) * 2;
  auto rgb = torch::rand({m, 3});
  auto features = torch::randn({m, 7});
  auto joint = CompositeAlongRays(sigmas, torch::cat({rgb, features}, 1), samples);
  auto weights = joint.weights.unsqueeze(1);
  auto expected = torch::zeros({16, 7}).index_add(0, samples.ray_indices, weights * features);
  EXPECT_TRUE(torch::allclose(joint.values.slice(1, 3), expected, 1e-5, 1e-6));
}

TEST(Compositing, EmptyRaysComposeToBackground) {
  RaySamples s;
  s.offsets = torch::zeros({4}, torch::kLong);
  s.ray_indices = torch::zeros({0}, torch::kLong);
  s.t_starts = torch::zeros({0});
  s.t_ends = torch::zeros({0});
  auto out = CompositeAlongRays(torch::zeros({0}), torch::zeros({0, 3}), s);
  EXPECT_TRUE(torch::equal(AddBackground(out, torch::tensor({1.f, 0.5f, 0.f})), torch::tensor({1.f, 0.5f, 0.f}).expand({3, 3})));
}

TEST(Compositing, ForegroundOverBackgroundEqualsOnePassOverBothLayers) {
  // Rays whose samples split at a per-ray depth: the front part (a foreground field inside the box) composited over
  // the back part (a background field behind it) must equal compositing every sample in one pass.
  const int64_t rays = 7, per_ray = 12, split = 5;
  auto edges = std::get<0>(torch::sort(torch::rand({rays, per_ray + 1}) * 4 + 2, 1));
  auto sigmas = (torch::rand({rays, per_ray}) * 3).requires_grad_();
  auto values = torch::rand({rays, per_ray, 4}).requires_grad_();
  Composited all = CompositeAlongRays(sigmas.reshape(-1), values.reshape({-1, 4}), RaySamples::FromDenseEdges(edges));
  auto front_edges = edges.slice(1, 0, split + 1).contiguous(), back_edges = edges.slice(1, split).contiguous();
  Composited front = CompositeAlongRays(sigmas.slice(1, 0, split).reshape(-1),
                                        values.slice(1, 0, split).reshape({-1, 4}), RaySamples::FromDenseEdges(front_edges));
  Composited back = CompositeAlongRays(sigmas.slice(1, split).reshape(-1), values.slice(1, split).reshape({-1, 4}),
                                       RaySamples::FromDenseEdges(back_edges));
  Composited over = CompositeOver(front, back);
  EXPECT_TRUE(torch::allclose(over.values, all.values, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(over.opacity, all.opacity, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(over.depth, all.depth, 1e-5, 1e-5));
  // Gradients agree too (what the mask loss on the front opacity and the photometric loss on both rely on).
  auto g1 = torch::autograd::grad({all.values.sum() + all.depth.sum()}, {sigmas, values});
  auto g2 = torch::autograd::grad({over.values.sum() + over.depth.sum()}, {sigmas, values});
  EXPECT_TRUE(torch::allclose(g1[0], g2[0], 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(g1[1], g2[1], 1e-4, 1e-5));
  // Closed form on scalars: an opaque-ish front hides most of the back.
  Composited f{torch::tensor({{0.3f}}), torch::tensor({0.75f}), torch::tensor({1.0f}), {}};
  Composited b{torch::tensor({{0.8f}}), torch::tensor({1.0f}), torch::tensor({4.0f}), {}};
  Composited o = CompositeOver(f, b);
  EXPECT_NEAR(o.values.item<float>(), 0.3f + 0.25f * 0.8f, 1e-6);
  EXPECT_NEAR(o.opacity.item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(o.depth.item<float>(), 1.0f + 0.25f * 4.0f, 1e-6);
}

}  // namespace
}  // namespace nerfedit
