// The `lolnerf` method on the engine (Rebain et al. 2022): random pixels over many training images per step, each
// ray rendered with its image's GLO latent; loss = MSE + mask_weight * mean (fg opacity - mask)^2
// + hard_surface_weight * L_hard(weights) + code_norm_weight * mean ||z||^2; two optimizers, "field" (foreground
// field + background) and "codes" (the latent table, its own learning rate). Evaluated by the PSNR of training images
// re-rendered with their latents.
#pragma once
#include <torch/optim/adam.h>

#include <memory>
#include <string>

#include "data/category_scene.h"
#include "engine/data_parallel.h"
#include "engine/method.h"
#include "engine/ray_data_manager.h"
#include "methods/lolnerf/lolnerf_config.h"
#include "methods/lolnerf/lolnerf_model.h"
#include "methods/lolnerf/lolnerf_poses.h"

namespace nerfedit {

class LolnerfMethod : public Method {
 public:
  // Checks the config, loads the category data, estimates poses / canonical landmarks (writing
  // run_dir/estimated_cameras.json when poses are estimated), builds the model.
  // Data-parallel (parallel.active()): every rank draws the same global batch and renders its slice of the pixels;
  // the field's, background's and latents' gradients are averaged, which is the one-process gradient exactly.
  LolnerfMethod(const LolnerfConfig& config, const std::string& run_dir, bool quiet,
                DataParallel parallel = DataParallel());

  std::string Name() const override { return "lolnerf"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const TrainerConfig& trainer_config() const override { return config_.trainer; }
  // {"aabb", "cameras" (training), "latent_index", "landmarks" (canonical model), "pose_rot_err_deg"}
  nlohmann::json RunExtras() const override;
  std::vector<OptimizerSlot> Optimizers() override;
  void SetTraining(bool training) override { model_->SetTraining(training); }
  StepResult Step(const StepContext& context) override;
  Evaluation Evaluate(const EvalRequest& request) override;
  void SaveState(torch::serialize::OutputArchive& archive) override { model_->SaveState(archive); }
  void LoadState(torch::serialize::InputArchive& archive) override { model_->LoadState(archive); }

  LolnerfModel& model() { return *model_; }
  const CategoryDataset& data() const { return data_; }
  const LolnerfPoses& poses() const { return poses_; }

 private:
  LolnerfConfig config_;
  DataParallel parallel_;
  CategoryDataset data_;
  LolnerfPoses poses_;
  std::shared_ptr<LolnerfModel> model_;
  std::unique_ptr<torch::optim::Optimizer> field_optimizer_, code_optimizer_;
  RayDataManager rays_;
  at::Tensor latent_of_image_;  // [N] i64
  at::Tensor masks_;            // [N*H*W] f32 or undefined
};

}  // namespace nerfedit
