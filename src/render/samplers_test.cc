#include "render/samplers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace nerfedit {

TEST(Samplers, StratifiedEdgesAreSortedAndSpanNearFar) {
  auto near = torch::tensor({2.f, 1.f}), far = torch::tensor({6.f, 3.f});
  for (bool jitter : {false, true}) {
    auto edges = StratifiedEdges(near, far, 64, jitter);
    ASSERT_EQ(edges.sizes(), (std::vector<int64_t>{2, 65}));
    EXPECT_TRUE(torch::allclose(edges.select(1, 0), near));
    EXPECT_TRUE(torch::allclose(edges.select(1, 64), far));
    EXPECT_TRUE(((edges.slice(1, 1) - edges.slice(1, 0, -1)) >= 0).all().item<bool>());
  }
  // Without jitter the bins are even.
  auto even = StratifiedEdges(near, far, 4, false);
  EXPECT_TRUE(torch::allclose(even[0], torch::tensor({2.f, 3.f, 4.f, 5.f, 6.f})));
}

TEST(Samplers, HierarchicalConcentratesWhereWeightIs) {
  auto edges = torch::linspace(0, 1, 11).unsqueeze(0);       // 10 coarse bins
  auto weights = torch::zeros({1, 10});
  weights[0][7] = 1.0;                                        // all mass in [0.7, 0.8]
  auto fine = HierarchicalEdges(edges, weights, 256, true, false);
  auto inside = ((fine >= 0.7) & (fine <= 0.8)).to(torch::kFloat).mean().item<float>();
  EXPECT_GT(inside, 0.95f);
  auto both = HierarchicalEdges(edges, weights, 16, false, true);
  EXPECT_EQ(both.size(1), 11 + 17);
  EXPECT_TRUE(((both.slice(1, 1) - both.slice(1, 0, -1)) >= 0).all().item<bool>());
}

}  // namespace nerfedit
