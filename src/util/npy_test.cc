#include "util/npy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {

TEST(Npy, RoundTripsEachDtype) {
  testing::TempDir dir;
  for (auto t : {torch::rand({3, 5}), torch::randint(0, 100, {4}, torch::kInt), torch::randint(0, 255, {2, 2, 3}, torch::kByte)}) {
    WriteNpy(dir / "x.npy", t);
    auto back = ReadNpy(dir / "x.npy");
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(back, t));
  }
}

TEST(Npy, TruncatedFileIsAnError) {
  testing::TempDir dir;
  WriteNpy(dir / "x.npy", torch::rand({64, 64}));
  std::filesystem::resize_file(dir / "x.npy", 1000);
  EXPECT_THROW(ReadNpy(dir / "x.npy"), Error);
}

}  // namespace nerfedit
