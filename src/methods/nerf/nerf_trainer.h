// Trains the `nerf` pipeline: random ray batches from all training pixels -> NerfModel -> MSE -> Adam, with
// periodic held-out evaluation, atomic checkpoints, --resume, and a clear stop on a NaN loss or Ctrl-C.
#pragma once
#include <torch/optim/adam.h>

#include <functional>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "methods/nerf/nerf_checkpoint.h"
#include "methods/nerf/nerf_eval.h"
#include "methods/nerf/nerf_model.h"

namespace nerfedit {

struct TrainerOptions {
  bool quiet = false;          // no progress bar
  bool save_eval_images = true;  // final evaluation writes renders beside ground truth into RUN/eval/
};

// Extra supervision a method adds to the photometric loss (DFF's feature loss): from the batch's training-camera
// indices [R] i64, pixel centres [R,2] f32 (x, y in pixels) and the render, a scalar loss, already weighted.
using AuxiliaryLoss = std::function<at::Tensor(const at::Tensor& camera, const at::Tensor& xy, const RenderOutputs&)>;

class NerfTrainer {
 public:
  // New run: run_dir must not exist or be empty. Loads the data named by config.data.
  NerfTrainer(const NerfConfig& config, const std::string& run_dir, TrainerOptions options = {});
  // Resumes run_dir from its checkpoint; steps/time budget may be raised by the caller via config overrides.
  static std::unique_ptr<NerfTrainer> Resume(const std::string& run_dir, const nlohmann::json& overrides,
                                             TrainerOptions options = {});

  // Runs until config.steps or config.time_budget_s; writes checkpoints, RUN/eval.json and RUN/curve.json.
  EvalResult Train();

  void SetAuxiliaryLoss(AuxiliaryLoss loss) { auxiliary_loss_ = std::move(loss); }

  NerfModel& model() { return *model_; }
  const std::shared_ptr<NerfModel>& model_ptr() const { return model_; }
  const NerfConfig& config() const { return config_; }
  const std::string& run_dir() const { return run_dir_; }
  const Dataset& train_set() const { return train_; }
  const Dataset& test_set() const { return test_; }
  const TrainingProgress& progress() const { return progress_; }

 private:
  NerfTrainer(const NerfConfig& config, const std::string& run_dir, TrainerOptions options, bool resume);
  double Step();  // one optimisation step; returns the batch MSE
  double Progress() const;
  void SetLearningRate();
  void RecordEval(const EvalResult& eval);

  NerfConfig config_;
  std::string run_dir_;
  TrainerOptions options_;
  Dataset train_, test_;
  std::shared_ptr<NerfModel> model_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  TrainingProgress progress_;
  // Training pixels flattened once: [P,3] f32 and [P] f32 alpha (undefined without alpha), on the model's device.
  at::Tensor pixels_, alphas_, intrinsics_, poses_;
  int64_t batch_rays_ = 0;
  AuxiliaryLoss auxiliary_loss_;
};

}  // namespace nerfedit
