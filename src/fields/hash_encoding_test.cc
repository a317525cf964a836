#include "fields/hash_encoding.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "util/error.h"

namespace nerfedit {
namespace {

// Small but representative: dense coarse levels and hashed fine levels.
HashEncodingOptions SmallOptions(int64_t features = 2) {
  return HashEncodingOptions().num_levels(8).features_per_level(features).log2_hashmap_size(12).base_resolution(4)
      .max_resolution(256);
}

// Random table values far from the 1e-4 init so that comparisons are meaningful.
void RandomizeTable(HashEncodingImpl& encoding) {
  torch::NoGradGuard no_grad;
  encoding.table.uniform_(-1.0, 1.0);
}

TEST(HashEncoding, LayoutFollowsThePaper) {
  const HashGridLayout layout = HashGridLayout::FromOptions(HashEncodingOptions());
  ASSERT_EQ(layout.num_levels(), 16);
  EXPECT_EQ(layout.resolution.front(), 16);
  EXPECT_EQ(layout.resolution.back(), 2048);
  const double b = std::exp((std::log(2048.0) - std::log(16.0)) / 15.0);
  for (int64_t l = 0; l < 16; ++l) {
    EXPECT_EQ(layout.resolution[l], static_cast<int64_t>(std::floor(16.0 * std::pow(b, l) + 1e-6))) << l;
    const int64_t vertices = (layout.resolution[l] + 1) * (layout.resolution[l] + 1) * (layout.resolution[l] + 1);
    EXPECT_EQ(layout.dense[l], vertices <= (1 << 19) ? 1 : 0) << l;
    EXPECT_EQ(layout.size[l], layout.dense[l] ? (vertices + 7) / 8 * 8 : (1 << 19)) << l;
    EXPECT_EQ(layout.offset[l + 1] - layout.offset[l], layout.size[l]);
  }
  EXPECT_EQ(layout.dense[0], 1);
  EXPECT_EQ(layout.dense[15], 0);
  HashEncoding encoding;
  EXPECT_EQ(encoding->table.size(0), layout.total_rows());
  EXPECT_EQ(encoding->output_dim(), 32);
  EXPECT_LE(encoding->table.abs().max().item<float>(), 1e-4f);
}

TEST(HashEncoding, ForwardMatchesReference) {
  for (int64_t features : {1, 2, 3, 4, 8}) {
    HashEncoding encoding(SmallOptions(features));
    RandomizeTable(*encoding);
    // Some points outside [0,1]^3 exercise the clamping; the corners of the cube exercise x = 0 and x = 1.
    at::Tensor positions = torch::cat({torch::rand({3000, 3}) * 1.2 - 0.1,
                                       torch::tensor({0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 1.f, 0.f, 1.f}).view({3, 3})});
    const at::Tensor kernel = encoding->ForwardKernel(positions);
    const at::Tensor reference = encoding->ForwardReference(positions);
    ASSERT_EQ(kernel.sizes(), (std::vector<int64_t>{3003, 8 * features}));
    EXPECT_TRUE(torch::allclose(kernel, reference, 1e-5, 1e-6))
        << "F=" << features << " max diff " << (kernel - reference).abs().max().item<float>();
  }
}

TEST(HashEncoding, TableGradientMatchesReference) {
  for (int64_t features : {2, 3}) {
    HashEncoding encoding(SmallOptions(features));
    RandomizeTable(*encoding);
    const at::Tensor positions = torch::rand({4000, 3}) * 1.2 - 0.1;
    const at::Tensor upstream = torch::randn({4000, 8 * features});

    (encoding->ForwardKernel(positions) * upstream).sum().backward();
    const at::Tensor kernel_grad = encoding->table.grad().clone();
    encoding->table.mutable_grad().zero_();
    (encoding->ForwardReference(positions) * upstream).sum().backward();
    const at::Tensor reference_grad = encoding->table.grad();

    EXPECT_GT(kernel_grad.abs().sum().item<float>(), 0.0f);
    EXPECT_TRUE(torch::allclose(kernel_grad, reference_grad, 1e-5, 1e-5))
        << "F=" << features << " max diff " << (kernel_grad - reference_grad).abs().max().item<float>();
  }
}

TEST(HashEncoding, PositionGradientMatchesReference) {
  HashEncoding encoding(SmallOptions());
  RandomizeTable(*encoding);
  const at::Tensor base = torch::rand({500, 3}) * 0.98 + 0.01;  // interior: no kinks of clamp at the boundary
  const at::Tensor upstream = torch::randn({500, 16});
  at::Tensor p_kernel = base.clone().requires_grad_(true);
  at::Tensor p_reference = base.clone().requires_grad_(true);
  (encoding->ForwardKernel(p_kernel) * upstream).sum().backward();
  (encoding->ForwardReference(p_reference) * upstream).sum().backward();
  EXPECT_TRUE(torch::allclose(p_kernel.grad(), p_reference.grad(), 1e-4, 1e-3))
      << "max diff " << (p_kernel.grad() - p_reference.grad()).abs().max().item<float>();
  // Points outside the unit cube are clamped, so their gradient is zero (as torch.clamp's).
  at::Tensor outside = torch::full({1, 3}, 1.5f).requires_grad_(true);
  encoding->ForwardKernel(outside).sum().backward();
  EXPECT_EQ(outside.grad().abs().sum().item<float>(), 0.0f);
}

TEST(HashEncoding, DenseLevelIndexingCoversExactlyTheCorners) {
  const HashGridLayout layout = HashGridLayout::FromOptions(HashEncodingOptions());
  // Each dense level maps its vertices one-to-one onto [0, (N+1)^3).
  for (int64_t l = 0; l < 3; ++l) {
    ASSERT_TRUE(layout.dense[l]);
    const uint32_t n = layout.resolution[l];
    std::vector<char> seen((n + 1) * (n + 1) * (n + 1), 0);
    for (uint32_t z = 0; z <= n; ++z)
      for (uint32_t y = 0; y <= n; ++y)
        for (uint32_t x = 0; x <= n; ++x) {
          const uint32_t index = HashGridIndex(x, y, z, n, true, layout.size[l]);
          ASSERT_LT(index, seen.size());
          ASSERT_FALSE(seen[index]) << "level " << l << " index " << index << " used twice";
          seen[index] = 1;
        }
  }
  // The kernel's gradient for one point touches exactly its cell's 8 corner rows in level 0.
  HashEncoding encoding;
  const at::Tensor point = torch::tensor({{0.30f, 0.52f, 0.71f}});  // level 0 (N=16): cell (4, 8, 11)
  encoding->ForwardKernel(point).select(1, 0).sum().backward();  // level 0, feature 0 only
  const at::Tensor rows = encoding->table.grad().select(1, 0).nonzero().view({-1});
  std::set<int64_t> expected;
  for (int c = 0; c < 8; ++c) expected.insert((4 + (c & 1)) + (8 + (c >> 1 & 1)) * 17 + (11 + (c >> 2 & 1)) * 289);
  std::set<int64_t> got(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
  EXPECT_EQ(got, expected);
  const at::Tensor weights = encoding->table.grad().select(1, 0).sum();
  EXPECT_NEAR(weights.item<float>(), 1.0f, 1e-6);  // trilinear weights sum to one
}

TEST(HashEncoding, GridVertexReturnsItsFeatureExactly) {
  for (const std::string impl : {"cpu_kernel", "reference"}) {
    // Level 0 is dense (N = 16), level 1 (N = 32, 4 rows) is hashed.
    HashEncoding encoding(HashEncodingOptions().num_levels(2).log2_hashmap_size(13).base_resolution(16)
                              .max_resolution(32).implementation(impl));
    RandomizeTable(*encoding);
    const HashGridLayout& layout = encoding->layout();
    ASSERT_TRUE(layout.dense[0]);
    ASSERT_FALSE(layout.dense[1]);
    const at::Tensor out = encoding->forward(torch::tensor({{3.f / 16, 5.f / 16, 7.f / 16}}));
    const int64_t dense_row = 3 + 5 * 17 + 7 * 17 * 17;
    const int64_t hashed_row = layout.offset[1] + HashGridIndex(6, 10, 14, 32, false, layout.size[1]);
    for (int f = 0; f < 2; ++f) {
      EXPECT_EQ(out[0][f].item<float>(), encoding->table[dense_row][f].item<float>()) << impl;
      EXPECT_EQ(out[0][2 + f].item<float>(), encoding->table[hashed_row][f].item<float>()) << impl;
    }
    // The far corner (x = 1) is the last vertex, not outside the grid.
    const at::Tensor corner = encoding->forward(torch::ones({1, 3}));
    EXPECT_EQ(corner[0][0].item<float>(), encoding->table[16 + 16 * 17 + 16 * 289][0].item<float>()) << impl;
  }
}

TEST(HashEncoding, TinyTableCollisionsAreHandled) {
  // 16 rows: every level is hashed, with many collisions.
  HashEncoding encoding(HashEncodingOptions().log2_hashmap_size(4));
  RandomizeTable(*encoding);
  EXPECT_EQ(encoding->table.size(0), 16 * 16);
  const at::Tensor positions = torch::rand({5000, 3});
  const at::Tensor upstream = torch::randn({5000, 32});
  (encoding->ForwardKernel(positions) * upstream).sum().backward();
  const at::Tensor kernel_grad = encoding->table.grad().clone();
  encoding->table.mutable_grad().zero_();
  (encoding->ForwardReference(positions) * upstream).sum().backward();
  EXPECT_TRUE(torch::isfinite(kernel_grad).all().item<bool>());
  EXPECT_TRUE(torch::allclose(encoding->ForwardKernel(positions), encoding->ForwardReference(positions), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(kernel_grad, encoding->table.grad(), 1e-4, 1e-4));
}

TEST(HashEncoding, OutsideInputsAreClamped) {
  HashEncoding encoding(SmallOptions());
  RandomizeTable(*encoding);
  const at::Tensor outside = torch::tensor({{-0.5f, 0.3f, 1.7f}, {2.f, -1.f, 0.5f}});
  EXPECT_TRUE(torch::equal(encoding->forward(outside), encoding->forward(outside.clamp(0, 1))));
  // A NaN coordinate must not index outside the table: the kernel reads it as 0.
  const at::Tensor nan_point = torch::tensor({{std::nanf(""), 0.5f, 0.5f}});
  EXPECT_TRUE(torch::equal(encoding->ForwardKernel(nan_point), encoding->forward(torch::tensor({{0.f, 0.5f, 0.5f}}))));
}

TEST(HashEncoding, EmptyBatchAndBadInput) {
  HashEncoding encoding(SmallOptions());
  at::Tensor empty = encoding->forward(torch::zeros({0, 3}));
  EXPECT_EQ(empty.sizes(), (std::vector<int64_t>{0, 16}));
  EXPECT_THROW(encoding->forward(torch::zeros({4, 2})), Error);
  EXPECT_THROW(encoding->forward(torch::zeros({4, 3}, torch::kDouble)), Error);
}

TEST(HashEncoding, CpuKernelUsesEveryThread) {
  EXPECT_EQ(HashEncodingCpuThreadsUsed(), at::get_num_threads()) << "hash_encoding_cpu.cc built without -fopenmp?";
}

TEST(HashEncoding, OptionsJsonRoundTripAndErrors) {
  const HashEncodingOptions o = SmallOptions().implementation("reference");
  const HashEncodingOptions back = HashEncodingOptions::FromJson(o.ToJson());
  EXPECT_EQ(back.ToJson(), o.ToJson());
  try {
    HashEncodingOptions::FromJson({{"num_level", 8}});
    FAIL() << "a misspelt key was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_level"), std::string::npos) << e.what();
  }
  EXPECT_THROW(HashEncodingOptions::FromJson({{"implementation", "tcnn"}}), Error);
  EXPECT_THROW(HashEncodingOptions::FromJson({{"max_resolution", 8}}), Error);  // below base_resolution 16
}

}  // namespace
}  // namespace nerfedit
