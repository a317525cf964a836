#include "methods/lolnerf/lolnerf_method.h"

#include <torch/torch.h>

#include <cmath>

#include "data/image_io.h"
#include "eval/image_metrics.h"
#include "render/hard_surface_loss.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

LolnerfMethod::LolnerfMethod(const LolnerfConfig& config, const std::string& run_dir, bool quiet,
                             DataParallel parallel)
    : config_(config), parallel_(parallel) {
  config_.Check();
  NE_CHECK(!config_.data.empty(), "no training data given (--data DIR: a category dataset, `nerfedit category make`)");
  torch::manual_seed(config_.trainer.seed);
  data_ = LoadCategoryDataset(config_.data, DatasetOptions().downscale(config_.downscale).background({0, 0, 0}));
  NE_CHECK(data_.data.size() > 0, config_.data, ": no training images");
  const bool mask_loss = config_.fg_bg && config_.mask_weight > 0;
  NE_CHECK(!mask_loss || data_.masks.defined(), config_.data,
           ": the frames carry no \"mask_file_path\" but the mask loss is on (mask_weight ", config_.mask_weight,
           " with fg_bg): give masks, or set mask_weight 0");
  const double start = NowSeconds();
  poses_ = EstimateLolnerfPoses(data_, config_);
  if (!quiet && poses_.landmarks.defined()) {
    std::fprintf(stderr, "landmarks: %s %lld images in %.1f s%s\n",
                 config_.poses == "landmarks" ? "cameras estimated from" : "canonical points fitted on",
                 static_cast<long long>(data_.data.size()), NowSeconds() - start,
                 poses_.rotation_error_deg >= 0
                     ? c10::str(", rotation error vs the dataset's cameras ", poses_.rotation_error_deg, " deg").c_str()
                     : "");
  }
  if (config_.poses == "landmarks" && !run_dir.empty()) {
    WriteTextAtomically(run_dir + "/estimated_cameras.json", poses_.report.dump(1));
  }
  Dataset train = data_.data;
  train.cameras = poses_.cameras;
  const c10::Device device = ParseDevice(config_.trainer.device);
  model_ = std::make_shared<LolnerfModel>(config_, train.aabb, data_.num_latents, device);
  field_optimizer_ = std::make_unique<torch::optim::Adam>(
      model_->SharedParameters(), torch::optim::AdamOptions(config_.lr).betas({0.9, 0.99}).eps(config_.adam_eps));
  code_optimizer_ = std::make_unique<torch::optim::Adam>(
      std::vector<at::Tensor>{model_->codes()->codes}, torch::optim::AdamOptions(config_.code_lr).betas({0.9, 0.99}));
  rays_ = RayDataManager(train, {0, 0, 0}, /*random_background=*/false, device);
  latent_of_image_ = data_.latent_index.to(device, at::kLong);
  if (data_.masks.defined()) masks_ = data_.masks.reshape(-1).to(device, at::kFloat);
}

nlohmann::json LolnerfMethod::RunExtras() const {
  nlohmann::json cameras = nlohmann::json::array();
  for (const auto& c : poses_.cameras) cameras.push_back(c.ToJson());
  const at::Tensor a = data_.data.aabb.to(at::kCPU, at::kFloat).reshape(-1).contiguous();
  const at::Tensor latents = data_.latent_index.to(at::kCPU, at::kLong).contiguous();
  nlohmann::json extras = {
      {"aabb", std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6)},
      {"cameras", cameras},
      {"latent_index", std::vector<int64_t>(latents.data_ptr<int64_t>(), latents.data_ptr<int64_t>() + latents.numel())},
      {"num_latents", data_.num_latents},
      {"kind", data_.kind}};
  if (poses_.landmarks.defined()) extras["landmarks"] = poses_.landmarks.ToJson();
  if (poses_.rotation_error_deg >= 0) extras["pose_rot_err_deg"] = poses_.rotation_error_deg;
  return extras;
}

std::vector<OptimizerSlot> LolnerfMethod::Optimizers() {
  return {{"field", field_optimizer_.get(), config_.Schedule()},
          {"codes", code_optimizer_.get(), {config_.code_lr, config_.lr_final_factor, 0}}};
}

StepResult LolnerfMethod::Step(const StepContext& context) {
  // Data-parallel: the same global batch (and sampler jitter) on every rank, each rendering its slice of it. Ranks
  // split pixels rather than own image shards (the paper's layout): one process's result exactly, no latent
  // gathering, and a 64-px collection of thousands of images fits in every rank's memory.
  PixelBatch batch = rays_.Sample(config_.batch_rays);
  at::Tensor jitter = at::rand({batch.rays.size(), config_.num_samples + 1}, at::kFloat);
  const auto [begin, end] = parallel_.Shard(config_.batch_rays);
  if (parallel_.active()) {
    NE_CHECK(batch.rays_per_pixel == 1, "lolnerf: data-parallel batches are split by rays (one ray per pixel)");
    batch = batch.Slice(begin, end);
    jitter = jitter.slice(0, begin, end);
  }
  const at::Tensor latents = latent_of_image_.index_select(0, batch.camera);
  const at::Tensor codes = model_->codes()->Lookup(latents);
  const LolnerfRays out = model_->RenderRays(batch.rays, codes, /*training=*/true, jitter);
  const at::Tensor photometric = torch::mse_loss(out.rgb, batch.target);
  at::Tensor loss = photometric + model_->codes()->NormPenalty(latents);
  const double mask_weight = config_.fg_bg ? config_.mask_weight : 0;  // no foreground opacity without the split
  double mask_value = 0, hard_value = 0;
  AddMaskAndHardSurfaceLoss(&loss, out.fg_opacity,
                            mask_weight > 0 ? masks_.index_select(0, batch.index) : at::Tensor(), mask_weight,
                            out.weights, config_.hard_surface_weight, &mask_value, &hard_value);
  field_optimizer_->zero_grad();
  code_optimizer_->zero_grad();
  (parallel_.active() ? loss * parallel_.LossScale(config_.batch_rays) : loss).backward();
  double loss_value = loss.item<double>(), photometric_value = photometric.item<double>();
  if (parallel_.active()) {
    // The global batch's figures on every rank (a NaN on one rank stops them all).
    const double share = static_cast<double>(end - begin) / config_.batch_rays;
    at::Tensor stats = torch::tensor({loss_value, photometric_value, mask_value, hard_value}, torch::kDouble) * share;
    parallel_.collective->AllReduce(stats, ReduceOp::kSum);
    loss_value = stats[0].item<double>();
    photometric_value = stats[1].item<double>();
    mask_value = stats[2].item<double>();
    hard_value = stats[3].item<double>();
  }
  context.CheckFinite(loss_value, "");
  std::vector<at::Tensor> reduced = model_->SharedParameters();
  reduced.push_back(model_->codes()->codes);  // a latent's pixels may fall on several ranks' slices
  context.ReduceGradients(reduced);
  field_optimizer_->step();
  code_optimizer_->step();
  char status[96];
  std::snprintf(status, sizeof(status), "mask %.4f  hard %.3f", mask_value, hard_value);
  return {photometric_value, true, status};
}

Evaluation LolnerfMethod::Evaluate(const EvalRequest& request) {
  const int64_t n = data_.data.size();
  int64_t count = std::min(n, config_.eval_images);
  if (count == 0) return {};
  if (!request.image_dir.empty()) std::filesystem::create_directories(request.image_dir);
  double psnr = 0, mask_error = 0, depth_mae = 0;
  int64_t depth_views = 0;
  nlohmann::json views = nlohmann::json::array();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t k = i * n / count;  // spread over the set
    const at::Tensor code = model_->codes()->codes[latent_of_image_[k].item<int64_t>()].detach();
    const RenderedView view = model_->RenderCamera(poses_.cameras[k], code);
    const double p = Psnr(view.rgb, data_.data.images[k]);
    nlohmann::json v = {{"image", k}, {"psnr", p}};
    psnr += p / count;
    if (data_.masks.defined()) {
      const double e = (view.opacity - data_.masks[k]).abs().mean().item<double>();
      v["mask_mae"] = e;
      mask_error += e / count;
    }
    if (data_.data.depths.defined()) {
      const at::Tensor gt = data_.data.depths[k];
      const double d = MaskedMae(view.depth / view.opacity.clamp_min(1e-6f), gt, gt > 0);
      v["depth_mae"] = d;
      depth_mae += d;
      ++depth_views;
    }
    views.push_back(v);
    if (!request.image_dir.empty()) {
      const std::string stem = request.image_dir + "/" + std::to_string(k);
      SaveImage(stem + "_render.png", view.rgb);
      SaveImage(stem + "_gt.png", data_.data.images[k]);
    }
  }
  Evaluation e;
  e.valid = true;
  e.curve_point = {{"psnr", psnr}, {"views", count}};
  e.summary = {{"train_psnr", psnr}};
  if (data_.masks.defined()) {
    e.curve_point["mask_mae"] = mask_error;
    e.summary["mask_mae"] = mask_error;
  }
  if (depth_views > 0) {
    e.curve_point["depth_mae"] = depth_mae / depth_views;
    e.summary["train_depth_mae"] = depth_mae / depth_views;
  }
  if (poses_.rotation_error_deg >= 0) e.summary["pose_rot_err_deg"] = poses_.rotation_error_deg;
  e.report = {{"train_psnr", psnr}, {"views", views}};
  char line[128];
  std::snprintf(line, sizeof(line), "training-image PSNR %.2f dB (%lld images)", psnr, static_cast<long long>(count));
  e.headline = line;
  return e;
}

}  // namespace nerfedit
