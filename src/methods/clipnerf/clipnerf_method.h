// The `clipnerf` method on the engine, objective "glo" (CLIP-NeRF's generator trained as an auto-decoder on posed
// single views, the non-adversarial option): random pixels over many training images per step, each ray
// rendered with its instance's codes [z_s | z_a]; loss = MSE + mask_weight * mean (fg opacity - mask)^2
// + hard_surface_weight * L_hard(weights) + code_norm_weight * mean ||z||^2 (the code-norm regulariser).
// Two optimizers: "field" (generator field + background) and "codes" (the code table, its own learning rate).
// Evaluated on training images and on the held-apart views of the training instances (transforms_eval.json), against
// the category generator's exact renders. Objective "gan" (the paper's, clipnerf_gan.h): random codes and prior
// cameras against the training images as unposed real samples, a PatchGAN with R1; evaluated by the Fréchet distance
// of CLIP embeddings between generated and real images (gan_fd_start at step 0, gan_fd at each evaluation).
#pragma once
#include <torch/optim/adam.h>

#include <memory>
#include <string>

#include "data/category_scene.h"
#include "engine/data_parallel.h"
#include "engine/method.h"
#include "engine/ray_data_manager.h"
#include "eval/image_metrics.h"  // MaskIou
#include "methods/clipnerf/clipnerf_config.h"
#include "methods/clipnerf/clipnerf_gan.h"
#include "methods/clipnerf/clipnerf_model.h"

namespace nerfedit {

class ClipnerfMethod : public Method {
 public:
  ClipnerfMethod(const ClipnerfConfig& config, bool quiet, DataParallel parallel = DataParallel());

  std::string Name() const override { return "clipnerf"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const TrainerConfig& trainer_config() const override { return config_.trainer; }
  // {"aabb", "cameras" (training), "latent_index", "num_latents", "kind"}
  nlohmann::json RunExtras() const override;
  std::vector<OptimizerSlot> Optimizers() override;
  void SetTraining(bool training) override { model_->SetTraining(training); }
  StepResult Step(const StepContext& context) override;
  Evaluation Evaluate(const EvalRequest& request) override;
  void SaveState(torch::serialize::OutputArchive& archive) override;
  void LoadState(torch::serialize::InputArchive& archive) override;

  ClipnerfModel& model() { return *model_; }
  const CategoryDataset& data() const { return data_; }

 private:
  ClipnerfConfig config_;
  CategoryDataset data_;
  CategoryDataset eval_;  // held-apart views (data.size() == 0 when the dataset has none)
  std::shared_ptr<ClipnerfModel> model_;
  std::unique_ptr<torch::optim::Optimizer> field_optimizer_, code_optimizer_;
  RayDataManager rays_;
  at::Tensor latent_of_image_;  // [N] i64
  at::Tensor masks_;            // [N*H*W] f32 or undefined
  // Objective "gan".
  Evaluation EvaluateGan(const EvalRequest& request);
  double GanFd();  // FD of fd_images generated (fixed seed) vs real images; -1 without a CLIP
  std::unique_ptr<ClipnerfGan> gan_;
  ClipModel fd_clip_{nullptr};
  at::Tensor fd_real_;          // [fd_images,H,W,3] f32
  double gan_fd_start_ = -1;
};

// The held-apart views file of a category dataset (DIR/transforms_eval.json, or beside a transforms file); "" if none.
std::string CategoryEvalPath(const std::string& data);

// Foreground PSNR: the MSE over pixels where mask > 0.5 (the bench's novel-view measure), in dB.
double ForegroundPsnr(const at::Tensor& rgb, const at::Tensor& truth, const at::Tensor& mask);

}  // namespace nerfedit
