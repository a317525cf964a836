// Configuration of the `clipnerf` method (CLIP-NeRF, Wang et al. 2022): a category generator with separate shape and
// appearance codes. Data, the generator's field (the disentangled conditional NeRF, or the trivial conditional NeRF
// the paper ablates), the background, the per-instance codes (GLO), the losses and the engine's trainer settings.
// Strict JSON both ways (unknown keys are errors), checked by Check() wherever a run is built, stored in every run.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <string>

#include "engine/lr_schedule.h"
#include "engine/trainer_config.h"
#include "fields/disentangled_field.h"
#include "methods/lolnerf/lolnerf_field.h"

namespace nerfedit {

struct ClipnerfConfig {
  // Data: a category dataset with known poses (data/category_scene.h: transforms.json with per-frame latent_index,
  // masks; transforms_eval.json beside it holds the held-apart views the evaluation renders).
  std::string data;
  int downscale = 1;

  // How the generator is trained: "glo" (per-instance code tables, known poses; the non-adversarial option)
  // or "gan" (the paper's: random codes, PatchGAN, R1; methods/clipnerf/clipnerf_gan.h).
  std::string objective = "glo";
  // "cpu" (the defaults below) or "paper" (the paper's sizes, ForPreset): which defaults the other keys start from.
  std::string preset = "cpu";

  // The generator's field: "disentangled" (fields/disentangled_field.h) or "trivial" (codes concatenated to the
  // encoded input, LOLNeRF's "mlp" field with the same trunk; it has no view direction, which procedural chairs,
  // diffuse, do not need).
  std::string field = "disentangled";
  int64_t shape_code_dim = 32;        // paper 128
  int64_t appearance_code_dim = 32;   // paper 128
  int64_t position_frequencies = 6;   // paper 10
  int64_t direction_frequencies = 2;  // paper 4
  int64_t deform_layers = 2;          // paper 4
  int64_t deform_width = 64;          // paper 256
  int64_t num_layers = 4;             // paper 8
  int64_t hidden_dim = 64;            // paper 256
  int64_t skip_layer = -1;            // paper 4
  int64_t color_width = 32;           // paper 128

  // Background: "color" (a constant: the procedural chairs' white) or "env" (LOLNeRF's environment map, conditioned
  // on the appearance code: textured backdrops such as the heads').
  std::string background = "color";
  std::array<float, 3> bg_color{1, 1, 1};
  int64_t bg_frequencies = 6;
  int64_t bg_num_layers = 2;
  int64_t bg_hidden_dim = 64;

  // GLO codes: one [z_s | z_a] per instance.
  double code_lr = 1e-2;
  double code_init_std = 0.01;
  double code_norm_weight = 1e-4;  // mean ||z||^2 over the batch's codes

  // Losses besides the photometric MSE.
  double mask_weight = 0.5;          // mean (fg opacity - mask)^2
  double hard_surface_weight = 0.1;  // render/hard_surface_loss.h (LOLNeRF's)

  // Sampling and optimisation.
  int64_t num_samples = 32;
  double near = 0.05;
  int64_t batch_rays = 1024;
  double lr = 5e-3;
  double lr_final_factor = 0.1;
  int64_t lr_warmup_steps = 50;
  double adam_eps = 1e-15;

  // GAN objective (clipnerf_gan.h): GRAF patches of gan_patch^2 rays, gan_batch per step, scales in
  // [gan_min_scale (0: patch / width), 1]; Adam (0, 0.99) for both networks; R1 weight lambda_r (paper 0.5).
  int64_t gan_patch = 16;
  int64_t gan_batch = 8;
  double gan_min_scale = 0;
  double gan_generator_lr = 5e-4;
  double gan_discriminator_lr = 2e-4;
  double gan_r1_weight = 0.5;
  int64_t gan_discriminator_width = 64;
  // GAN evaluation: Fréchet distance between CLIP embeddings of fd_images generated and real images, at step 0 and
  // at every evaluation. fd_clip: a CLIP folder; "" = the default small CLIP (clipnerf_clip.h), "none" = off.
  std::string fd_clip;
  int64_t fd_images = 128;

  // Evaluation: training images re-rendered with their codes, and the held-apart views (transforms_eval.json) of the
  // first eval_instances instances rendered with the learnt codes against the generator's exact renders.
  int64_t eval_images = 8;
  int64_t eval_instances = 8;
  int64_t render_instance = -1;  // the instance a run renders as: -1 = the mean code

  TrainerConfig trainer;

  int64_t code_dim() const { return shape_code_dim + appearance_code_dim; }
  LrSchedule Schedule() const { return {lr, lr_final_factor, lr_warmup_steps}; }
  DisentangledFieldOptions DisentangledOptions(const std::vector<float>& aabb) const;
  LolnerfFieldOptions TrivialOptions(const std::vector<float>& aabb) const;
  LolnerfBackgroundOptions BackgroundOptions() const;

  void Check(const std::string& context = "clipnerf config") const;
  nlohmann::json ToJson() const;
  static ClipnerfConfig FromJson(const nlohmann::json& j, const std::string& context = "clipnerf config");
  // Defaults per preset: "cpu" as above, "paper" the paper's field and code sizes with NeRF's learning rate.
  static ClipnerfConfig ForPreset(const std::string& preset);
};

}  // namespace nerfedit
