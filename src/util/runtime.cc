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

namespace {

// A "Key:   123 kB" line of /proc/self/status in MB; 0 when absent (not Linux).
double ProcStatusMb(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + key.size()) / 1024.0;
  }
  return 0.0;
}

}  // namespace

double PeakMemoryMb() { return ProcStatusMb("VmHWM:"); }

std::string CacheDir(const std::string& name, const char* override_env) {
  if (override_env != nullptr) {
    if (const char* env = std::getenv(override_env); env != nullptr && *env) return env;
  }
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache != nullptr && *cache) {
    return std::string(cache) + "/nerfedit/" + name;
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.cache/nerfedit/" + name;
}
double ResidentMemoryMb() { return ProcStatusMb("VmRSS:"); }

}  // namespace nerfedit
