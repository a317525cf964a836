// bench/distributed's comparison: the largest difference between the field weights of two runs of the same config
// (one process vs data-parallel ranks), and the mean, so one outlier can be told from a general drift.
#include <torch/torch.h>

#include <cstdio>

#include "methods/method_registry.h"
#include "methods/nerf/nerf_model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: distributed_bench RUN_A RUN_B\n");
    return 2;
  }
  try {
    const auto a = nerfedit::LoadSceneRun(argv[1], "cpu")->field()->parameters();
    const auto b = nerfedit::LoadSceneRun(argv[2], "cpu")->field()->parameters();
    if (a.size() != b.size()) throw std::runtime_error("the runs' fields have different parameter lists");
    double max_diff = 0, sum_diff = 0, max_weight = 0;
    int64_t count = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const auto d = (a[i].detach().to(torch::kDouble) - b[i].detach().to(torch::kDouble)).abs();
      max_diff = std::max(max_diff, d.max().item<double>());
      sum_diff += d.sum().item<double>();
      count += d.numel();
      max_weight = std::max(max_weight, a[i].detach().abs().max().item<double>());
    }
    std::printf("parameters=%lld mean_abs_diff=%.3g max_abs_weight=%.3g max_param_diff=%.3g\n",
                static_cast<long long>(count), sum_diff / count, max_weight, max_diff);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
