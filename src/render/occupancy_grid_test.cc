#include "render/occupancy_grid.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace nerfedit {

namespace {
at::Tensor UnitBox() { return torch::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).reshape({2, 3}); }

// A ball of radius 0.3 at the origin with density 50.
at::Tensor BallDensity(const at::Tensor& x) { return (x.norm(2, 1) < 0.3).to(torch::kFloat) * 50.0f; }
}  // namespace

TEST(OccupancyGrid, UpdateFindsTheBallAndMarchingSkipsEmptySpace) {
  OccupancyGrid grid(UnitBox(), OccupancyGridOptions().resolution(32).warmup_steps(1000));
  grid.Update(0, 0.01, BallDensity);
  EXPECT_LT(grid.OccupiedFraction(), 0.05);
  EXPECT_TRUE(grid.OccupiedMask(torch::zeros({1, 3}))[0].item<bool>());
  EXPECT_FALSE(grid.OccupiedMask(torch::tensor({{0.8f, 0.8f, 0.8f}}))[0].item<bool>());

  // Ray along +x through the centre: samples only near |x| < 0.3 (+ one cell of slack); a ray at y = 0.9 gets none.
  RayBatch rays{torch::tensor({{-2.f, 0.f, 0.f}, {-2.f, 0.9f, 0.f}}), torch::tensor({{1.f, 0.f, 0.f}, {1.f, 0.f, 0.f}})};
  at::Tensor near, far;
  IntersectAabb(rays, UnitBox(), 0.0, &near, &far);
  auto samples = grid.March(rays, near, far, MarchOptions().step_size(0.01));
  auto counts = samples.offsets.slice(0, 1) - samples.offsets.slice(0, 0, -1);
  EXPECT_EQ(counts[1].item<int64_t>(), 0);
  EXPECT_GT(counts[0].item<int64_t>(), 55);   // the ball is 0.6 wide = 60 steps
  EXPECT_LT(counts[0].item<int64_t>(), 80);   // cells are 1/16 wide, so at most ~1 extra cell each side
  auto x = (samples.Positions(rays.origins, rays.directions)).select(1, 0);
  EXPECT_LT(x.abs().max().item<float>(), 0.3f + 2.0f / 32 + 0.01f);
  // Samples keep the ray's step lattice and are in order.
  auto t = samples.t_starts;
  EXPECT_TRUE(((t.slice(0, 1) - t.slice(0, 0, -1)) > 0).all().item<bool>());
  EXPECT_TRUE(torch::allclose(samples.t_ends - samples.t_starts, torch::full_like(t, 0.01f), 1e-5, 1e-6));
}

TEST(OccupancyGrid, AFieldWithNoDensityAnywhereKeepsEveryCellOccupied) {
  // A fresh ReLU MLP can output zero everywhere; emptying the grid then would stop training for good.
  OccupancyGrid grid(UnitBox(), OccupancyGridOptions().resolution(16));
  grid.Update(0, 0.01, [](const at::Tensor& x) { return torch::zeros({x.size(0)}); });
  EXPECT_DOUBLE_EQ(grid.OccupiedFraction(), 1.0);
  grid.Update(1, 0.01, BallDensity);  // as soon as some density appears, empty cells are pruned
  EXPECT_LT(grid.OccupiedFraction(), 0.1);
}

TEST(OccupancyGrid, FreshGridIsFullyOccupiedAndRespectsMaxSamples) {
  OccupancyGrid grid(UnitBox(), OccupancyGridOptions().resolution(8));
  EXPECT_DOUBLE_EQ(grid.OccupiedFraction(), 1.0);
  RayBatch rays{torch::tensor({{-2.f, 0.f, 0.f}}), torch::tensor({{1.f, 0.f, 0.f}})};
  at::Tensor near, far;
  IntersectAabb(rays, UnitBox(), 0.0, &near, &far);
  EXPECT_NEAR(near.item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(far.item<float>(), 3.0f, 1e-6);
  auto samples = grid.March(rays, near, far, MarchOptions().step_size(0.1).max_samples_per_ray(7));
  EXPECT_EQ(samples.num_samples(), 7);
  auto all = grid.March(rays, near, far, MarchOptions().step_size(0.1));
  EXPECT_EQ(all.num_samples(), 20);
}

TEST(OccupancyGrid, DecayEventuallyFreesCellsThatEmptied) {
  OccupancyGrid grid(UnitBox(), OccupancyGridOptions().resolution(16).warmup_steps(1000).decay(0.5));
  grid.Update(0, 0.01, BallDensity);
  ASSERT_TRUE(grid.IsOccupied(torch::zeros({1, 3})));
  // The ball moves: its old cells decay below the mean of the grid and are freed, its new cells become occupied.
  auto moved = [](const at::Tensor& x) { return BallDensity(x - torch::tensor({0.6f, 0.6f, 0.6f})); };
  for (int i = 1; i < 12; ++i) grid.Update(i, 0.01, moved);
  EXPECT_FALSE(grid.IsOccupied(torch::zeros({1, 3})));
  EXPECT_TRUE(grid.IsOccupied(torch::tensor({{0.6f, 0.6f, 0.6f}})));
}

}  // namespace nerfedit
