#include "engine/data_parallel.h"

#include <ATen/Context.h>

#include <mutex>

#include "util/error.h"

namespace nerfedit {

std::pair<int64_t, int64_t> DataParallel::Shard(int64_t n) const {
  NE_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "rank ", rank, " is not within world size ", world_size);
  NE_CHECK(n >= 0, "cannot shard ", n, " items");
  const int64_t base = n / world_size, extra = n % world_size;
  // The first `extra` ranks take one more.
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

double DataParallel::LossScale(int64_t n) const {
  if (!active()) return 1.0;
  const auto [begin, end] = Shard(n);
  return static_cast<double>(world_size) * static_cast<double>(end - begin) / static_cast<double>(n);
}

RankRandomScope::RankRandomScope(const DataParallel& parallel, int64_t seed, int64_t step, c10::Device device) {
  if (!parallel.active()) return;
  std::vector<at::Generator> generators = {at::globalContext().defaultGenerator(c10::Device(c10::kCPU))};
  if (!device.is_cpu()) generators.push_back(at::globalContext().defaultGenerator(device));
  // A distinct seed per (seed, step, rank); the mixing constants only spread nearby values apart.
  const uint64_t stream = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull ^
                          (static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ull + static_cast<uint64_t>(parallel.rank));
  for (auto& g : generators) {
    std::lock_guard<std::mutex> lock(g.mutex());
    saved_.emplace_back(g, g.get_state());
    g.set_current_seed(stream);
  }
}

RankRandomScope::~RankRandomScope() {
  for (auto& [g, state] : saved_) {
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
  }
}

}  // namespace nerfedit
