#include "util/runtime.h"

#include <torch/cuda.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "util/thread_policy.h"
#include "util/error.h"

namespace nerfedit {

namespace {
int g_threads = 0;  // 0: not configured yet
}  // namespace

int ConfigureThreads() {
  if (g_threads == 0) {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("NERFEDIT_THREADS")) n = std::atoi(env);
    g_threads = n < 1 ? 1 : n;
    at::set_num_threads(g_threads);
    // OpenBLAS' own threads would compete with torch's intra-op threads for the same cores (measured 30% slower).
    SetBlasThreads(1);
  }
  return g_threads;
}

void UseOneThread() {
  // Every later ConfigureThreads (and so every ThreadPolicyScope) sees one core: reductions run in one fixed order.
  g_threads = 1;
  at::set_num_threads(1);
  SetBlasThreads(1);
}

c10::Device ParseDevice(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name == "auto") {
    const bool available = torch::cuda::is_available();
    if (name == "auto") return available ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
    NE_CHECK(available, "--device cuda: this build or machine has no CUDA (LibTorch reports none)");
    return c10::Device(c10::kCUDA);
  }
  NE_FAIL("unknown device \"", name, "\" (expected cpu, cuda or auto)");
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double PeakMemoryMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0.0;
}

}  // namespace nerfedit
