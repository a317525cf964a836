// Configuration of the `nerf` method: data, field, sampler, optimisation, and the engine's trainer settings.
// Round-trips through strict JSON (flat keys; unknown keys are errors), is checked by Check() wherever a run is
// built, and is stored in every run folder.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "engine/lr_schedule.h"
#include "engine/trainer_config.h"

namespace nerfedit {

class JsonReader;

struct NerfConfig {
  // Data.
  std::string data;                          // transforms.json or a folder holding one
  int downscale = 1;
  int test_every = 10;                       // held-out views: frame index % test_every == 0 (0 = none)
  std::vector<float> background{1, 1, 1};    // composite colour for RGBA images and for rendering
  bool random_background = true;             // with alpha: train on random background colours (Instant-NGP)
  // Each training pixel seen through train_supersample^2 stratified rays whose colours the loss averages (pixels are
  // area averages: engine/ray_data_manager.h). batch_rays counts rays, so a step costs the same.
  int64_t train_supersample = 1;

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
  // Rendered views (evaluation, `render`) average render_supersample^2 rays per pixel on a stratified grid: pixels
  // are area averages (a box-filtered downscale, a camera sensor) and one ray through the centre aliases at low
  // resolution. The viewer renders one ray per pixel whatever this says.
  int64_t render_supersample = 1;

  // Optimisation.
  int64_t batch_rays = 4096;
  int64_t target_samples_per_step = 0;       // adapt the batch to this many samples (0 = fixed batch)
  double lr = 1e-2;
  double lr_final_factor = 0.03;             // lr decays exponentially to lr * this at the end of training
  int64_t lr_warmup_steps = 100;
  double adam_eps = 1e-15;
  // Adam that updates only the hash-table rows a step touched (Instant-NGP / tiny-cuda-nn): see fields/sparse_adam.h.
  bool sparse_adam = false;

  TrainerConfig trainer;                     // steps, time_budget_s, eval/checkpoint cadence, seed, device

  LrSchedule Schedule() const { return {lr, lr_final_factor, lr_warmup_steps}; }

  void Check(const std::string& context = "nerf config") const;
  nlohmann::json ToJson() const;
  static NerfConfig FromJson(const nlohmann::json& j, const std::string& context = "nerf config");
  // For configs that embed this one (dff): read / write these keys among theirs.
  void Read(JsonReader& reader);
  void Write(nlohmann::json* json) const;
  // Defaults per field kind: the MLP wants lr 5e-4 and a smaller sample budget like NeRF.
  static NerfConfig ForField(const std::string& field);
};

}  // namespace nerfedit
