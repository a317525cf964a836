#include "fields/row_parallel_linear.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace nerfedit {
namespace {

TEST(RowParallelLinear, MatchesLinearInValueAndGradientAndIsDeterministic) {
  ASSERT_GE(at::get_num_threads(), 1);
  torch::manual_seed(0);
  for (bool with_bias : {false, true}) {
    auto x = torch::randn({20000, 31}).requires_grad_();
    auto w = torch::randn({64, 31}).requires_grad_();
    auto b = with_bias ? torch::randn({64}).requires_grad_() : at::Tensor();
    auto g = torch::randn({20000, 64});
    auto reference = torch::linear(x, w, b);
    auto grads_ref = torch::autograd::grad({reference}, with_bias ? std::vector<at::Tensor>{x, w, b}
                                                                  : std::vector<at::Tensor>{x, w}, {g});
    auto y = RowParallelLinear(x, w, b);
    EXPECT_TRUE(torch::allclose(y, reference, 1e-5, 1e-5));
    auto grads = torch::autograd::grad({y}, with_bias ? std::vector<at::Tensor>{x, w, b}
                                                      : std::vector<at::Tensor>{x, w}, {g});
    for (size_t i = 0; i < grads.size(); ++i) {
      EXPECT_TRUE(torch::allclose(grads[i], grads_ref[i], 1e-4, 1e-3)) << "gradient " << i;
    }
    // The same inputs give bit-identical weight gradients run after run (fixed block order).
    auto again = torch::autograd::grad({RowParallelLinear(x, w, b)}, {w}, {g});
    EXPECT_TRUE(torch::equal(again[0], grads[1]));
  }
  // Few rows take at::linear; shapes are checked.
  auto small = torch::randn({10, 4});
  EXPECT_TRUE(torch::allclose(RowParallelLinear(small, torch::eye(4)), small));
  EXPECT_ANY_THROW(RowParallelLinear(small, torch::eye(3)));
}

TEST(RowParallelLinear, RunsAFieldMlpLikeTheSequential) {
  torch::nn::Sequential mlp(torch::nn::Linear(torch::nn::LinearOptions(32, 64).bias(false)), torch::nn::ReLU(),
                            torch::nn::Linear(torch::nn::LinearOptions(64, 16)));
  auto x = torch::randn({16384, 32});
  EXPECT_TRUE(torch::allclose(ForwardRowParallelMlp(mlp, x), mlp->forward(x), 1e-5, 1e-5));
}

}  // namespace
}  // namespace nerfedit
