#include "engine/lr_schedule.h"

#include <torch/optim/optimizer.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace nerfedit {

double LrSchedule::At(int64_t step, double progress) const {
  double value = lr * std::pow(final_factor, std::clamp(progress, 0.0, 1.0));
  if (warmup_steps > 0 && step < warmup_steps) value *= 0.1 + 0.9 * static_cast<double>(step) / warmup_steps;
  return value;
}

void LrSchedule::Check(const char* context) const {
  NE_CHECK(lr > 0 && std::isfinite(lr), context, ": lr must be > 0, got ", lr);
  NE_CHECK(final_factor > 0 && final_factor <= 1, context, ": lr_final_factor must be in (0, 1], got ", final_factor);
  NE_CHECK(warmup_steps >= 0, context, ": lr_warmup_steps must be >= 0, got ", warmup_steps);
}

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace nerfedit
