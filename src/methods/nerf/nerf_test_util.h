// Shared by tests that need a small trained nerf run (nerf_test, stylize_test).
#pragma once
#include <cstdint>
#include <string>

#include "methods/nerf/nerf_config.h"

namespace nerfedit {

// The small hash-grid nerf the tests train in seconds on a 48-px procedural scene at `data`: 1024 rays per step, a
// 32^3 occupancy grid, a 2^15 x 256 hash grid, no evaluation or checkpoints during training, on the CPU.
inline NerfConfig SmallNerfConfig(const std::string& data, int64_t steps, int64_t test_every) {
  NerfConfig c;
  c.data = data;
  c.test_every = test_every;
  c.trainer.steps = steps;
  c.batch_rays = 1024;
  c.trainer.eval_every = 0;
  c.trainer.checkpoint_every = 0;
  c.grid_resolution = 32;
  c.grid_warmup_steps = 64;
  c.field_config = {{"encoding", {{"log2_hashmap_size", 15}, {"max_resolution", 256}}}};
  c.trainer.device = "cpu";
  return c;
}

}  // namespace nerfedit
