#include "engine/distributed.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "util/error.h"
#include "util/runtime.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

// A TCP port nobody listens on now (the kernel's pick for port 0).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Runs body(group) on `world` ranks, one thread each (collectives only: no global random stream is involved).
void OnRanks(int world, const std::function<void(ProcessGroup&)>& body) {
  const std::string master = "127.0.0.1:" + std::to_string(FreePort());
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        ProcessGroup group(ProcessGroupOptions().rank(r).world_size(world).master(master).connect_timeout_s(30));
        body(group);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

#define NE_REQUIRE_GLOO()                                                                                     \
  if (!HaveGloo())                                                                                            \
  GTEST_SKIP() << "this build has no c10d Gloo backend (install libgloo-dev and re-run cmake): data-parallel " \
                  "training is disabled"

TEST(DataParallel, ShardsCoverEveryItemOnceInRankOrder) {
  for (int world : {1, 2, 3, 7}) {
    for (int64_t n : {7, 8, 100, 4096}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const auto [begin, end] = DataParallel{r, world}.Shard(n);
        EXPECT_EQ(begin, next);
        EXPECT_LE(std::abs((end - begin) - n / world), 1);
        next = end;
      }
      EXPECT_EQ(next, n);
    }
  }
  // 2 of 5 items on rank 0 of 2: its mean loss counts for 2 / 2.5 of an average rank's.
  EXPECT_DOUBLE_EQ((DataParallel{1, 2}.LossScale(5)), 2.0 * 2 / 5);
  EXPECT_DOUBLE_EQ((DataParallel{0, 2}.LossScale(5)), 2.0 * 3 / 5);
  EXPECT_DOUBLE_EQ((DataParallel{0, 1}.LossScale(5)), 1.0);
}

TEST(ProcessGroup, BadOptionsGetClearErrors) {
  EXPECT_NE(ErrorOf([] { ProcessGroupOptions().world_size(0).Check(); }).find("--world-size must be at least 1"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ProcessGroupOptions().world_size(2).rank(2).Check(); }).find("--rank 2 is out of range"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ProcessGroupOptions().world_size(2).rank(-1).Check(); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ProcessGroupOptions().world_size(2).master("node0").Check(); }).find("not ADDR:PORT"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ParseMasterAddress("node0:70000"); }).find("not in [1, 65535]"), std::string::npos);
  EXPECT_EQ(ParseMasterAddress("[::1]:29500"), std::make_pair(std::string("::1"), 29500));
  EXPECT_EQ(ParseMasterAddress("node-0.lan:1234"), std::make_pair(std::string("node-0.lan"), 1234));
  // A group of one needs nobody: its collectives leave tensors as they are.
  ProcessGroup alone{ProcessGroupOptions()};
  auto p = torch::ones({3}, torch::requires_grad());
  p.mutable_grad() = torch::full({3}, 2.0);
  alone.AverageGradients({p});
  EXPECT_TRUE(torch::equal(p.grad(), torch::full({3}, 2.0)));
}

TEST(ProcessGroup, UnreachableMasterTimesOutWithAMessage) {
  NE_REQUIRE_GLOO();
  const std::string master = "127.0.0.1:" + std::to_string(FreePort());  // nobody hosts it
  const double t0 = NowSeconds();
  const std::string error = ErrorOf(
      [&] { ProcessGroup(ProcessGroupOptions().rank(1).world_size(2).master(master).connect_timeout_s(1)); });
  EXPECT_NE(error.find("rank 1 could not reach the master " + master + " within 1 s"), std::string::npos) << error;
  EXPECT_LT(NowSeconds() - t0, 20);
}

TEST(ProcessGroup, AveragesGradientsOfEveryDtypeZeroFillingMissingOnes) {
  NE_REQUIRE_GLOO();
  OnRanks(2, [](ProcessGroup& group) {
    const int r = group.rank();
    auto a = torch::zeros({2, 3}, torch::requires_grad());                     // f32, grads on both ranks
    auto b = torch::zeros({4}, torch::dtype(torch::kDouble).requires_grad(true));  // f64, rank 1 only
    auto c = torch::zeros({5}, torch::requires_grad());                        // f32, no rank touched it
    a.mutable_grad() = torch::full({2, 3}, r == 0 ? 1.0 : 3.0);
    if (r == 1) b.mutable_grad() = torch::full({4}, 8.0, torch::kDouble);
    group.AverageGradients({a, b, c});
    EXPECT_TRUE(torch::equal(a.grad(), torch::full({2, 3}, 2.0)));
    EXPECT_TRUE(torch::equal(b.grad(), torch::full({4}, 4.0, torch::kDouble)));
    ASSERT_TRUE(c.grad().defined());  // defined on every rank afterwards: the next step's layout is the same
    EXPECT_TRUE(torch::equal(c.grad(), torch::zeros({5})));
  });
}

TEST(ProcessGroup, ReducesAndBroadcasts) {
  NE_REQUIRE_GLOO();
  OnRanks(3, [](ProcessGroup& group) {
    const double r = group.rank();
    auto values = torch::tensor({r, -r, 10 * r}, torch::kDouble);
    auto sum = values.clone(), high = values.clone(), low = values.clone();
    group.AllReduce(sum, ReduceOp::kSum);
    group.AllReduce(high, ReduceOp::kMax);
    group.AllReduce(low, ReduceOp::kMin);
    EXPECT_TRUE(torch::equal(sum, torch::tensor({3.0, -3.0, 30.0}, torch::kDouble)));
    EXPECT_TRUE(torch::equal(high, torch::tensor({2.0, 0.0, 20.0}, torch::kDouble)));
    EXPECT_TRUE(torch::equal(low, torch::tensor({0.0, -2.0, 0.0}, torch::kDouble)));
    // Rank 0's values everywhere, bool (sent as bytes) and integers included, in place (parameters keep identity).
    auto weights = torch::full({2, 2}, r + 1, torch::requires_grad());
    auto mask = torch::full({3}, group.rank() == 0);
    auto counts = torch::full({2}, group.rank() + 5, torch::kLong);
    const void* storage = weights.data_ptr();
    group.Broadcast({weights, mask, counts});
    EXPECT_EQ(weights.data_ptr(), storage);
    EXPECT_TRUE(torch::equal(weights.detach(), torch::ones({2, 2})));
    EXPECT_TRUE(mask.all().item<bool>());
    EXPECT_TRUE(torch::equal(counts, torch::full({2}, 5, torch::kLong)));
    group.Barrier();
  });
}

TEST(RankRandomScope, GivesRanksTheirOwnDrawsAndRestoresTheMainStream) {
  torch::manual_seed(3);
  const auto expected = torch::rand({4});
  std::vector<at::Tensor> inside;
  for (int r = 0; r < 2; ++r) {
    torch::manual_seed(3);
    {
      RankRandomScope scope(DataParallel{r, 2}, /*seed=*/0, /*step=*/7, c10::kCPU);
      inside.push_back(torch::rand({4}));
    }
    EXPECT_TRUE(torch::equal(torch::rand({4}), expected)) << "rank " << r << "'s main stream moved";
  }
  EXPECT_FALSE(torch::equal(inside[0], inside[1]));
  // One process: no scope at all (single-process runs draw exactly as before).
  torch::manual_seed(3);
  {
    RankRandomScope scope(DataParallel{}, 0, 7, c10::kCPU);
    EXPECT_TRUE(torch::equal(torch::rand({4}), expected));
  }
}

}  // namespace
}  // namespace nerfedit
