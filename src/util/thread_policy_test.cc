#include "util/thread_policy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "util/runtime.h"

namespace nerfedit {
namespace {

// The process default (ConfigureThreads) must hold before and after each test.
class ThreadPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cores_ = ConfigureThreads();
    default_ = PolicyThreads(ThreadWork::kKernels, 0.0, cores_);
    ASSERT_EQ(CurrentThreads(), default_);
    if (!SetBlasThreads(1)) GTEST_SKIP() << "not linked with OpenBLAS: BLAS threads cannot be set";
    if (cores_ < 2) GTEST_SKIP() << "one core: every policy is the default";
  }
  void TearDown() override { EXPECT_EQ(CurrentThreads(), default_); }
  int cores_ = 1;
  ThreadSetting default_;
};

TEST_F(ThreadPolicyTest, TableFollowsTheWork) {
  EXPECT_EQ(default_, (ThreadSetting{1, cores_}));
  EXPECT_EQ(PolicyThreads(ThreadWork::kConv, 1e12, cores_), default_);
  EXPECT_EQ(PolicyThreads(ThreadWork::kMatmul, kMatmulMinMacs, cores_).blas, cores_);
  EXPECT_EQ(PolicyThreads(ThreadWork::kMatmul, 0.5 * kMatmulMinMacs, cores_), default_);  // small products
  EXPECT_EQ(PolicyThreads(ThreadWork::kMatmul, 1e12, 1), (ThreadSetting{1, 1}));
}

TEST_F(ThreadPolicyTest, ScopedThreadsRestoreThePreviousSettingAndPin) {
  {
    ScopedThreads outer(2, 1);
    EXPECT_EQ(CurrentThreads(), (ThreadSetting{2, 1}));
    EXPECT_TRUE(ThreadsPinned());
    {
      ScopedBlasThreads inner(1);
      EXPECT_EQ(CurrentThreads(), (ThreadSetting{1, 1}));
    }
    EXPECT_EQ(CurrentThreads(), (ThreadSetting{2, 1}));  // the outer scope's, not the process default
    ThreadPolicyScope policy(ThreadWork::kMatmul);         // pinned: does nothing
    EXPECT_FALSE(policy.active());
    EXPECT_EQ(CurrentThreads(), (ThreadSetting{2, 1}));
  }
  EXPECT_FALSE(ThreadsPinned());
}

TEST_F(ThreadPolicyTest, PolicyScopeAppliesAndRestores) {
  const ThreadSetting matmul = PolicyThreads(ThreadWork::kMatmul, 1e12, cores_);
  {
    ThreadPolicyScope scope(ThreadWork::kMatmul, 1e12);
    EXPECT_TRUE(scope.active());
    EXPECT_EQ(CurrentThreads(), matmul);
    {
      ThreadPolicyScope small(ThreadWork::kMatmul, 0.0);  // the default's setting: nothing to do
      EXPECT_FALSE(small.active());
      EXPECT_EQ(CurrentThreads(), matmul);
    }
  }
  EXPECT_EQ(CurrentThreads(), default_);
}

// The backward of what ran between Input and Output runs under the policy; before and after it, the caller's setting.
TEST_F(ThreadPolicyTest, BackwardFollowsTheWork) {
  const ThreadSetting matmul = PolicyThreads(ThreadWork::kMatmul, 1e12, cores_);
  for (bool input_needs_grad : {true, false}) {
    at::Tensor x = torch::randn({8, 4}).requires_grad_(input_needs_grad);
    at::Tensor w = torch::randn({4, 4}).requires_grad_(true);
    at::Tensor y;
    ThreadSetting inside, after_output;
    {
      ThreadPolicyScope scope(ThreadWork::kMatmul, 1e12);
      at::Tensor h = scope.Input(x).mm(w);
      h.register_hook([&](const at::Tensor& g) { inside = CurrentThreads(); });
      y = scope.Output(h.relu());
    }
    EXPECT_EQ(CurrentThreads(), default_);
    // Work after the network (a loss) runs its backward under the caller's setting.
    at::Tensor loss = (y * 2.0).sum();
    loss.register_hook([&](const at::Tensor& g) { after_output = CurrentThreads(); });
    loss.backward();
    EXPECT_EQ(after_output, default_);
    EXPECT_EQ(inside, matmul) << "input needs grad: " << input_needs_grad;
    EXPECT_EQ(CurrentThreads(), default_);
    EXPECT_TRUE(w.grad().defined());
    if (input_needs_grad) EXPECT_TRUE(torch::allclose(x.grad(), (2.0 * (x.mm(w) > 0).to(torch::kFloat)).mm(w.t())));
  }
}

TEST_F(ThreadPolicyTest, BackwardInsidePinnedScopeKeepsThePin) {
  at::Tensor x = torch::randn({8, 4}).requires_grad_(true);
  at::Tensor y;
  ThreadSetting inside;
  {
    ThreadPolicyScope scope(ThreadWork::kMatmul, 1e12);
    at::Tensor h = scope.Input(x) * 3.0;
    h.register_hook([&](const at::Tensor& g) { inside = CurrentThreads(); });
    y = scope.Output(h);
  }
  {
    ScopedThreads pinned(1, 1);
    y.sum().backward();
    EXPECT_EQ(CurrentThreads(), (ThreadSetting{1, 1}));
  }
  EXPECT_EQ(inside, (ThreadSetting{1, 1}));
}

}  // namespace
}  // namespace nerfedit
