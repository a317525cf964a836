// The `stylize` method on the engine (StylizedNeRF, Huang et al. CVPR 2022): a trained `nerf` run with its density
// frozen and its colour replaced by a style module conditioned on per-(style, view) latents, learnt by 2D-3D mutual
// learning with the AdaIN decoder. One step, for a random style s and views v, u:
//   2D: y = g(AdaIN(f(c), f(s))) for the frozen run's own renders c of v and u;
//   3D: r = the style module's render of v at latent l_{s,v} (cached frozen weights, stylize_views.h), the sky
//       (what the density leaves empty) painted by the style module too (SkyPoints in style_module.h);
//   NeRF side   L_3d = mimic_weight * mean((r - y_v)^2) + kl_weight * KL(q(l_{s,v}) || p(l | s))
//                    [+ render_style_weight * L_style(r, s), not in the paper, off by default];
//   decoder     L_2d = content_weight * ||f(y) - t||^2 + style_weight * L_style(y, s)
//                    + consistency_weight * masked ||y_v - warp(y_u -> v)||^2 (the frozen depth, occlusion-tested)
//                    + reverse_mimic_weight * mean((y_v - r)^2);
// each side sees the other's output detached. Two optimizers: "style" (style module + latents), "decoder".
#pragma once
#include <torch/optim/adam.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/method.h"
#include "methods/nerf/nerf_model.h"
#include "methods/stylize/style_module.h"
#include "methods/stylize/stylize_config.h"
#include "methods/stylize/stylize_views.h"
#include "models2d/adain.h"

namespace nerfedit {

// The style module's options for a run of `config` over the scene box aabb [2,3].
StyleModuleOptions StyleOptionsFor(const StylizeConfig& config, const at::Tensor& aabb);

class StylizeMethod : public Method {
 public:
  // Loads the nerf run (refusing runs of other methods), the styles (refusing files that are not images) and the
  // AdaIN network, caches the training views, trains the VAE and sets each style's prior and latents.
  StylizeMethod(const StylizeConfig& config, bool quiet);

  std::string Name() const override { return "stylize"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const TrainerConfig& trainer_config() const override { return config_.trainer; }
  // {"nerf_config", "aabb", "cameras" (the nerf run's training cameras), "num_views", "style_names"}
  nlohmann::json RunExtras() const override;
  std::vector<OptimizerSlot> Optimizers() override;
  void SetTraining(bool training) override;
  StepResult Step(const StepContext& context) override;
  Evaluation Evaluate(const EvalRequest& request) override;
  void SaveState(torch::serialize::OutputArchive& archive) override;
  void LoadState(torch::serialize::InputArchive& archive) override;

  // The style loss (AdaIN's mean/std loss in the training encoder) of view k rendered under style s: by the style
  // module at the style's render latent, or (unstyled) the frozen run's own render.
  double StyleLoss(int64_t style, int64_t view, bool unstyled);
  // The same loss of any image [H,W,3] in [0,1].
  double ImageStyleLoss(int64_t style, const at::Tensor& image);
  // The 2D network's output for view k's content under style s, [H,W,3] (unclamped).
  at::Tensor DecoderOutput(int64_t style, int64_t view);
  at::Tensor RenderView(int64_t style, int64_t view);
  // The same style loss for the 2D network's output on view k's content (what the mimic loss pulls renders to).
  double DecoderStyleLoss(int64_t style, int64_t view);  // [H,W,3] in [0,1], the style's render latent

  NerfModel& nerf() { return *nerf_; }
  StyleModule& style_module() { return style_; }
  LatentTable& latents() { return latents_; }
  StyleVae& vae() { return vae_; }
  const at::Tensor& prior_mu() const { return prior_mu_; }          // [S,L]
  const at::Tensor& prior_logvar() const { return prior_logvar_; }  // [S,L]
  const std::vector<CachedView>& views() const { return views_; }
  AdainNet& adain() { return adain_; }

 private:
  void TrainVae(bool quiet);
  void SetPriors();  // prior_mu_, prior_logvar_ from the VAE for every style
  // config.extend_run: its trained parts in place of the fresh ones (the styles it has keep their latents).
  void LoadExtendedRun(bool quiet);
  at::Tensor StyleStatistics(const at::Tensor& images);  // [B,3,H,W] -> [B, 2 C4] relu4_1 mean and std
  at::Tensor StyleLossOf(const StyleFeatures& features, int64_t style);

  StylizeConfig config_;
  NerfConfig nerf_config_;
  std::vector<Camera> nerf_cameras_;
  std::shared_ptr<NerfModel> nerf_;
  std::vector<std::string> style_names_;
  std::vector<at::Tensor> styles_;                      // [1,3,h,w] each
  std::vector<std::array<at::Tensor, 8>> style_stats_;  // per style: mean, std of relu1_1 .. relu4_1
  AdainNet adain_{nullptr};
  std::vector<CachedView> views_;
  std::vector<at::Tensor> content_relu4_;  // per view [1,C4,h,w]: f(c_v)
  std::vector<at::Tensor> style_relu4_;    // per style [1,C4,h,w]: f(s)
  StyleModule style_{nullptr};
  LatentTable latents_{nullptr};
  StyleVae vae_{nullptr};
  at::Tensor prior_mu_, prior_logvar_;  // [S,L]
  int64_t first_new_style_ = 0;         // config.extend_run: styles from here on are the new ones
  std::unique_ptr<torch::optim::Adam> style_optimizer_, decoder_optimizer_;
  c10::Device device_ = c10::kCPU;
};

}  // namespace nerfedit
