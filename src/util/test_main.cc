// gtest main shared by every test binary: reseeds torch per test and pins the thread count.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "util/runtime.h"

namespace {
class ReseedEachTest : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { torch::manual_seed(0); }
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  nerfedit::ConfigureThreads();
  ::testing::UnitTest::GetInstance()->listeners().Append(new ReseedEachTest);
  return RUN_ALL_TESTS();
}
