#include "methods/stylize/stylize_config.h"

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

nlohmann::json StylizeConfig::ToJson() const {
  nlohmann::json o = nlohmann::json::object();
  o["nerf_run"] = nerf_run;
  o["styles"] = styles;
  o["adain_model"] = adain_model;
  o["style_size"] = style_size;
  o["extend_run"] = extend_run;
  o["image_size"] = image_size;
  o["num_views"] = num_views;
  o["min_sample_weight"] = min_sample_weight;
  o["position_frequencies"] = position_frequencies;
  o["style_num_layers"] = style_num_layers;
  o["style_hidden_dim"] = style_hidden_dim;
  o["style_skip_layer"] = style_skip_layer;
  o["latent_dim"] = latent_dim;
  o["vae_num_layers"] = vae_num_layers;
  o["vae_hidden_dim"] = vae_hidden_dim;
  o["vae_kl_weight"] = vae_kl_weight;
  o["vae_steps"] = vae_steps;
  o["vae_styles"] = vae_styles;
  o["mimic_weight"] = mimic_weight;
  o["kl_weight"] = kl_weight;
  o["render_style_weight"] = render_style_weight;
  o["sample_latents"] = sample_latents;
  o["content_weight"] = content_weight;
  o["style_weight"] = style_weight;
  o["consistency_weight"] = consistency_weight;
  o["reverse_mimic_weight"] = reverse_mimic_weight;
  o["train_decoder"] = train_decoder;
  o["lr"] = lr;
  o["lr_final_factor"] = lr_final_factor;
  o["lr_warmup_steps"] = lr_warmup_steps;
  o["decoder_lr"] = decoder_lr;
  o["threads"] = threads;
  o["eval_style_views"] = eval_style_views;
  trainer.Write(&o);
  return o;
}

StylizeConfig StylizeConfig::FromJson(const nlohmann::json& j, const std::string& context) {
  StylizeConfig c;
  JsonReader r(j, context);
  r.Optional("nerf_run", &c.nerf_run)
      .Optional("styles", &c.styles)
      .Optional("adain_model", &c.adain_model)
      .Optional("style_size", &c.style_size)
      .Optional("extend_run", &c.extend_run)
      .Optional("image_size", &c.image_size)
      .Optional("num_views", &c.num_views)
      .Optional("min_sample_weight", &c.min_sample_weight)
      .Optional("position_frequencies", &c.position_frequencies)
      .Optional("style_num_layers", &c.style_num_layers)
      .Optional("style_hidden_dim", &c.style_hidden_dim)
      .Optional("style_skip_layer", &c.style_skip_layer)
      .Optional("latent_dim", &c.latent_dim)
      .Optional("vae_num_layers", &c.vae_num_layers)
      .Optional("vae_hidden_dim", &c.vae_hidden_dim)
      .Optional("vae_kl_weight", &c.vae_kl_weight)
      .Optional("vae_steps", &c.vae_steps)
      .Optional("vae_styles", &c.vae_styles)
      .Optional("mimic_weight", &c.mimic_weight)
      .Optional("kl_weight", &c.kl_weight)
      .Optional("render_style_weight", &c.render_style_weight)
      .Optional("sample_latents", &c.sample_latents)
      .Optional("content_weight", &c.content_weight)
      .Optional("style_weight", &c.style_weight)
      .Optional("consistency_weight", &c.consistency_weight)
      .Optional("reverse_mimic_weight", &c.reverse_mimic_weight)
      .Optional("train_decoder", &c.train_decoder)
      .Optional("lr", &c.lr)
      .Optional("lr_final_factor", &c.lr_final_factor)
      .Optional("lr_warmup_steps", &c.lr_warmup_steps)
      .Optional("decoder_lr", &c.decoder_lr)
      .Optional("threads", &c.threads)
      .Optional("eval_style_views", &c.eval_style_views);
  c.trainer.Read(r);
  r.Finish();
  c.Check(context);
  return c;
}

void StylizeConfig::Check(const std::string& context) const {
  trainer.Check(context);
  NE_CHECK(!styles.empty(), context, ": no styles (give at least one style image or procedural:NAME)");
  for (const auto& s : styles) NE_CHECK(!s.empty(), context, ": an empty style name");
  NE_CHECK(style_size >= 16 && style_size <= 1024, context, ": style_size must be in [16, 1024], got ", style_size);
  NE_CHECK(image_size >= 16 && image_size <= 1024 && image_size % 8 == 0, context,
           ": image_size must be a multiple of 8 in [16, 1024], got ", image_size);
  NE_CHECK(num_views >= 0, context, ": num_views must be >= 0 (0 = every training view), got ", num_views);
  NE_CHECK(min_sample_weight >= 0 && min_sample_weight < 0.1, context, ": min_sample_weight must be in [0, 0.1), got ",
           min_sample_weight);
  NE_CHECK(position_frequencies >= 0 && position_frequencies <= 16, context,
           ": position_frequencies must be in [0, 16], got ", position_frequencies);
  NE_CHECK(style_num_layers >= 2 && style_num_layers <= 16, context, ": style_num_layers must be in [2, 16], got ",
           style_num_layers);
  NE_CHECK(style_hidden_dim >= 4 && style_hidden_dim <= 2048, context, ": style_hidden_dim must be in [4, 2048], got ",
           style_hidden_dim);
  NE_CHECK(style_skip_layer == -1 || (style_skip_layer >= 1 && style_skip_layer < style_num_layers), context,
           ": style_skip_layer must be -1 or in [1, style_num_layers), got ", style_skip_layer);
  NE_CHECK(latent_dim >= 1 && latent_dim <= 1024, context, ": latent_dim must be in [1, 1024], got ", latent_dim);
  NE_CHECK(vae_num_layers >= 2 && vae_num_layers <= 8, context, ": vae_num_layers must be in [2, 8], got ",
           vae_num_layers);
  NE_CHECK(vae_hidden_dim >= 4 && vae_hidden_dim <= 4096, context, ": vae_hidden_dim must be in [4, 4096], got ",
           vae_hidden_dim);
  NE_CHECK(vae_steps >= 0 && vae_styles >= 0, context, ": vae_steps and vae_styles must be >= 0, got ", vae_steps,
           " and ", vae_styles);
  for (const auto& [name, value] : {std::pair<const char*, double>{"vae_kl_weight", vae_kl_weight},
                                    {"mimic_weight", mimic_weight},
                                    {"kl_weight", kl_weight},
                                    {"render_style_weight", render_style_weight},
                                    {"content_weight", content_weight},
                                    {"style_weight", style_weight},
                                    {"consistency_weight", consistency_weight},
                                    {"reverse_mimic_weight", reverse_mimic_weight}}) {
    NE_CHECK(value >= 0 && std::isfinite(value), context, ": ", name, " must be >= 0 and finite, got ", value);
  }
  LrSchedule{lr, lr_final_factor, lr_warmup_steps}.Check(context.c_str());
  NE_CHECK(decoder_lr > 0 && std::isfinite(decoder_lr), context, ": decoder_lr must be > 0, got ", decoder_lr);
  NE_CHECK(threads >= 0, context, ": threads must be >= 0, got ", threads);
  NE_CHECK(eval_style_views >= 1, context, ": eval_style_views must be >= 1, got ", eval_style_views);
}

StylizeConfig StylizeConfig::ForPreset(const std::string& preset) {
  StylizeConfig c;
  c.trainer.steps = 600;
  c.trainer.eval_every = 200;
  c.trainer.checkpoint_every = 200;
  if (preset == "cpu") return c;
  NE_CHECK(preset == "paper", "stylize: preset must be cpu or paper, got \"", preset, "\"");
  // The authors' sizes (their config.py): style_D 8 x netwidth 256 with a skip at 4, embed_freq_coor 10, VAE
  // 4 x 512 with a 32-d latent, vae_kl_lambda 0.1, logp_loss_lambda 0.1, lrate 5e-4.
  c.position_frequencies = 10;
  c.style_num_layers = 8;
  c.style_hidden_dim = 256;
  c.style_skip_layer = 4;
  c.vae_num_layers = 4;
  c.vae_hidden_dim = 512;
  c.lr = 5e-4;
  c.style_weight = 1.0;  // content : style : consistency = 1 : 1 : 50
  c.image_size = 256;
  c.num_views = 0;
  c.trainer.steps = 50000;
  c.trainer.eval_every = 2000;
  c.trainer.checkpoint_every = 2000;
  return c;
}

}  // namespace nerfedit
