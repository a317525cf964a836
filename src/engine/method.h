// The contract between a method and the engine (nerfstudio's Pipeline/Model split): the method says what one
// training step is (its losses, its optimizers), how it evaluates and what its checkpoint holds; the Trainer
// (engine/trainer.h) owns the loop, budgets, schedules, progress, evaluation cadence, checkpoints and resume.
#pragma once
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/data_parallel.h"
#include "engine/lr_schedule.h"
#include "engine/trainer_config.h"

namespace nerfedit {

// An optimizer the method owns, named in checkpoints ("field", "codes", "generator", "discriminator", ...), and the
// learning-rate schedule the Trainer applies to it before every step.
struct OptimizerSlot {
  std::string name;
  torch::optim::Optimizer* optimizer = nullptr;
  LrSchedule schedule;
};

// Data-parallel training: averages the gradients of `parameters` across processes (engine/trainer.h's hook).
using GradientReducer = std::function<void(const std::vector<at::Tensor>& parameters)>;

struct StepContext {
  int64_t step = 0;     // index of this step, from 0
  double progress = 0;  // fraction of the step / time budget spent, in [0, 1]
  const GradientReducer* reducer = nullptr;

  // Call between backward() and the optimizer step with the parameters every process shares; no-op in one process.
  void ReduceGradients(const std::vector<at::Tensor>& parameters) const;
  // Throws a user-facing error (before any optimizer step touches the weights) when a loss is NaN or infinite.
  void CheckFinite(double loss, const std::string& what) const;
};

struct StepResult {
  double loss = 0;           // what the progress bar smooths and the Trainer checks for NaN
  bool loss_is_mse = true;   // the bar also shows the PSNR of the smoothed loss
  std::string status;        // more progress-bar text, e.g. "rays 4096  occ 9.1%"
};

struct EvalRequest {
  int64_t max_views = 0;  // 0 = every held-out view
  bool final = false;     // the end-of-training evaluation: every metric, images when image_dir is set
  std::string image_dir;
};

struct Evaluation {
  bool valid = false;                                   // false: nothing to evaluate on (no held-out data)
  nlohmann::json curve_point = nlohmann::json::object();  // scalars for curve.json, e.g. {"psnr": .., "ssim": ..}
  nlohmann::json report = nlohmann::json::object();     // RUN/eval.json (final evaluation)
  nlohmann::json summary = nlohmann::json::object();    // the `summary:` line's figures, e.g. {"psnr_db": ..}
  std::string headline;                                 // one line for the log, e.g. "held-out PSNR 30.12 dB"
};

class Method {
 public:
  virtual ~Method() = default;

  virtual std::string Name() const = 0;              // the registry name, stored in run.json and checkpoints
  virtual nlohmann::json ConfigJson() const = 0;     // the resolved config: the method's keys and the trainer's
  virtual const TrainerConfig& trainer_config() const = 0;
  virtual nlohmann::json RunExtras() const { return nlohmann::json::object(); }  // more of run.json (box, cameras)

  virtual std::vector<OptimizerSlot> Optimizers() = 0;
  virtual void SetTraining(bool training) = 0;
  virtual StepResult Step(const StepContext& context) = 0;
  virtual Evaluation Evaluate(const EvalRequest& request) = 0;

  // What the checkpoint holds besides the optimizers' states (the Trainer writes those): weights, buffers and any
  // adaptive state (an occupancy grid, a batch size) that resuming must restore.
  virtual void SaveState(torch::serialize::OutputArchive& archive) = 0;
  virtual void LoadState(torch::serialize::InputArchive& archive) = 0;

  // Data-parallel runs (the method got its DataParallel at construction). The tensors every rank holds identically
  // (shared weights, adaptive buffers such as an occupancy grid): broadcast from rank 0 when training starts and
  // compared across ranks at every checkpoint, which stops the run if they drifted apart. Default: the parameters of
  // every optimizer; a method that shards some of them (per-image latents) returns only the shared ones.
  virtual std::vector<at::Tensor> ReplicatedState();
  // Called on every rank before rank 0 alone writes a checkpoint: a method whose state is sharded across ranks
  // collects it into rank 0's here (SaveState itself runs on rank 0 only and must not communicate).
  virtual void GatherForCheckpoint() {}
};

}  // namespace nerfedit
