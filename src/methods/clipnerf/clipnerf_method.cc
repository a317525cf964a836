#include "methods/clipnerf/clipnerf_method.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "data/image_io.h"
#include "eval/image_metrics.h"
#include "methods/clipnerf/clipnerf_clip.h"
#include "render/hard_surface_loss.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

std::string CategoryEvalPath(const std::string& data) {
  const fs::path p(data);
  const fs::path eval = fs::is_directory(p) ? p / "transforms_eval.json" : p.parent_path() / "transforms_eval.json";
  return fs::exists(eval) && fs::absolute(eval) != fs::absolute(p) ? eval.string() : std::string();
}

double ForegroundPsnr(const at::Tensor& rgb, const at::Tensor& truth, const at::Tensor& mask) {
  const at::Tensor fg = mask > 0.5f;
  if (fg.sum().item<int64_t>() == 0) return 0;
  const double mse = (rgb - truth).pow(2).mean(2).index({fg}).mean().item<double>();
  return -10 * std::log10(std::max(mse, 1e-10));
}

ClipnerfMethod::ClipnerfMethod(const ClipnerfConfig& config, bool quiet, DataParallel parallel) : config_(config) {
  config_.Check();
  NE_CHECK(!parallel.active(), "clipnerf: data-parallel training is not supported yet (run one process)");
  NE_CHECK(!config_.data.empty(), "no training data given (--data DIR: a category dataset, `nerfedit category make`)");
  torch::manual_seed(config_.trainer.seed);
  const std::vector<float> bg(config_.bg_color.begin(), config_.bg_color.end());
  const DatasetOptions options = DatasetOptions().downscale(config_.downscale).background(bg);
  data_ = LoadCategoryDataset(config_.data, options);
  NE_CHECK(data_.data.size() > 0, config_.data, ": no training images");
  NE_CHECK(config_.mask_weight == 0 || data_.masks.defined(), config_.data,
           ": the frames carry no \"mask_file_path\" but the mask loss is on (mask_weight ", config_.mask_weight,
           "): give masks, or set mask_weight 0");
  const std::string eval_path = CategoryEvalPath(config_.data);
  if (!eval_path.empty() && config_.eval_instances > 0) {
    eval_ = LoadCategoryDataset(eval_path, options);
    NE_CHECK(eval_.num_latents <= data_.num_latents, eval_path, ": held-apart views of instance ",
             eval_.num_latents - 1, " but the training data has ", data_.num_latents, " instances");
  }
  if (!quiet) {
    std::fprintf(stderr, "clipnerf: %lld training images of %lld instances (%s), %lld held-apart views, field %s\n",
                 static_cast<long long>(data_.data.size()), static_cast<long long>(data_.num_latents),
                 data_.kind.c_str(), static_cast<long long>(eval_.data.size()), config_.field.c_str());
  }
  const c10::Device device = ParseDevice(config_.trainer.device);
  const bool gan = config_.objective == "gan";
  // The GAN's codes are drawn from N(0, I): its table holds one code, the prior's mean (0), the run's neutral render.
  model_ = std::make_shared<ClipnerfModel>(config_, data_.data.aabb, gan ? 1 : data_.num_latents, device);
  if (gan) {
    torch::NoGradGuard no_grad;
    model_->codes()->codes.zero_();
    gan_ = std::make_unique<ClipnerfGan>(model_.get(), data_.data.images, PosePrior::Fit(data_.data.cameras),
                                         ClipnerfGanOptions()
                                             .patch(config_.gan_patch)
                                             .batch(config_.gan_batch)
                                             .min_scale(config_.gan_min_scale)
                                             .generator_lr(config_.gan_generator_lr)
                                             .discriminator_lr(config_.gan_discriminator_lr)
                                             .r1_weight(config_.gan_r1_weight)
                                             .discriminator_width(config_.gan_discriminator_width));
    if (config_.fd_clip != "none") {
      const std::string dir = config_.fd_clip.empty() ? DefaultClipnerfClipDir() : config_.fd_clip;
      if (fs::exists(dir + "/model.safetensors")) {
        fd_clip_ = LoadFrozenClip(dir);
        fd_clip_->to(device);
        const int64_t n = std::min<int64_t>(config_.fd_images, data_.data.size());
        fd_real_ = data_.data.images.index_select(0, torch::randperm(data_.data.size()).slice(0, 0, n));
      } else if (!quiet) {
        std::fprintf(stderr, "clipnerf: no CLIP at %s: the GAN's FD figures are off (fd_clip names one)\n",
                     dir.c_str());
      }
    }
    if (!quiet) std::fprintf(stderr, "clipnerf gan: pose prior %s\n", gan_->prior().ToJson().dump().c_str());
    return;
  }
  field_optimizer_ = std::make_unique<torch::optim::Adam>(
      model_->FieldParameters(), torch::optim::AdamOptions(config_.lr).betas({0.9, 0.99}).eps(config_.adam_eps));
  code_optimizer_ = std::make_unique<torch::optim::Adam>(
      std::vector<at::Tensor>{model_->codes()->codes}, torch::optim::AdamOptions(config_.code_lr).betas({0.9, 0.99}));
  rays_ = RayDataManager(data_.data, bg, /*random_background=*/false, device);
  latent_of_image_ = data_.latent_index.to(device, at::kLong);
  if (data_.masks.defined()) masks_ = data_.masks.reshape(-1).to(device, at::kFloat);
}

nlohmann::json ClipnerfMethod::RunExtras() const {
  nlohmann::json cameras = nlohmann::json::array();
  for (const auto& c : data_.data.cameras) cameras.push_back(c.ToJson());
  const at::Tensor a = data_.data.aabb.to(at::kCPU, at::kFloat).reshape(-1).contiguous();
  const at::Tensor latents = data_.latent_index.to(at::kCPU, at::kLong).contiguous();
  return {{"aabb", std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6)},
          {"cameras", cameras},
          {"latent_index",  // the GAN's one code stands for every image
           gan_ ? std::vector<int64_t>(latents.numel(), 0)
                : std::vector<int64_t>(latents.data_ptr<int64_t>(), latents.data_ptr<int64_t>() + latents.numel())},
          {"num_latents", gan_ ? int64_t{1} : data_.num_latents},
          {"kind", data_.kind}};
}

std::vector<OptimizerSlot> ClipnerfMethod::Optimizers() {
  if (gan_) return gan_->Optimizers();
  return {{"field", field_optimizer_.get(), config_.Schedule()},
          {"codes", code_optimizer_.get(), {config_.code_lr, config_.lr_final_factor, 0}}};
}

void ClipnerfMethod::SaveState(torch::serialize::OutputArchive& archive) {
  model_->SaveState(archive);
  if (gan_) gan_->SaveState(archive);
}

void ClipnerfMethod::LoadState(torch::serialize::InputArchive& archive) {
  model_->LoadState(archive);
  if (gan_) gan_->LoadState(archive);
}

double ClipnerfMethod::GanFd() {
  if (!fd_clip_) return -1;
  const at::Tensor generated = gan_->Generate(fd_real_.size(0), /*seed=*/12345);
  return ClipFrechetDistance(fd_clip_, generated, fd_real_);
}

StepResult ClipnerfMethod::Step(const StepContext& context) {
  if (gan_) {
    if (context.step == 0 && fd_clip_) {
      gan_fd_start_ = GanFd();
      std::fprintf(stderr, "clipnerf gan: FD at step 0 %.4f\n", gan_fd_start_);
    }
    return gan_->Step(context);
  }
  const PixelBatch batch = rays_.Sample(config_.batch_rays);
  const at::Tensor latents = latent_of_image_.index_select(0, batch.camera);
  const at::Tensor codes = model_->codes()->Lookup(latents);
  const ClipnerfRays out = model_->RenderRays(batch.rays, codes, /*training=*/true);
  const at::Tensor photometric = torch::mse_loss(out.rgb, batch.target);
  at::Tensor loss = photometric + model_->codes()->NormPenalty(latents);
  double mask_value = 0, hard_value = 0;
  AddMaskAndHardSurfaceLoss(&loss, out.fg_opacity,
                            config_.mask_weight > 0 ? masks_.index_select(0, batch.index) : at::Tensor(),
                            config_.mask_weight, out.weights, config_.hard_surface_weight, &mask_value, &hard_value);
  field_optimizer_->zero_grad();
  code_optimizer_->zero_grad();
  loss.backward();
  context.CheckFinite(loss.item<double>(), "");
  field_optimizer_->step();
  code_optimizer_->step();
  char status[96];
  std::snprintf(status, sizeof(status), "mask %.4f  hard %.3f", mask_value, hard_value);
  return {photometric.item<double>(), true, status};
}

Evaluation ClipnerfMethod::EvaluateGan(const EvalRequest& request) {
  Evaluation e;
  if (!request.image_dir.empty()) {
    const at::Tensor samples = gan_->Generate(8, /*seed=*/777);
    for (int64_t i = 0; i < samples.size(0); ++i) {
      SaveImage(request.image_dir + "/sample_" + std::to_string(i) + ".png", samples[i]);
    }
  }
  if (!fd_clip_) return e;
  const double fd = GanFd();
  e.valid = true;
  e.curve_point = {{"gan_fd", fd}};
  e.summary = {{"gan_fd_end", fd}};
  if (gan_fd_start_ >= 0) e.summary["gan_fd_start"] = gan_fd_start_;
  e.report = e.summary;
  e.report["fd_images"] = fd_real_.size(0);
  char line[128];
  std::snprintf(line, sizeof(line), "FD (CLIP embeddings, %lld generated vs real) %.4f (step 0: %.4f)",
                static_cast<long long>(fd_real_.size(0)), fd, gan_fd_start_);
  e.headline = line;
  return e;
}

Evaluation ClipnerfMethod::Evaluate(const EvalRequest& request) {
  if (!request.image_dir.empty()) std::filesystem::create_directories(request.image_dir);
  if (gan_) return EvaluateGan(request);
  Evaluation e;
  nlohmann::json views = nlohmann::json::array();
  // Training images, re-rendered with their codes.
  const int64_t n = data_.data.size(), count = std::min(n, config_.eval_images);
  double train_psnr = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t k = i * n / count;
    const at::Tensor code = model_->codes()->codes[latent_of_image_[k].item<int64_t>()].detach();
    const RenderedView view = model_->RenderCamera(data_.data.cameras[k], code);
    train_psnr += Psnr(view.rgb, data_.data.images[k]) / count;
    if (!request.image_dir.empty()) {
      SaveImage(request.image_dir + "/train_" + std::to_string(k) + "_render.png", view.rgb);
    }
  }
  // Held-apart views of the first eval_instances instances, with their learnt codes, against the exact renders.
  double novel = 0, novel_fg = 0, novel_iou = 0;
  int64_t novel_views = 0;
  for (int64_t k = 0; k < eval_.data.size(); ++k) {
    const int64_t instance = eval_.latent_index[k].item<int64_t>();
    if (instance >= config_.eval_instances) continue;
    const at::Tensor code = model_->codes()->codes[instance].detach();
    const RenderedView view = model_->RenderCamera(eval_.data.cameras[k], code);
    const double p = Psnr(view.rgb, eval_.data.images[k]);
    nlohmann::json v = {{"view", k}, {"instance", instance}, {"psnr", p}};
    novel += p;
    if (eval_.masks.defined()) {
      const double fg = ForegroundPsnr(view.rgb, eval_.data.images[k], eval_.masks[k]);
      const double iou = MaskIou(view.opacity, eval_.masks[k]);
      v["fg_psnr"] = fg;
      v["mask_iou"] = iou;
      novel_fg += fg;
      novel_iou += iou;
    }
    views.push_back(v);
    ++novel_views;
    if (!request.image_dir.empty()) {
      const std::string stem = request.image_dir + "/novel_" + std::to_string(k);
      SaveImage(stem + "_render.png", view.rgb);
      SaveImage(stem + "_gt.png", eval_.data.images[k]);
    }
  }
  if (count == 0 && novel_views == 0) return e;
  e.valid = true;
  e.curve_point = {{"psnr", train_psnr}};
  e.summary = {{"train_psnr", train_psnr}};
  e.report = {{"train_psnr", train_psnr}, {"views", views}};
  char line[192];
  std::snprintf(line, sizeof(line), "training-image PSNR %.2f dB (%lld images)", train_psnr,
                static_cast<long long>(count));
  if (novel_views > 0) {
    novel /= novel_views;
    e.curve_point["novel_psnr"] = novel;
    e.summary["novel_psnr"] = novel;
    e.report["novel_psnr"] = novel;
    if (eval_.masks.defined()) {
      novel_fg /= novel_views;
      novel_iou /= novel_views;
      e.curve_point["novel_fg_psnr"] = novel_fg;
      e.summary["novel_fg_psnr"] = novel_fg;
      e.summary["novel_mask_iou"] = novel_iou;
      e.report["novel_fg_psnr"] = novel_fg;
      e.report["novel_mask_iou"] = novel_iou;
    }
    std::snprintf(line, sizeof(line), "training-image PSNR %.2f dB, held-apart views %.2f dB (fg %.2f dB, IoU %.3f, "
                  "%lld views)", train_psnr, novel, novel_fg, novel_iou, static_cast<long long>(novel_views));
  }
  e.headline = line;
  return e;
}

}  // namespace nerfedit
