#include "methods/lolnerf/lolnerf_config.h"

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

nlohmann::json LolnerfConfig::ToJson() const {
  nlohmann::json o = nlohmann::json::object();
  o["data"] = data;
  o["downscale"] = downscale;
  o["poses"] = poses;
  o["landmark_iterations"] = landmark_iterations;
  o["landmark_huber_px"] = landmark_huber_px;
  o["landmark_centring_weight"] = landmark_centring_weight;
  o["landmark_roll_weight"] = landmark_roll_weight;
  o["field"] = field;
  o["num_layers"] = num_layers;
  o["hidden_dim"] = hidden_dim;
  o["skip_layer"] = skip_layer;
  o["position_frequencies"] = position_frequencies;
  o["hash"] = hash;
  o["fg_bg"] = fg_bg;
  o["bg_frequencies"] = bg_frequencies;
  o["bg_num_layers"] = bg_num_layers;
  o["bg_hidden_dim"] = bg_hidden_dim;
  o["code_dim"] = code_dim;
  o["code_lr"] = code_lr;
  o["code_init_std"] = code_init_std;
  o["code_norm_weight"] = code_norm_weight;
  o["hard_surface_weight"] = hard_surface_weight;
  o["mask_weight"] = mask_weight;
  o["num_samples"] = num_samples;
  o["near"] = near;
  o["batch_rays"] = batch_rays;
  o["lr"] = lr;
  o["lr_final_factor"] = lr_final_factor;
  o["lr_warmup_steps"] = lr_warmup_steps;
  o["adam_eps"] = adam_eps;
  o["eval_images"] = eval_images;
  o["render_latent"] = render_latent;
  trainer.Write(&o);
  return o;
}

LolnerfConfig LolnerfConfig::FromJson(const nlohmann::json& j, const std::string& context) {
  LolnerfConfig c;
  JsonReader r(j, context);
  r.Optional("data", &c.data)
      .Optional("downscale", &c.downscale)
      .Optional("poses", &c.poses)
      .Optional("landmark_iterations", &c.landmark_iterations)
      .Optional("landmark_huber_px", &c.landmark_huber_px)
      .Optional("landmark_centring_weight", &c.landmark_centring_weight)
      .Optional("landmark_roll_weight", &c.landmark_roll_weight)
      .Optional("field", &c.field)
      .Optional("num_layers", &c.num_layers)
      .Optional("hidden_dim", &c.hidden_dim)
      .Optional("skip_layer", &c.skip_layer)
      .Optional("position_frequencies", &c.position_frequencies)
      .Optional("hash", &c.hash)
      .Optional("fg_bg", &c.fg_bg)
      .Optional("bg_frequencies", &c.bg_frequencies)
      .Optional("bg_num_layers", &c.bg_num_layers)
      .Optional("bg_hidden_dim", &c.bg_hidden_dim)
      .Optional("code_dim", &c.code_dim)
      .Optional("code_lr", &c.code_lr)
      .Optional("code_init_std", &c.code_init_std)
      .Optional("code_norm_weight", &c.code_norm_weight)
      .Optional("hard_surface_weight", &c.hard_surface_weight)
      .Optional("mask_weight", &c.mask_weight)
      .Optional("num_samples", &c.num_samples)
      .Optional("near", &c.near)
      .Optional("batch_rays", &c.batch_rays)
      .Optional("lr", &c.lr)
      .Optional("lr_final_factor", &c.lr_final_factor)
      .Optional("lr_warmup_steps", &c.lr_warmup_steps)
      .Optional("adam_eps", &c.adam_eps)
      .Optional("eval_images", &c.eval_images)
      .Optional("render_latent", &c.render_latent);
  c.trainer.Read(r);
  r.Finish();
  c.Check(context);
  return c;
}

LolnerfFieldOptions LolnerfConfig::FieldOptions(const std::vector<float>& aabb) const {
  HashEncodingOptions hash_options;
  try {
    hash_options = HashEncodingOptions::FromJson(hash);
  } catch (const Error& e) {
    NE_FAIL("lolnerf config: key \"hash\": ", e.what());
  }
  return LolnerfFieldOptions()
      .encoding(field)
      .aabb(aabb)
      .code_dim(code_dim)
      .hash(hash_options)
      .position_frequencies(position_frequencies)
      .num_layers(num_layers)
      .hidden_dim(hidden_dim)
      .skip_layer(skip_layer);
}

LolnerfBackgroundOptions LolnerfConfig::BackgroundOptions() const {
  return LolnerfBackgroundOptions()
      .code_dim(code_dim)
      .direction_frequencies(bg_frequencies)
      .num_layers(bg_num_layers)
      .hidden_dim(bg_hidden_dim);
}

void LolnerfConfig::Check(const std::string& context) const {
  trainer.Check(context);
  NE_CHECK(downscale >= 1, context, ": downscale must be >= 1, got ", downscale);
  NE_CHECK(poses == "dataset" || poses == "landmarks", context, ": poses must be dataset or landmarks, got \"", poses,
           "\"");
  NE_CHECK(landmark_iterations >= 1, context, ": landmark_iterations must be >= 1, got ", landmark_iterations);
  NE_CHECK(landmark_huber_px > 0, context, ": landmark_huber_px must be > 0, got ", landmark_huber_px);
  NE_CHECK(landmark_centring_weight >= 0, context, ": landmark_centring_weight must be >= 0, got ",
           landmark_centring_weight);
  NE_CHECK(std::isfinite(landmark_roll_weight) && landmark_roll_weight >= 0, context,
           ": landmark_roll_weight must be >= 0 (0: off), got ", landmark_roll_weight);
  NE_CHECK(field == "hash_grid" || field == "mlp", context, ": field must be hash_grid or mlp, got \"", field, "\"");
  NE_CHECK(hash.is_object(), context, ": hash must be an object of hash-encoding keys");
  NE_CHECK(code_dim >= 1 && code_dim <= 4096, context, ": code_dim must be in [1, 4096], got ", code_dim);
  NE_CHECK(code_lr > 0, context, ": code_lr must be > 0, got ", code_lr);
  NE_CHECK(code_init_std >= 0, context, ": code_init_std must be >= 0, got ", code_init_std);
  NE_CHECK(code_norm_weight >= 0, context, ": code_norm_weight must be >= 0, got ", code_norm_weight);
  NE_CHECK(hard_surface_weight >= 0 && std::isfinite(hard_surface_weight), context,
           ": hard_surface_weight must be >= 0, got ", hard_surface_weight);
  NE_CHECK(mask_weight >= 0 && std::isfinite(mask_weight), context, ": mask_weight must be >= 0, got ", mask_weight);
  NE_CHECK(num_samples >= 2 && num_samples <= 1024, context, ": num_samples must be in [2, 1024], got ", num_samples);
  NE_CHECK(near >= 0, context, ": near must be >= 0, got ", near);
  NE_CHECK(batch_rays >= 1 && batch_rays <= (1 << 20), context, ": batch_rays must be in [1, 1048576], got ",
           batch_rays);
  Schedule().Check(context.c_str());
  NE_CHECK(adam_eps > 0, context, ": adam_eps must be > 0, got ", adam_eps);
  NE_CHECK(eval_images >= 0, context, ": eval_images must be >= 0 (0 = none), got ", eval_images);
  NE_CHECK(render_latent >= -1, context, ": render_latent must be -1 (the mean code) or a latent index, got ",
           render_latent);
  FieldOptions({-1, -1, -1, 1, 1, 1}).Check();
  BackgroundOptions().Check();
}

LolnerfConfig LolnerfConfig::ForField(const std::string& field) {
  LolnerfConfig c;
  c.trainer.steps = 20000;
  c.trainer.eval_every = 1000;
  c.trainer.checkpoint_every = 1000;
  c.field = field;
  if (field == "mlp") {
    // NeRF's MLP (8 x 256, skip after layer 4, 10 frequencies) with NeRF's learning rate.
    c.num_layers = 8;
    c.hidden_dim = 256;
    c.skip_layer = 4;
    c.lr = 5e-4;
    c.adam_eps = 1e-7;
    c.batch_rays = 1024;
  }
  return c;
}

}  // namespace nerfedit
