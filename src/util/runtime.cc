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

int ConfigureThreads() {
  static int threads = [] {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("NERFEDIT_THREADS")) n = std::atoi(env);
    if (n < 1) n = 1;
    at::set_num_threads(n);
    // OpenBLAS' own threads would compete with torch's intra-op threads for the same cores (measured 30% slower).
    SetBlasThreads(1);
    return n;
  }();
  return threads;
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
