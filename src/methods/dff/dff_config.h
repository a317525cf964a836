// Configuration of the `dff` method: a `nerf` config (its field becomes the feature field) plus the teacher and the
// feature-distillation settings. Flat strict JSON: the nerf keys and these side by side.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "methods/nerf/nerf_config.h"

namespace nerfedit {

struct DffConfig {
  NerfConfig nerf;  // data, field ("feature_field"), sampler, optimisation, trainer

  std::string teacher;                // CLIP or DINO ViT folder; "" = the small CLIP nerfedit trains itself
  // "dense": MaskCLIP patch embeddings; "crops": LERF-style crop embeddings; "auto": crops for nerfedit's own small
  // CLIP (trained from scratch it has no MaskCLIP localisation), dense for other teachers.
  std::string teacher_mode = "auto";
  // "crops": window size in pixels of the training images; 0 = a quarter of the image width, the share of the frame
  // the small CLIP's scene crops were cut at (32 px of 128): a fixed 32 px on 96-px images showed the teacher a
  // third of the frame, context it was never trained on.
  int64_t teacher_crop = 0;
  // "crops": window sizes as multiples of teacher_crop, embeddings averaged per point (TeacherOptions::crop_scales).
  std::vector<double> teacher_crop_scales = {1.0};
  double feature_weight = 1.0;        // lambda in L = L_p + lambda * L_f
  // Default on: teacher features are coarse (one per 8-16 px patch) and would blur the geometry the photometric
  // loss recovers sharply; with it the feature head learns where surfaces are but cannot move them.
  bool feature_stop_grad = true;
  // Share of each batch's (random) rays that carry the feature loss. Deviation from DFF (all rays), for speed: the
  // teacher maps are 16x16, so a quarter of a 4096-ray batch still oversamples them, and the feature head costs
  // ~4x less per step (see bench/dff_procedural for the measured overhead).
  double feature_ray_fraction = 0.25;

  DffConfig() { nerf.field = "feature_field"; nerf.target_samples_per_step = 1 << 16; }

  void Check(const std::string& context = "dff config") const;
  nlohmann::json ToJson() const;
  static DffConfig FromJson(const nlohmann::json& j, const std::string& context = "dff config");
  // The tests' tiny setting (48-px scenes, small tables, a 32^3 grid, CPU): what methods/dff's tests and the viewer's
  // tiny test run train, in seconds.
  static DffConfig Tiny(const std::string& data, const std::string& teacher, int64_t steps);
};

}  // namespace nerfedit
