// Configuration of the `nerf` pipeline: data, field, sampler, optimisation. Round-trips through strict JSON
// (unknown keys are errors) and is stored in every run folder and checkpoint.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace nerfedit {

struct NerfConfig {
  // Data.
  std::string data;                          // transforms.json or a folder holding one
  int downscale = 1;
  int test_every = 10;                       // held-out views: frame index % test_every == 0 (0 = none)
  std::vector<float> background{1, 1, 1};    // composite colour for RGBA images and for rendering
  bool random_background = true;             // with alpha: train on random background colours (Instant-NGP)

  // Field: registry name and its options (see fields/field_registry.h); aabb comes from the data.
  std::string field = "hash_grid";
  nlohmann::json field_config = nlohmann::json::object();

  // Sampler: "occupancy" (Instant-NGP grid marching), "stratified" or "hierarchical" (NeRF's coarse + fine).
  std::string sampler = "occupancy";
  int64_t num_samples = 64;                  // stratified / coarse samples per ray
  int64_t num_fine_samples = 128;            // hierarchical extra samples per ray
  double step_size = 0;                      // occupancy marching step; 0 = aabb diagonal / 512
  int64_t grid_resolution = 128;
  int64_t grid_update_every = 16;
  int64_t grid_warmup_steps = 256;
  double near = 0.05;                        // no samples closer than this to the camera

  // Distilled feature fields (methods/dff): used when field == "feature_field".
  std::string teacher;                       // CLIP or DINO ViT folder; "" = the small CLIP nerfedit trains itself
  // "dense": MaskCLIP patch embeddings; "crops": LERF-style crop embeddings; "auto": crops for nerfedit's own small
  // CLIP (trained from scratch it has no MaskCLIP localisation), dense for other teachers.
  std::string teacher_mode = "auto";
  int64_t teacher_crop = 32;                 // "crops": window size in pixels of the training images
  double feature_weight = 1.0;               // lambda in L = L_p + lambda * L_f
  // Default on: teacher features are coarse (one per 8-16 px patch) and would blur the geometry the photometric
  // loss recovers sharply; with it the feature head learns where surfaces are but cannot move them.
  bool feature_stop_grad = true;
  // Share of each batch's (random) rays that carry the feature loss. Deviation from DFF (all rays), for speed: the
  // teacher maps are 16x16, so a quarter of a 4096-ray batch still oversamples them, and the feature head costs
  // ~4x less per step (1.63x -> see bench/dff_procedural for the measured overhead).
  double feature_ray_fraction = 0.25;

  // Optimisation.
  int64_t steps = 20000;
  double time_budget_s = 0;                  // stop after this much training time (0 = no limit)
  int64_t batch_rays = 4096;
  int64_t target_samples_per_step = 0;       // adapt the batch to this many samples (0 = fixed batch)
  double lr = 1e-2;
  double lr_final_factor = 0.03;             // lr decays exponentially to lr * this at the end of training
  int64_t lr_warmup_steps = 100;
  double adam_eps = 1e-15;
  int64_t eval_every = 500;                  // steps between held-out evaluations (0 = only at the end)
  int64_t eval_views = 0;                    // held-out views per periodic evaluation (0 = all)
  int64_t checkpoint_every = 2000;
  int64_t seed = 0;
  std::string device = "auto";

  nlohmann::json ToJson() const;
  static NerfConfig FromJson(const nlohmann::json& j, const std::string& context = "nerf config");
  // Defaults per field kind: the MLP wants lr 5e-4 and stratified+hierarchical samples like NeRF.
  static NerfConfig ForField(const std::string& field);
};

}  // namespace nerfedit
