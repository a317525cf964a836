// Data-parallel `nerf` training (engine/distributed.h): two ranks on loopback, each a process of its own (torch's
// random stream is per process), against one process taking the same global batches.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "data/procedural_scene.h"
#include "engine/distributed.h"
#include "engine/trainer.h"
#include "methods/nerf/nerf_method.h"
#include "util/runtime.h"
#include "util/test_util.h"
#include "util/thread_policy.h"

extern char** environ;

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

constexpr char kWorkerVariable[] = "NERFEDIT_DP_TEST_WORKER";  // "rank world master scene out" in a worker process

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Small enough for a few seconds per process, and long enough that everything adaptive happens: grid updates every
// 8 steps (warm-up, then random cells), a batch adapted to the samples it produced, checkpoints on the way.
NerfConfig DataParallelConfig(const std::string& scene) {
  NerfConfig c;
  c.data = scene;
  c.test_every = 0;
  c.trainer.steps = 40;
  c.trainer.eval_every = 0;
  c.trainer.checkpoint_every = 20;
  c.trainer.device = "cpu";
  c.batch_rays = 1000;  // 500 pixels a rank
  c.target_samples_per_step = 12000;
  c.step_size = 0.04;
  c.grid_resolution = 16;
  c.grid_update_every = 8;
  c.grid_warmup_steps = 16;
  c.field_config = {{"encoding", {{"log2_hashmap_size", 12}, {"max_resolution", 64}}}};
  return c;
}

// What a training leaves for comparison: the replicated state (field weights, occupancy grid), the adapted batch,
// and the gradients of the first step as the optimizer saw them (averaged over the ranks).
struct Outcome {
  std::vector<at::Tensor> state, first_gradients;
  int64_t batch_rays = 0;
};

Outcome Train(const NerfConfig& config, const std::string& run_dir, TrainerOptions options,
              Collective* collective) {
  auto trainer = StartRun(run_dir, [&] { return std::make_unique<NerfMethod>(config, options.parallel); }, options);
  Outcome outcome;
  trainer->SetGradientReducer([&](const std::vector<at::Tensor>& parameters) {
    if (collective != nullptr) collective->AverageGradients(parameters);
    if (outcome.first_gradients.empty()) {
      for (const auto& p : parameters) outcome.first_gradients.push_back(p.grad().clone());
    }
  });
  trainer->Train();
  auto& method = static_cast<NerfMethod&>(trainer->method());
  for (const auto& t : method.ReplicatedState()) outcome.state.push_back(t.detach().clone());
  outcome.batch_rays = method.batch_rays();
  return outcome;
}

void Save(const Outcome& o, const std::string& path) {
  torch::serialize::OutputArchive archive;
  for (size_t i = 0; i < o.state.size(); ++i) archive.write("state" + std::to_string(i), o.state[i], true);
  for (size_t i = 0; i < o.first_gradients.size(); ++i) {
    archive.write("grad" + std::to_string(i), o.first_gradients[i], true);
  }
  archive.write("batch_rays", torch::tensor(o.batch_rays), true);
  archive.save_to(path);
}

Outcome Load(const std::string& path, size_t states, size_t gradients) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  Outcome o;
  o.state.resize(states);
  o.first_gradients.resize(gradients);
  for (size_t i = 0; i < states; ++i) archive.read("state" + std::to_string(i), o.state[i], true);
  for (size_t i = 0; i < gradients; ++i) archive.read("grad" + std::to_string(i), o.first_gradients[i], true);
  at::Tensor batch;
  archive.read("batch_rays", batch, true);
  o.batch_rays = batch.item<int64_t>();
  return o;
}

double MaxAbsDiff(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, (a[i].to(at::kDouble) - b[i].to(at::kDouble)).abs().max().item<double>());
  }
  return m;
}

// One rank of TwoRanksMatchOneProcess, run in a process of its own that the test starts (this binary again).
TEST(NerfDataParallel, RankWorker) {
  const char* spec = std::getenv(kWorkerVariable);
  if (spec == nullptr) GTEST_SKIP() << "a rank of NerfDataParallel.TwoRanksMatchOneProcess, run only by it";
  std::istringstream in(spec);
  int rank = 0, world = 0;
  std::string master, scene, out;
  in >> rank >> world >> master >> scene >> out;
  ProcessGroup group(ProcessGroupOptions().rank(rank).world_size(world).master(master).connect_timeout_s(60));
  TrainerOptions options{/*quiet=*/true, /*save_eval_images=*/false};
  options.parallel = group.data_parallel();
  const Outcome outcome =
      Train(DataParallelConfig(scene), out + "/run" + std::to_string(rank), options, &group);
  Save(outcome, out + "/rank" + std::to_string(rank) + ".pt");
}

TEST(NerfDataParallel, TwoRanksMatchOneProcess) {
  if (!HaveGloo()) {
    GTEST_SKIP() << "this build has no c10d Gloo backend (install libgloo-dev and re-run cmake): data-parallel "
                    "training is disabled";
  }
  testing::TempDir dir;
  const std::string scene = dir / "scene";
  WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions().num_views(12).width(32).height(32), scene);
  const std::string master = "127.0.0.1:" + std::to_string(FreePort());

  // Two ranks, one thread each, in processes of their own.
  std::vector<pid_t> workers;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.push_back(std::string(kWorkerVariable) + "=" + std::to_string(rank) + " 2 " + master + " " + scene + " " +
                  dir.path());
    env.push_back("NERFEDIT_THREADS=1");
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string exe = fs::read_symlink("/proc/self/exe").string(), filter = "--gtest_filter=NerfDataParallel.RankWorker";
    char* argv[] = {exe.data(), filter.data(), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()), 0);
    workers.push_back(pid);
  }
  // Meanwhile, one process taking the same global batches, on one thread too.
  Outcome single;
  {
    ScopedThreads one(1, 1);
    single = Train(DataParallelConfig(scene), dir / "single", {true, false}, nullptr);
  }
  const double deadline = NowSeconds() + 120;
  for (pid_t pid : workers) {
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (NowSeconds() > deadline) {
        for (pid_t p : workers) kill(p, SIGKILL);
        FAIL() << "the ranks did not finish within 120 s";
      }
      usleep(20000);
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a rank failed (status " << status << ")";
  }
  const Outcome rank0 = Load(dir / "rank0.pt", single.state.size(), single.first_gradients.size());
  const Outcome rank1 = Load(dir / "rank1.pt", single.state.size(), single.first_gradients.size());

  // The ranks are one model: bit-equal weights and grid, the same adapted batch.
  EXPECT_EQ(MaxAbsDiff(rank0.state, rank1.state), 0.0);
  EXPECT_EQ(rank0.batch_rays, rank1.batch_rays);
  // Rank 0 alone wrote the run.
  EXPECT_TRUE(fs::exists(dir / "run0/checkpoint.pt"));
  EXPECT_FALSE(fs::exists(dir / "run1/checkpoint.pt"));

  // The first step's averaged gradient is the one-process gradient of the same batch up to float32 summation
  // order (each rank sums its half of the rays, then the halves are added): relative 1e-5 of the largest entry.
  // Checked directly because Adam (eps 1e-15) would hide a wrongly scaled gradient from the weights.
  double largest = 0;
  for (const auto& g : single.first_gradients) largest = std::max(largest, g.abs().max().item<double>());
  ASSERT_GT(largest, 0);
  EXPECT_LT(MaxAbsDiff(rank0.first_gradients, single.first_gradients), 1e-5 * largest);

  // After 40 steps: the same adapted batch (the sample count is summed over the ranks), and weights within 1e-3 of
  // the single process's - a tenth of one Adam step at lr 1e-2. Only summation order differs, but Adam divides by
  // sqrt(v), so entries whose gradients are tiny move by up to a step on rounding noise; a wrong slice (both
  // ranks rendering the same rays) or another batch sequence puts most weights a full step apart.
  EXPECT_EQ(rank0.batch_rays, single.batch_rays);
  ASSERT_GT(single.state.size(), 2u);
  const size_t weights = single.state.size() - 2;  // then the grid's density and occupancy (ReplicatedState)
  const std::vector<at::Tensor> w0(rank0.state.begin(), rank0.state.begin() + weights);
  const std::vector<at::Tensor> w1(single.state.begin(), single.state.begin() + weights);
  const double weights_diff = MaxAbsDiff(w0, w1);
  const at::Tensor& density0 = rank0.state[weights];
  const at::Tensor& density1 = single.state[weights];
  const double density_diff = (density0 - density1).abs().max().item<double>() / density1.abs().max().item<double>();
  const double occupancy_agreement = rank0.state[weights + 1].eq(single.state[weights + 1]).to(at::kDouble).mean().item<double>();
  std::printf("2 ranks vs 1 process after 40 steps: max |weight diff| %.3g, grid density %.3g of its max, occupancy "
              "agreement %.4f\n", weights_diff, density_diff, occupancy_agreement);
  EXPECT_LT(weights_diff, 1e-3);
  EXPECT_LT(density_diff, 1e-3);
  EXPECT_EQ(occupancy_agreement, 1.0);
}

}  // namespace
}  // namespace nerfedit
