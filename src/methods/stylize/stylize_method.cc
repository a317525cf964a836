#include "methods/stylize/stylize_method.h"

#include <torch/torch.h>

#include <filesystem>
#include <optional>

#include "data/image_io.h"
#include "data/style_images.h"
#include "engine/run_folder.h"
#include "eval/view_consistency.h"
#include "fields/module_state.h"
#include "methods/nerf/nerf_run.h"
#include "util/error.h"
#include "util/runtime.h"
#include "util/thread_policy.h"

namespace nerfedit {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

StyleModuleOptions StyleOptionsFor(const StylizeConfig& c, const at::Tensor& aabb) {
  const at::Tensor a = aabb.to(at::kCPU, at::kFloat).reshape(-1).contiguous();
  return StyleModuleOptions()
      .aabb(std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6))
      .position_frequencies(c.position_frequencies)
      .num_layers(c.style_num_layers)
      .hidden_dim(c.style_hidden_dim)
      .skip_layer(c.style_skip_layer)
      .latent_dim(c.latent_dim);
}

namespace {

// image [3,H,W] resized so that its shorter side is `shorter` (area filter when shrinking).
at::Tensor ResizeShorterSide(const at::Tensor& image, int64_t shorter) {
  const double scale = static_cast<double>(shorter) / std::min(image.size(1), image.size(2));
  auto options =
      F::InterpolateFuncOptions().size(std::vector<int64_t>{std::max<int64_t>(8, std::lround(image.size(1) * scale)),
                                                            std::max<int64_t>(8, std::lround(image.size(2) * scale))});
  if (scale < 1) {
    options.mode(torch::kArea);
  } else {
    options.mode(torch::kBilinear).align_corners(false);
  }
  return F::interpolate(image.unsqueeze(0), options)[0].clamp(0, 1);
}

at::Tensor Nchw(const at::Tensor& hwc) { return hwc.permute({2, 0, 1}).unsqueeze(0).contiguous(); }

}  // namespace

StylizeMethod::StylizeMethod(const StylizeConfig& config, bool quiet) : config_(config) {
  config_.Check();
  torch::manual_seed(config_.trainer.seed);
  device_ = ParseDevice(config_.trainer.device);
  // The nerf run: anything else is refused before minutes go into the 2D network.
  const std::string& run = config_.nerf_run;
  NE_CHECK(!run.empty(), "stylize: no nerf run given");
  NE_CHECK(fs::is_regular_file(run + "/run.json"), "stylize: ", run, " is not a run folder (no run.json)");
  const RunHeader header = ReadRunJson(run);
  NE_CHECK(header.method == "nerf", "stylize: ", run, " is a ", header.method,
           " run, not a nerf run: stylize starts from a trained `nerfedit train` run");
  NE_CHECK(!fs::exists(run + "/edits.json"), "stylize: ", run,
           " is an edited run (edits.json); stylize the run it was edited from");
  nerf_config_ = NerfConfig::FromJson(header.config, run + "/run.json config");
  const NerfRunInfo info = ParseNerfRunInfo(header, nerf_config_);
  nerf_cameras_ = info.cameras;
  NE_CHECK(fs::is_regular_file(run + "/checkpoint.pt"), "stylize: ", run,
           " has no checkpoint.pt: no trained density to stylize");
  nerf_ = LoadNerfModel(run, info, config_.trainer.device, {});
  for (auto& p : nerf_->field()->parameters()) p.set_requires_grad(false);  // frozen: no optimizer sees them
  nerf_->field()->eval();

  for (const std::string& spec : config_.styles) {
    at::Tensor image;
    try {
      image = ResolveStyle(spec, config_.style_size, config_.style_size);
    } catch (const Error& e) {
      NE_FAIL("stylize: --style ", spec, ": ", e.what());
    }
    styles_.push_back(ResizeShorterSide(image, config_.style_size).unsqueeze(0).to(device_));
    style_names_.push_back(spec);
  }

  if (config_.adain_model.empty()) {
    adain_ = EnsureAdain(AdainOptions().progress(!quiet), DefaultAdainDir());
  } else {
    adain_ = LoadAdain(config_.adain_model);
  }
  adain_->to(device_);
  std::optional<ScopedThreads> threads;
  if (config_.threads > 0) threads.emplace(1, config_.threads);
  {
    torch::NoGradGuard no_grad;
    for (const at::Tensor& style : styles_) {
      const StyleFeatures f = adain_->encoder->forward(style);
      std::array<at::Tensor, 8> stats;
      for (int k = 0; k < 4; ++k) MeanStd(f[k], &stats[2 * k], &stats[2 * k + 1]);
      style_stats_.push_back(stats);
      style_relu4_.push_back(f[3]);
    }
    const double start = NowSeconds();
    views_ = CacheViews(*nerf_, ChooseViews(nerf_cameras_, config_.num_views, config_.image_size),
                        config_.min_sample_weight);
    for (const CachedView& v : views_) content_relu4_.push_back(adain_->encoder->forward(Nchw(v.content))[3]);
    if (!quiet) {
      int64_t samples = 0;
      double dropped = 0;
      for (const CachedView& v : views_) {
        samples += v.weights.size(0);
        dropped = std::max(dropped, v.dropped_weight);
      }
      std::fprintf(stderr, "stylize: %zu views of %lldx%lld cached in %.1f s (%lld samples, dropped weight <= %.2g)\n",
                   views_.size(), static_cast<long long>(views_[0].camera.width),
                   static_cast<long long>(views_[0].camera.height), NowSeconds() - start,
                   static_cast<long long>(samples), dropped);
    }
  }

  style_ = StyleModule(StyleOptionsFor(config_, info.aabb));
  style_->to(device_);
  vae_ = StyleVae(2 * adain_->encoder->relu4_1_channels(), config_.latent_dim, config_.vae_hidden_dim,
                  config_.vae_num_layers);
  vae_->to(device_);
  if (config_.extend_run.empty()) TrainVae(quiet);
  for (auto& p : vae_->parameters()) p.set_requires_grad(false);
  vae_->eval();
  SetPriors();
  latents_ = LatentTable(static_cast<int64_t>(styles_.size()), static_cast<int64_t>(views_.size()), config_.latent_dim);
  latents_->to(device_);
  latents_->InitFromPrior(prior_mu_, prior_logvar_);
  if (!config_.extend_run.empty()) LoadExtendedRun(quiet);

  std::vector<at::Tensor> params = style_->parameters();
  for (const auto& p : latents_->parameters()) params.push_back(p);
  style_optimizer_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(config_.lr));
  decoder_optimizer_ = std::make_unique<torch::optim::Adam>(adain_->decoder->parameters(),
                                                            torch::optim::AdamOptions(config_.decoder_lr));
  for (auto& p : adain_->decoder->parameters()) p.set_requires_grad(config_.train_decoder);
}

at::Tensor StylizeMethod::StyleStatistics(const at::Tensor& images) {
  at::Tensor mean, std;
  MeanStd(adain_->encoder->forward(images)[3], &mean, &std);
  return torch::cat({mean, std}, 1);
}

void StylizeMethod::TrainVae(bool quiet) {
  // Data: relu4_1 statistics of procedural styles (every kind, fresh seeds) and of the run's own styles.
  std::vector<at::Tensor> rows;
  {
    torch::NoGradGuard no_grad;
    const std::vector<std::string> names = ProceduralStyleNames();
    const int64_t n = config_.style_size;
    for (int64_t i = 0; i < config_.vae_styles; i += 16) {
      std::vector<at::Tensor> batch;
      for (int64_t k = i; k < std::min(i + 16, config_.vae_styles); ++k) {
        batch.push_back(ProceduralStyle(names[k % names.size()], 7919 + k, n, n));
      }
      rows.push_back(StyleStatistics(torch::stack(batch).to(device_)));
    }
    for (const at::Tensor& s : styles_) rows.push_back(StyleStatistics(s));
  }
  const at::Tensor data = torch::cat(rows);
  torch::optim::Adam optimizer(vae_->parameters(), torch::optim::AdamOptions(1e-3));
  double first = 0, last = 0;
  for (int64_t step = 0; step < config_.vae_steps; ++step) {
    const at::Tensor batch = data.index_select(0, torch::randint(data.size(0), {32}, at::kLong).to(device_));
    const at::Tensor loss = vae_->Loss(batch, config_.vae_kl_weight);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  if (!quiet && config_.vae_steps > 0) {
    std::fprintf(stderr, "stylize: style VAE on %lld style statistics, %lld steps, loss %.4f -> %.4f\n",
                 static_cast<long long>(data.size(0)), static_cast<long long>(config_.vae_steps), first, last);
  }
}

void StylizeMethod::SetPriors() {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> mu, logvar;
  for (const at::Tensor& s : styles_) {
    auto [m, lv] = vae_->Encode(StyleStatistics(s));
    mu.push_back(m);
    logvar.push_back(lv);
  }
  prior_mu_ = torch::cat(mu);
  prior_logvar_ = torch::cat(logvar);
}

void StylizeMethod::LoadExtendedRun(bool quiet) {
  const std::string& run = config_.extend_run;
  NE_CHECK(fs::is_regular_file(run + "/run.json"), "stylize: extend_run ", run, " is not a run folder (no run.json)");
  const RunHeader header = ReadRunJson(run);
  NE_CHECK(header.method == "stylize", "stylize: extend_run ", run, " is a ", header.method,
           " run, not a stylized run (nerfedit stylize train)");
  const StylizeConfig old = StylizeConfig::FromJson(header.config, run + "/run.json config");
  NE_CHECK(old.styles.size() < config_.styles.size() &&
               std::equal(old.styles.begin(), old.styles.end(), config_.styles.begin()),
           "stylize: the styles must be ", run, "'s ", old.styles.size(), " styles followed by the new ones");
  NE_CHECK(old.nerf_run == config_.nerf_run && old.image_size == config_.image_size &&
               old.num_views == config_.num_views && old.latent_dim == config_.latent_dim &&
               old.style_hidden_dim == config_.style_hidden_dim && old.style_skip_layer == config_.style_skip_layer &&
               old.position_frequencies == config_.position_frequencies &&
               old.style_num_layers == config_.style_num_layers && old.vae_hidden_dim == config_.vae_hidden_dim &&
               old.vae_num_layers == config_.vae_num_layers,
           "stylize: ", run, " was trained with another nerf run, view set or network sizes than this config");
  first_new_style_ = static_cast<int64_t>(old.styles.size());
  LatentTable old_latents(first_new_style_, static_cast<int64_t>(views_.size()), config_.latent_dim);
  LoadModelRecord(run + "/checkpoint.pt", "stylize", "stylized run", [&](torch::serialize::InputArchive& r) {
    LoadModuleState(*style_, r, "style", run);
    LoadModuleState(*old_latents, r, "latents", run);
    LoadModuleState(*vae_, r, "vae", run);
    LoadModuleState(*adain_->decoder, r, "decoder", run);
  });
  style_->to(device_);
  vae_->to(device_);
  adain_->decoder->to(device_);
  for (auto& p : vae_->parameters()) p.set_requires_grad(false);
  // The VAE is the one the old styles' priors came from: every prior (old ones unchanged) from it again.
  SetPriors();
  torch::NoGradGuard no_grad;
  latents_->InitFromPrior(prior_mu_, prior_logvar_);
  latents_->mean.slice(0, 0, first_new_style_).copy_(old_latents->mean.to(device_));
  latents_->logvar.slice(0, 0, first_new_style_).copy_(old_latents->logvar.to(device_));
  if (!quiet) {
    std::fprintf(stderr, "stylize: %lld styles from %s, %lld new\n", static_cast<long long>(first_new_style_),
                 run.c_str(), static_cast<long long>(styles_.size()) - first_new_style_);
  }
}

nlohmann::json StylizeMethod::RunExtras() const {
  nlohmann::json cameras = nlohmann::json::array();
  for (const auto& c : nerf_cameras_) cameras.push_back(c.ToJson());
  const at::Tensor a = nerf_->Aabb().to(at::kCPU, at::kFloat).reshape(-1).contiguous();
  return {{"nerf_config", nerf_config_.ToJson()},
          {"aabb", std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6)},
          {"cameras", cameras},
          {"num_views", views_.size()},
          {"style_names", style_names_}};
}

std::vector<OptimizerSlot> StylizeMethod::Optimizers() {
  return {{"style", style_optimizer_.get(), {config_.lr, config_.lr_final_factor, config_.lr_warmup_steps}},
          {"decoder", decoder_optimizer_.get(), {config_.decoder_lr, 1.0, 0}}};
}

void StylizeMethod::SetTraining(bool training) {
  style_->train(training);
  adain_->decoder->train(training);
}

at::Tensor StylizeMethod::StyleLossOf(const StyleFeatures& features, int64_t style) {
  at::Tensor loss = torch::zeros({}, features[0].options());
  for (int k = 0; k < 4; ++k) {
    at::Tensor mean, std;
    MeanStd(features[k], &mean, &std);
    loss = loss + F::mse_loss(mean, style_stats_[style][2 * k].expand_as(mean)) +
           F::mse_loss(std, style_stats_[style][2 * k + 1].expand_as(std));
  }
  return loss;
}

StepResult StylizeMethod::Step(const StepContext& context) {
  std::optional<ScopedThreads> threads;
  if (config_.threads > 0) threads.emplace(1, config_.threads);
  const int64_t num_styles = static_cast<int64_t>(styles_.size()), num_views = static_cast<int64_t>(views_.size());
  // Extending a run: half the steps on the new styles, half on all of them (the old ones must not be forgotten).
  const int64_t first = first_new_style_ > 0 && torch::rand({1}).item<double>() < 0.5 ? first_new_style_ : 0;
  const int64_t s = first + torch::randint(num_styles - first, {1}, at::kLong).item<int64_t>();
  const int64_t v = torch::randint(num_views, {1}, at::kLong).item<int64_t>();
  const int64_t u =
      num_views > 1 ? (v + 1 + torch::randint(num_views - 1, {1}, at::kLong).item<int64_t>()) % num_views : v;
  const CachedView& view = views_[v];

  // The 2D network on views v and u (one decoder pass): y = g(AdaIN(f(c), f(s))).
  const at::Tensor t = torch::cat({AdaptiveInstanceNorm(content_relu4_[v], style_relu4_[s]),
                                   AdaptiveInstanceNorm(content_relu4_[u], style_relu4_[s])});
  at::Tensor y;
  {
    torch::AutoGradMode grad(config_.train_decoder);
    y = adain_->decoder->forward(t);  // [2,3,H,W]
  }
  const at::Tensor y_v = y[0].permute({1, 2, 0});  // [H,W,3]

  // The style module's render of view v at a sample of its latent.
  const at::Tensor style_index = torch::tensor({s}, at::kLong).to(device_);
  const at::Tensor view_index = torch::tensor({v}, at::kLong).to(device_);
  const at::Tensor render =
      RenderCachedView(view, style_, latents_->Latents(style_index, view_index, config_.sample_latents));
  // Mimic: the NeRF learns the 2D network's stylised view, its content and its sky (SkyPoints).
  const at::Tensor mimic = (render - y_v.detach().clamp(0, 1)).pow(2).mean();
  const at::Tensor kl = latents_->KlToPrior(style_index, view_index, prior_mu_, prior_logvar_).mean();
  at::Tensor loss = config_.mimic_weight * mimic + config_.kl_weight * kl;
  if (config_.render_style_weight > 0) {
    loss = loss + config_.render_style_weight * StyleLossOf(adain_->encoder->forward(Nchw(render)), s);
  }

  double content_value = 0, style_value = 0, consistency_value = 0;
  if (config_.train_decoder) {
    const StyleFeatures f = adain_->encoder->forward(y);
    const at::Tensor content = F::mse_loss(f[3], t);
    const at::Tensor style = StyleLossOf(f, s);
    at::Tensor consistency = torch::zeros({}, y.options());
    if (u != v) {
      // View u's stylised image warped into view v with the frozen field's depth (occluded pixels masked out).
      const CachedView& other = views_[u];
      const WarpResult warp = WarpFrame(y[1].permute({1, 2, 0}), other.depth, other.camera, view.depth, view.camera);
      const at::Tensor mask = warp.mask.unsqueeze(2).to(y.dtype());
      const double visible = mask.sum().item<double>();
      if (visible > 0) consistency = ((y_v - warp.warped).pow(2) * mask).sum() / (3 * visible);
    }
    const at::Tensor reverse = (y_v - render.detach()).pow(2).mean();
    loss = loss + config_.content_weight * content + config_.style_weight * style +
           config_.consistency_weight * consistency + config_.reverse_mimic_weight * reverse;
    content_value = content.item<double>();
    style_value = style.item<double>();
    consistency_value = consistency.item<double>();
  }
  style_optimizer_->zero_grad();
  decoder_optimizer_->zero_grad();
  context.CheckFinite(loss.item<double>(), "");
  loss.backward();
  style_optimizer_->step();
  if (config_.train_decoder) decoder_optimizer_->step();
  char status[128];
  std::snprintf(status, sizeof(status), "kl %.3f  2d content %.3f style %.3f cons %.4f", kl.item<double>(),
                content_value, style_value, consistency_value);
  return {mimic.item<double>(), true, status};
}

at::Tensor StylizeMethod::RenderView(int64_t style, int64_t view) {
  torch::NoGradGuard no_grad;
  NE_CHECK(view >= 0 && view < static_cast<int64_t>(views_.size()), "stylize: view ", view, " is out of range");
  return RenderCachedView(views_[view], style_, latents_->RenderLatent(style).unsqueeze(0)).clamp(0, 1);
}

double StylizeMethod::StyleLoss(int64_t style, int64_t view, bool unstyled) {
  torch::NoGradGuard no_grad;
  const at::Tensor image = unstyled ? views_.at(view).content : RenderView(style, view);
  return StyleLossOf(adain_->encoder->forward(Nchw(image)), style).item<double>();
}

double StylizeMethod::ImageStyleLoss(int64_t style, const at::Tensor& image) {
  torch::NoGradGuard no_grad;
  return StyleLossOf(adain_->encoder->forward(Nchw(image.to(device_))), style).item<double>();
}

at::Tensor StylizeMethod::DecoderOutput(int64_t style, int64_t view) {
  torch::NoGradGuard no_grad;
  return adain_->decoder->forward(AdaptiveInstanceNorm(content_relu4_.at(view), style_relu4_.at(style)))[0].permute(
      {1, 2, 0});
}

double StylizeMethod::DecoderStyleLoss(int64_t style, int64_t view) {
  return ImageStyleLoss(style, DecoderOutput(style, view).clamp(0, 1));
}

Evaluation StylizeMethod::Evaluate(const EvalRequest& request) {
  std::optional<ScopedThreads> threads;
  if (config_.threads > 0) threads.emplace(1, config_.threads);
  const int64_t n = static_cast<int64_t>(views_.size()), count = std::min(n, config_.eval_style_views);
  if (!request.image_dir.empty()) fs::create_directories(request.image_dir);
  double styled = 0, unstyled = 0, decoded = 0;
  nlohmann::json per_style = nlohmann::json::array();
  for (int64_t s = 0; s < static_cast<int64_t>(styles_.size()); ++s) {
    double a = 0, b = 0, d = 0;
    std::vector<at::Tensor> strip;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t k = i * n / count;
      a += StyleLoss(s, k, false) / count;
      b += StyleLoss(s, k, true) / count;
      d += DecoderStyleLoss(s, k) / count;
      if (!request.image_dir.empty()) strip.push_back(RenderView(s, k).cpu());
    }
    if (!strip.empty()) SaveImage(request.image_dir + "/style_" + std::to_string(s) + ".png", torch::cat(strip, 1));
    per_style.push_back(
        {{"style", style_names_[s]}, {"style_loss", a}, {"unstyled_style_loss", b}, {"decoder_style_loss", d}});
    decoded += d / styles_.size();
    styled += a / styles_.size();
    unstyled += b / styles_.size();
  }
  Evaluation e;
  e.valid = true;
  e.curve_point = {{"style_loss", styled}, {"unstyled_style_loss", unstyled}, {"decoder_style_loss", decoded}};
  e.summary = e.curve_point;
  e.report = {{"style_loss", styled},
              {"unstyled_style_loss", unstyled},
              {"decoder_style_loss", decoded},
              {"styles", per_style}};
  char line[200];
  std::snprintf(line, sizeof(line),
                "style loss of the renders %.4f (the unstyled run's %.4f, the 2D network's %.4f), %zu styles x %lld "
                "views",
                styled, unstyled, decoded, styles_.size(), static_cast<long long>(count));
  e.headline = line;
  return e;
}

void StylizeMethod::SaveState(torch::serialize::OutputArchive& archive) {
  torch::serialize::OutputArchive nerf, style, latents, vae, decoder;
  nerf_->SaveState(nerf);
  style_->save(style);
  latents_->save(latents);
  vae_->save(vae);
  adain_->decoder->save(decoder);
  archive.write("nerf", nerf);
  archive.write("style", style);
  archive.write("latents", latents);
  archive.write("vae", vae);
  archive.write("decoder", decoder);
  archive.write("prior_mu", prior_mu_, /*is_buffer=*/true);
  archive.write("prior_logvar", prior_logvar_, /*is_buffer=*/true);
}

void StylizeMethod::LoadState(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive nerf;
  archive.read("nerf", nerf);
  nerf_->LoadState(nerf);
  for (auto& p : nerf_->field()->parameters()) p.set_requires_grad(false);
  LoadModuleState(*style_, archive, "style", "stylized run");
  LoadModuleState(*latents_, archive, "latents", "stylized run");
  LoadModuleState(*vae_, archive, "vae", "stylized run");
  LoadModuleState(*adain_->decoder, archive, "decoder", "stylized run");
  archive.read("prior_mu", prior_mu_, /*is_buffer=*/true);
  archive.read("prior_logvar", prior_logvar_, /*is_buffer=*/true);
}

}  // namespace nerfedit
