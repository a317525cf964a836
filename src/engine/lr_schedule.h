// Learning-rate schedules the Trainer applies to each of a method's optimizers before every step.
#pragma once
#include <cstdint>

namespace torch::optim {
class Optimizer;
}

namespace nerfedit {

// Exponential decay from lr to lr * final_factor over training progress (0..1), after a linear warm-up from
// 0.1 * lr over warmup_steps (Instant-NGP / nerfacc style). final_factor 1 and no warm-up = constant.
struct LrSchedule {
  double lr = 1e-2;
  double final_factor = 1.0;
  int64_t warmup_steps = 0;

  double At(int64_t step, double progress) const;
  void Check(const char* context) const;
};

// Sets the learning rate of every parameter group of the optimizer.
void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace nerfedit
