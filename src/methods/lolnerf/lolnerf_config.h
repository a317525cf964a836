// Configuration of the `lolnerf` method (LOLNeRF, Rebain et al. 2022): a category model learnt from one view per
// object. Data and poses, the conditional foreground field and the background model, the GLO latents, the losses
// (photometric, mask, hard surface, latent norm) and the engine's trainer settings. Strict JSON both ways (unknown keys
// are errors), checked by Check() wherever a run is built, stored in every run folder.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "engine/lr_schedule.h"
#include "engine/trainer_config.h"
#include "methods/lolnerf/lolnerf_field.h"

namespace nerfedit {

struct LolnerfConfig {
  // Data: a category dataset (data/category_scene.h: transforms.json with per-frame latent_index, landmarks, masks).
  std::string data;
  int downscale = 1;
  // "dataset": the cameras in transforms.json; "landmarks": estimated from the 2D landmarks with the category's mean
  // landmarks as the starting template (data/landmark_pose.h), written to RUN/estimated_cameras.json.
  std::string poses = "dataset";
  int landmark_iterations = 300;
  double landmark_huber_px = 1.0;
  double landmark_centring_weight = 1.0;  // the rig looks at the object: the centring prior (landmark_pose.h)
  // Photos are upright (no camera roll about the view axis): the roll prior (landmark_pose.h). The bench's 1000 heads
  // with 1-px landmark noise: weight 0 / 1 / 3 / 10 -> 5.39 / 4.17 / 4.06 / 4.04 deg mean rotation error.
  double landmark_roll_weight = 3.0;

  // Foreground field (methods/lolnerf/lolnerf_field.h).
  std::string field = "hash_grid";  // hash_grid (CPU default) | mlp (the paper's 8 x 256 NeRF MLP)
  int64_t num_layers = 3;
  int64_t hidden_dim = 64;
  int64_t skip_layer = 1;
  int64_t position_frequencies = 10;  // field "mlp"
  nlohmann::json hash = {{"num_levels", 12},
                         {"log2_hashmap_size", 17},
                         {"base_resolution", 8},
                         {"max_resolution", 128}};  // field "hash_grid": HashEncodingOptions keys

  // Background: with fg_bg, an environment map on the ray direction conditioned on the latent, behind the
  // foreground; without, one field explains everything (the paper's ablation) over a black background.
  bool fg_bg = true;
  int64_t bg_frequencies = 6;
  int64_t bg_num_layers = 2;
  int64_t bg_hidden_dim = 64;

  // GLO latents: one per training image.
  int64_t code_dim = 64;
  double code_lr = 1e-2;
  double code_init_std = 0.01;
  double code_norm_weight = 1e-4;  // weight of mean ||z||^2 over the batch's codes

  // Losses besides the photometric MSE.
  double hard_surface_weight = 0.1;  // render/hard_surface_loss.h
  double mask_weight = 0.5;          // mean (fg opacity - mask)^2; needs masks in the data when > 0 and fg_bg

  // Sampling and optimisation.
  int64_t num_samples = 32;  // stratified samples per ray inside the object box
  double near = 0.05;
  int64_t batch_rays = 2048;  // random pixels over all training images per step
  double lr = 1e-2;
  double lr_final_factor = 0.1;
  int64_t lr_warmup_steps = 50;
  double adam_eps = 1e-15;

  // Evaluation and rendering.
  int64_t eval_images = 16;    // training images rendered for the PSNR curve (spread over the set)
  int64_t render_latent = -1;  // the instance a run renders as: -1 = the mean code, else a latent index

  TrainerConfig trainer;

  LrSchedule Schedule() const { return {lr, lr_final_factor, lr_warmup_steps}; }
  LolnerfFieldOptions FieldOptions(const std::vector<float>& aabb) const;
  LolnerfBackgroundOptions BackgroundOptions() const;

  void Check(const std::string& context = "lolnerf config") const;
  nlohmann::json ToJson() const;
  static LolnerfConfig FromJson(const nlohmann::json& j, const std::string& context = "lolnerf config");
  // Defaults per field kind: "mlp" takes the paper's MLP sizes and NeRF's learning rate.
  static LolnerfConfig ForField(const std::string& field);
};

}  // namespace nerfedit
