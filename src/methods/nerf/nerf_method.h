// The `nerf` method on the engine: random pixel batches (RayDataManager) -> NerfModel (sampler -> field ->
// compositing) -> MSE -> Adam, evaluated by PSNR / SSIM / depth error on the held-out views. Methods that are a
// radiance field plus their own extras (dff) build on it through the two protected hooks.
#pragma once
#include <torch/optim/adam.h>

#include <memory>
#include <string>

#include "data/dataset.h"
#include "engine/method.h"
#include "engine/ray_data_manager.h"
#include "methods/nerf/nerf_config.h"
#include "methods/nerf/nerf_eval.h"
#include "methods/nerf/nerf_model.h"

namespace nerfedit {

class NerfMethod : public Method {
 public:
  // Checks the config, loads the data it names (split into training and held-out views), builds the model.
  // parallel: this process's share of a data-parallel run: every rank draws the same global batch and renders its
  // slice of the pixels (DataParallel::Shard); the sample count that adapts the batch is summed over the ranks.
  explicit NerfMethod(const NerfConfig& config, DataParallel parallel = {});

  std::string Name() const override { return "nerf"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const TrainerConfig& trainer_config() const override { return config_.trainer; }
  nlohmann::json RunExtras() const override;  // {"aabb", "cameras"}: what rendering a run needs without its data
  std::vector<OptimizerSlot> Optimizers() override;
  void SetTraining(bool training) override;
  StepResult Step(const StepContext& context) override;
  Evaluation Evaluate(const EvalRequest& request) override;
  void SaveState(torch::serialize::OutputArchive& archive) override;
  void LoadState(torch::serialize::InputArchive& archive) override;
  std::vector<at::Tensor> ReplicatedState() override;  // the field's parameters and the occupancy grid

  NerfModel& model() { return *model_; }
  const std::shared_ptr<NerfModel>& model_ptr() const { return model_; }
  const NerfConfig& nerf_config() const { return config_; }
  const Dataset& train_set() const { return train_; }
  const Dataset& test_set() const { return test_; }
  int64_t batch_rays() const { return batch_rays_; }

  // A held-out evaluation as the engine reports it (curve point, eval.json, summary figures).
  static Evaluation ToEvaluation(const EvalResult& result);

 protected:
  // The training render of a batch (dff renders features on a share of the rays with detached densities).
  virtual RenderOutputs RenderTrainingBatch(const PixelBatch& batch);
  // A loss added to the photometric one, already weighted; undefined = none.
  virtual at::Tensor ExtraLoss(const PixelBatch& batch, const RenderOutputs& out) { return at::Tensor(); }

 private:
  NerfConfig config_;
  Dataset train_, test_;
  std::shared_ptr<NerfModel> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;         // the field's dense parameters (MLPs)
  std::unique_ptr<torch::optim::Optimizer> table_optimizer_;   // hash tables with sparse_adam, else null
  RayDataManager data_;
  int64_t batch_rays_ = 0;
  double occupied_percent_ = 100;
  DataParallel parallel_;
};

}  // namespace nerfedit
