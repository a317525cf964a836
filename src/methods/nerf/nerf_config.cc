#include "methods/nerf/nerf_config.h"

#include "util/json_reader.h"

namespace nerfedit {

nlohmann::json NerfConfig::ToJson() const {
  return {{"data", data},
          {"downscale", downscale},
          {"test_every", test_every},
          {"background", background},
          {"random_background", random_background},
          {"field", field},
          {"field_config", field_config},
          {"sampler", sampler},
          {"num_samples", num_samples},
          {"num_fine_samples", num_fine_samples},
          {"step_size", step_size},
          {"grid_resolution", grid_resolution},
          {"grid_update_every", grid_update_every},
          {"grid_warmup_steps", grid_warmup_steps},
          {"near", near},
          {"teacher", teacher},
          {"teacher_mode", teacher_mode},
          {"teacher_crop", teacher_crop},
          {"feature_weight", feature_weight},
          {"feature_stop_grad", feature_stop_grad},
          {"feature_ray_fraction", feature_ray_fraction},
          {"steps", steps},
          {"time_budget_s", time_budget_s},
          {"batch_rays", batch_rays},
          {"target_samples_per_step", target_samples_per_step},
          {"lr", lr},
          {"lr_final_factor", lr_final_factor},
          {"lr_warmup_steps", lr_warmup_steps},
          {"adam_eps", adam_eps},
          {"eval_every", eval_every},
          {"eval_views", eval_views},
          {"checkpoint_every", checkpoint_every},
          {"seed", seed},
          {"device", device}};
}

NerfConfig NerfConfig::FromJson(const nlohmann::json& j, const std::string& context) {
  NerfConfig c;
  JsonReader r(j, context);
  r.Optional("data", &c.data)
      .Optional("downscale", &c.downscale)
      .Optional("test_every", &c.test_every)
      .Optional("background", &c.background)
      .Optional("random_background", &c.random_background)
      .Optional("field", &c.field)
      .Optional("field_config", &c.field_config)
      .Optional("sampler", &c.sampler)
      .Optional("num_samples", &c.num_samples)
      .Optional("num_fine_samples", &c.num_fine_samples)
      .Optional("step_size", &c.step_size)
      .Optional("grid_resolution", &c.grid_resolution)
      .Optional("grid_update_every", &c.grid_update_every)
      .Optional("grid_warmup_steps", &c.grid_warmup_steps)
      .Optional("near", &c.near)
      .Optional("teacher", &c.teacher)
      .Optional("teacher_mode", &c.teacher_mode)
      .Optional("teacher_crop", &c.teacher_crop)
      .Optional("feature_weight", &c.feature_weight)
      .Optional("feature_stop_grad", &c.feature_stop_grad)
      .Optional("feature_ray_fraction", &c.feature_ray_fraction)
      .Optional("steps", &c.steps)
      .Optional("time_budget_s", &c.time_budget_s)
      .Optional("batch_rays", &c.batch_rays)
      .Optional("target_samples_per_step", &c.target_samples_per_step)
      .Optional("lr", &c.lr)
      .Optional("lr_final_factor", &c.lr_final_factor)
      .Optional("lr_warmup_steps", &c.lr_warmup_steps)
      .Optional("adam_eps", &c.adam_eps)
      .Optional("eval_every", &c.eval_every)
      .Optional("eval_views", &c.eval_views)
      .Optional("checkpoint_every", &c.checkpoint_every)
      .Optional("seed", &c.seed)
      .Optional("device", &c.device);
  r.Finish();
  NE_CHECK(c.downscale >= 1, context, ": downscale must be >= 1, got ", c.downscale);
  NE_CHECK(c.background.size() == 3, context, ": background must have 3 values, got ", c.background.size());
  NE_CHECK(c.sampler == "occupancy" || c.sampler == "stratified" || c.sampler == "hierarchical", context,
           ": sampler must be occupancy, stratified or hierarchical, got \"", c.sampler, "\"");
  NE_CHECK(c.batch_rays >= 1, context, ": batch_rays must be >= 1, got ", c.batch_rays);
  NE_CHECK(c.steps >= 1, context, ": steps must be >= 1, got ", c.steps);
  NE_CHECK(c.lr > 0, context, ": lr must be > 0, got ", c.lr);
  NE_CHECK(c.field_config.is_object(), context, ": field_config must be an object");
  NE_CHECK(c.teacher_mode == "auto" || c.teacher_mode == "dense" || c.teacher_mode == "crops", context,
           ": teacher_mode must be auto, dense or crops, got \"", c.teacher_mode, "\"");
  NE_CHECK(c.teacher_crop >= 8, context, ": teacher_crop must be >= 8 pixels, got ", c.teacher_crop);
  NE_CHECK(c.feature_ray_fraction > 0 && c.feature_ray_fraction <= 1, context,
           ": feature_ray_fraction must be in (0, 1], got ", c.feature_ray_fraction);
  NE_CHECK(c.feature_weight >= 0, context, ": feature_weight must be >= 0, got ", c.feature_weight);
  return c;
}

NerfConfig NerfConfig::ForField(const std::string& field) {
  NerfConfig c;
  c.field = field;
  // Instant-NGP adapts the batch to a sample budget; with a fixed 4096 rays an unpruned grid costs seconds a step.
  c.target_samples_per_step = 1 << 16;
  if (field == "mlp") {
    c.target_samples_per_step = 1 << 15;
    c.lr = 5e-4;
    c.lr_final_factor = 0.1;
    c.adam_eps = 1e-7;
    c.batch_rays = 1024;
    c.steps = 5000;
  }
  return c;
}

}  // namespace nerfedit
