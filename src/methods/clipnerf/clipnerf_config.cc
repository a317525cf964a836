#include "methods/clipnerf/clipnerf_config.h"

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

nlohmann::json ClipnerfConfig::ToJson() const {
  nlohmann::json o = nlohmann::json::object();
  o["data"] = data;
  o["downscale"] = downscale;
  o["objective"] = objective;
  o["preset"] = preset;
  o["field"] = field;
  o["shape_code_dim"] = shape_code_dim;
  o["appearance_code_dim"] = appearance_code_dim;
  o["position_frequencies"] = position_frequencies;
  o["direction_frequencies"] = direction_frequencies;
  o["deform_layers"] = deform_layers;
  o["deform_width"] = deform_width;
  o["num_layers"] = num_layers;
  o["hidden_dim"] = hidden_dim;
  o["skip_layer"] = skip_layer;
  o["color_width"] = color_width;
  o["background"] = background;
  o["bg_color"] = bg_color;
  o["bg_frequencies"] = bg_frequencies;
  o["bg_num_layers"] = bg_num_layers;
  o["bg_hidden_dim"] = bg_hidden_dim;
  o["code_lr"] = code_lr;
  o["code_init_std"] = code_init_std;
  o["code_norm_weight"] = code_norm_weight;
  o["mask_weight"] = mask_weight;
  o["hard_surface_weight"] = hard_surface_weight;
  o["num_samples"] = num_samples;
  o["near"] = near;
  o["batch_rays"] = batch_rays;
  o["lr"] = lr;
  o["lr_final_factor"] = lr_final_factor;
  o["lr_warmup_steps"] = lr_warmup_steps;
  o["adam_eps"] = adam_eps;
  o["gan_patch"] = gan_patch;
  o["gan_batch"] = gan_batch;
  o["gan_min_scale"] = gan_min_scale;
  o["gan_generator_lr"] = gan_generator_lr;
  o["gan_discriminator_lr"] = gan_discriminator_lr;
  o["gan_r1_weight"] = gan_r1_weight;
  o["gan_discriminator_width"] = gan_discriminator_width;
  o["fd_clip"] = fd_clip;
  o["fd_images"] = fd_images;
  o["eval_images"] = eval_images;
  o["eval_instances"] = eval_instances;
  o["render_instance"] = render_instance;
  trainer.Write(&o);
  return o;
}

ClipnerfConfig ClipnerfConfig::FromJson(const nlohmann::json& j, const std::string& context) {
  ClipnerfConfig c;
  JsonReader r(j, context);
  r.Optional("data", &c.data)
      .Optional("downscale", &c.downscale)
      .Optional("objective", &c.objective)
      .Optional("preset", &c.preset)
      .Optional("field", &c.field)
      .Optional("shape_code_dim", &c.shape_code_dim)
      .Optional("appearance_code_dim", &c.appearance_code_dim)
      .Optional("position_frequencies", &c.position_frequencies)
      .Optional("direction_frequencies", &c.direction_frequencies)
      .Optional("deform_layers", &c.deform_layers)
      .Optional("deform_width", &c.deform_width)
      .Optional("num_layers", &c.num_layers)
      .Optional("hidden_dim", &c.hidden_dim)
      .Optional("skip_layer", &c.skip_layer)
      .Optional("color_width", &c.color_width)
      .Optional("background", &c.background)
      .OptionalVec3("bg_color", &c.bg_color)
      .Optional("bg_frequencies", &c.bg_frequencies)
      .Optional("bg_num_layers", &c.bg_num_layers)
      .Optional("bg_hidden_dim", &c.bg_hidden_dim)
      .Optional("code_lr", &c.code_lr)
      .Optional("code_init_std", &c.code_init_std)
      .Optional("code_norm_weight", &c.code_norm_weight)
      .Optional("mask_weight", &c.mask_weight)
      .Optional("hard_surface_weight", &c.hard_surface_weight)
      .Optional("num_samples", &c.num_samples)
      .Optional("near", &c.near)
      .Optional("batch_rays", &c.batch_rays)
      .Optional("lr", &c.lr)
      .Optional("lr_final_factor", &c.lr_final_factor)
      .Optional("lr_warmup_steps", &c.lr_warmup_steps)
      .Optional("adam_eps", &c.adam_eps)
      .Optional("gan_patch", &c.gan_patch)
      .Optional("gan_batch", &c.gan_batch)
      .Optional("gan_min_scale", &c.gan_min_scale)
      .Optional("gan_generator_lr", &c.gan_generator_lr)
      .Optional("gan_discriminator_lr", &c.gan_discriminator_lr)
      .Optional("gan_r1_weight", &c.gan_r1_weight)
      .Optional("gan_discriminator_width", &c.gan_discriminator_width)
      .Optional("fd_clip", &c.fd_clip)
      .Optional("fd_images", &c.fd_images)
      .Optional("eval_images", &c.eval_images)
      .Optional("eval_instances", &c.eval_instances)
      .Optional("render_instance", &c.render_instance);
  c.trainer.Read(r);
  r.Finish();
  c.Check(context);
  return c;
}

DisentangledFieldOptions ClipnerfConfig::DisentangledOptions(const std::vector<float>& aabb) const {
  return DisentangledFieldOptions()
      .aabb(aabb)
      .shape_code_dim(shape_code_dim)
      .appearance_code_dim(appearance_code_dim)
      .position_frequencies(position_frequencies)
      .direction_frequencies(direction_frequencies)
      .deform_layers(deform_layers)
      .deform_width(deform_width)
      .num_layers(num_layers)
      .hidden_dim(hidden_dim)
      .skip_layer(skip_layer)
      .color_width(color_width);
}

LolnerfFieldOptions ClipnerfConfig::TrivialOptions(const std::vector<float>& aabb) const {
  // The same positional encoding and trunk as the disentangled field's, the whole code [z_s | z_a] at the input
  // (and at the skip).
  return LolnerfFieldOptions()
      .encoding("mlp")
      .aabb(aabb)
      .code_dim(code_dim())
      .position_frequencies(position_frequencies)
      .num_layers(num_layers)
      .hidden_dim(hidden_dim)
      .skip_layer(skip_layer);
}

LolnerfBackgroundOptions ClipnerfConfig::BackgroundOptions() const {
  return LolnerfBackgroundOptions()
      .code_dim(appearance_code_dim)
      .direction_frequencies(bg_frequencies)
      .num_layers(bg_num_layers)
      .hidden_dim(bg_hidden_dim);
}

void ClipnerfConfig::Check(const std::string& context) const {
  trainer.Check(context);
  NE_CHECK(downscale >= 1, context, ": downscale must be >= 1, got ", downscale);
  NE_CHECK(objective == "glo" || objective == "gan", context, ": objective must be glo or gan, got \"", objective,
           "\"");
  NE_CHECK(preset == "cpu" || preset == "paper", context, ": preset must be cpu or paper, got \"", preset, "\"");
  NE_CHECK(field == "disentangled" || field == "trivial", context, ": field must be disentangled or trivial, got \"",
           field, "\"");
  NE_CHECK(background == "color" || background == "env", context, ": background must be color or env, got \"",
           background, "\"");
  for (float v : bg_color) {
    NE_CHECK(v >= 0 && v <= 1, context, ": bg_color entries must be in [0, 1], got ", v);
  }
  NE_CHECK(code_lr > 0, context, ": code_lr must be > 0, got ", code_lr);
  NE_CHECK(code_init_std >= 0, context, ": code_init_std must be >= 0, got ", code_init_std);
  NE_CHECK(code_norm_weight >= 0, context, ": code_norm_weight must be >= 0, got ", code_norm_weight);
  NE_CHECK(mask_weight >= 0 && std::isfinite(mask_weight), context, ": mask_weight must be >= 0, got ", mask_weight);
  NE_CHECK(hard_surface_weight >= 0 && std::isfinite(hard_surface_weight), context,
           ": hard_surface_weight must be >= 0, got ", hard_surface_weight);
  NE_CHECK(num_samples >= 2 && num_samples <= 1024, context, ": num_samples must be in [2, 1024], got ", num_samples);
  NE_CHECK(near >= 0, context, ": near must be >= 0, got ", near);
  NE_CHECK(batch_rays >= 1 && batch_rays <= (1 << 20), context, ": batch_rays must be in [1, 1048576], got ",
           batch_rays);
  Schedule().Check(context.c_str());
  NE_CHECK(adam_eps > 0, context, ": adam_eps must be > 0, got ", adam_eps);
  NE_CHECK(gan_patch >= 8, context, ": gan_patch must be >= 8, got ", gan_patch);
  NE_CHECK(gan_batch >= 1, context, ": gan_batch must be >= 1, got ", gan_batch);
  NE_CHECK(gan_min_scale >= 0 && gan_min_scale <= 1, context, ": gan_min_scale must be in [0, 1], got ",
           gan_min_scale);
  NE_CHECK(gan_generator_lr > 0 && gan_discriminator_lr > 0, context, ": gan learning rates must be > 0, got ",
           gan_generator_lr, " and ", gan_discriminator_lr);
  NE_CHECK(gan_r1_weight >= 0, context, ": gan_r1_weight must be >= 0, got ", gan_r1_weight);
  NE_CHECK(gan_discriminator_width >= 1, context, ": gan_discriminator_width must be >= 1, got ",
           gan_discriminator_width);
  NE_CHECK(fd_images >= 2, context, ": fd_images must be >= 2, got ", fd_images);
  NE_CHECK(eval_images >= 0, context, ": eval_images must be >= 0, got ", eval_images);
  NE_CHECK(eval_instances >= 0, context, ": eval_instances must be >= 0, got ", eval_instances);
  NE_CHECK(render_instance >= -1, context, ": render_instance must be -1 (the mean code) or an instance, got ",
           render_instance);
  try {
    DisentangledOptions({-1, -1, -1, 1, 1, 1}).Check();
    TrivialOptions({-1, -1, -1, 1, 1, 1}).Check();
    BackgroundOptions().Check();
  } catch (const Error& e) {
    NE_FAIL(context, ": ", e.what());
  }
}

ClipnerfConfig ClipnerfConfig::ForPreset(const std::string& preset) {
  ClipnerfConfig c;
  c.trainer.steps = 5000;
  c.trainer.eval_every = 1000;
  c.trainer.checkpoint_every = 1000;
  c.preset = preset;
  if (preset == "paper") {
    const DisentangledFieldOptions p = DisentangledFieldOptions::Paper();
    c.shape_code_dim = p.shape_code_dim();
    c.appearance_code_dim = p.appearance_code_dim();
    c.position_frequencies = p.position_frequencies();
    c.direction_frequencies = p.direction_frequencies();
    c.deform_layers = p.deform_layers();
    c.deform_width = p.deform_width();
    c.num_layers = p.num_layers();
    c.hidden_dim = p.hidden_dim();
    c.skip_layer = p.skip_layer();
    c.color_width = p.color_width();
    c.lr = 5e-4;  // NeRF's, for the 8 x 256 MLP
    c.adam_eps = 1e-7;
    c.num_samples = 64;
    c.trainer.steps = 100000;
  }
  return c;
}

}  // namespace nerfedit
