#include "methods/nerf/nerf_config.h"

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

void NerfConfig::Write(nlohmann::json* j) const {
  nlohmann::json& o = *j;
  o["data"] = data;
  o["downscale"] = downscale;
  o["test_every"] = test_every;
  o["background"] = background;
  o["random_background"] = random_background;
  o["train_supersample"] = train_supersample;
  o["field"] = field;
  o["field_config"] = field_config;
  o["sampler"] = sampler;
  o["num_samples"] = num_samples;
  o["num_fine_samples"] = num_fine_samples;
  o["step_size"] = step_size;
  o["grid_resolution"] = grid_resolution;
  o["grid_update_every"] = grid_update_every;
  o["grid_warmup_steps"] = grid_warmup_steps;
  o["near"] = near;
  o["render_supersample"] = render_supersample;
  o["batch_rays"] = batch_rays;
  o["target_samples_per_step"] = target_samples_per_step;
  o["lr"] = lr;
  o["lr_final_factor"] = lr_final_factor;
  o["lr_warmup_steps"] = lr_warmup_steps;
  o["adam_eps"] = adam_eps;
  o["sparse_adam"] = sparse_adam;
  trainer.Write(j);
}

nlohmann::json NerfConfig::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  Write(&j);
  return j;
}

void NerfConfig::Read(JsonReader& r) {
  r.Optional("data", &data)
      .Optional("downscale", &downscale)
      .Optional("test_every", &test_every)
      .Optional("background", &background)
      .Optional("random_background", &random_background)
      .Optional("train_supersample", &train_supersample)
      .Optional("field", &field)
      .Optional("field_config", &field_config)
      .Optional("sampler", &sampler)
      .Optional("num_samples", &num_samples)
      .Optional("num_fine_samples", &num_fine_samples)
      .Optional("step_size", &step_size)
      .Optional("grid_resolution", &grid_resolution)
      .Optional("grid_update_every", &grid_update_every)
      .Optional("grid_warmup_steps", &grid_warmup_steps)
      .Optional("near", &near)
      .Optional("render_supersample", &render_supersample)
      .Optional("batch_rays", &batch_rays)
      .Optional("target_samples_per_step", &target_samples_per_step)
      .Optional("lr", &lr)
      .Optional("lr_final_factor", &lr_final_factor)
      .Optional("lr_warmup_steps", &lr_warmup_steps)
      .Optional("adam_eps", &adam_eps)
      .Optional("sparse_adam", &sparse_adam);
  trainer.Read(r);
}

NerfConfig NerfConfig::FromJson(const nlohmann::json& j, const std::string& context) {
  NerfConfig c;
  JsonReader r(j, context);
  c.Read(r);
  r.Finish();
  c.Check(context);
  return c;
}

namespace {
constexpr double kMaxSceneLength = 1e6;  // scene units: far beyond any scene box, well inside float range
}  // namespace

void NerfConfig::Check(const std::string& context) const {
  trainer.Check(context);
  NE_CHECK(downscale >= 1, context, ": downscale must be >= 1, got ", downscale);
  NE_CHECK(test_every >= 0, context, ": test_every must be >= 0 (0 = no held-out views), got ", test_every);
  NE_CHECK(background.size() == 3, context, ": background must have 3 values, got ", background.size());
  for (float v : background) NE_CHECK(v >= 0 && v <= 1, context, ": background values must be in [0, 1], got ", v);
  NE_CHECK(!field.empty(), context, ": field must name a field kind");
  NE_CHECK(field_config.is_object(), context, ": field_config must be an object");
  NE_CHECK(sampler == "occupancy" || sampler == "stratified" || sampler == "hierarchical", context,
           ": sampler must be occupancy, stratified or hierarchical, got \"", sampler, "\"");
  NE_CHECK(num_samples >= 1, context, ": num_samples must be >= 1, got ", num_samples);
  NE_CHECK(num_fine_samples >= 1, context, ": num_fine_samples must be >= 1, got ", num_fine_samples);
  // near and step_size end up in float tensors (clamp_min refuses a bound a float cannot hold).
  NE_CHECK(step_size >= 0 && step_size <= kMaxSceneLength, context, ": step_size must be in [0, 1e6] (0 = auto), got ",
           step_size);
  NE_CHECK(grid_resolution >= 2 && grid_resolution <= 1024, context, ": grid_resolution must be in [2, 1024], got ",
           grid_resolution);
  NE_CHECK(grid_update_every >= 1, context, ": grid_update_every must be >= 1, got ", grid_update_every);
  NE_CHECK(grid_warmup_steps >= 0, context, ": grid_warmup_steps must be >= 0, got ", grid_warmup_steps);
  NE_CHECK(near >= 0 && near <= kMaxSceneLength, context, ": near must be in [0, 1e6], got ", near);
  NE_CHECK(train_supersample >= 1 && train_supersample <= 8, context, ": train_supersample must be in [1, 8], got ",
           train_supersample);
  NE_CHECK(render_supersample >= 1 && render_supersample <= 8, context, ": render_supersample must be in [1, 8], got ",
           render_supersample);
  NE_CHECK(batch_rays >= 1 && batch_rays <= (1 << 22), context, ": batch_rays must be in [1, 4194304], got ",
           batch_rays);
  NE_CHECK(target_samples_per_step >= 0, context, ": target_samples_per_step must be >= 0 (0 = fixed batch), got ",
           target_samples_per_step);
  Schedule().Check(context.c_str());
  NE_CHECK(adam_eps > 0, context, ": adam_eps must be > 0, got ", adam_eps);
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
    c.trainer.steps = 5000;
  }
  return c;
}

}  // namespace nerfedit
