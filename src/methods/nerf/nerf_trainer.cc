#include "methods/nerf/nerf_trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/progress_bar.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {
std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted = true; }

Dataset LoadData(const NerfConfig& config) {
  NE_CHECK(!config.data.empty(), "no training data given (--data DIR)");
  return LoadTransformsDataset(config.data,
                               DatasetOptions().downscale(config.downscale).background(config.background));
}
}  // namespace

NerfTrainer::NerfTrainer(const NerfConfig& config, const std::string& run_dir, TrainerOptions options)
    : NerfTrainer(config, run_dir, options, /*resume=*/false) {}

NerfTrainer::NerfTrainer(const NerfConfig& config, const std::string& run_dir, TrainerOptions options, bool resume)
    : config_(config), run_dir_(run_dir), options_(options) {
  if (!resume) {
    NE_CHECK(!fs::exists(run_dir) || fs::is_empty(run_dir), "run folder ", run_dir,
             " already exists and is not empty: choose another --out, or continue it with --resume");
  }
  torch::manual_seed(config_.seed);
  Dataset all = LoadData(config_);
  if (config_.test_every > 0 && all.size() > 1) {
    SplitEveryNth(all, config_.test_every, &train_, &test_);
  } else {
    train_ = all;
  }
  NE_CHECK(train_.size() > 0, config_.data, ": no training views left after the held-out split (test_every=",
           config_.test_every, ")");
  const c10::Device device = ParseDevice(config_.device);
  model_ = std::make_shared<NerfModel>(config_, train_.aabb, train_.cameras, device);
  const double lr = config_.lr;
  optimizer_ = std::make_unique<torch::optim::Adam>(
      model_->field()->parameters(), torch::optim::AdamOptions(lr).betas({0.9, 0.99}).eps(config_.adam_eps));
  pixels_ = train_.images.reshape({-1, 3}).to(device);
  if (train_.alphas.defined()) alphas_ = train_.alphas.reshape({-1}).to(device);
  StackCameras(train_.cameras, &intrinsics_, &poses_);
  intrinsics_ = intrinsics_.to(device);
  poses_ = poses_.to(device);
  batch_rays_ = config_.batch_rays;
  if (!resume) {
    fs::create_directories(run_dir_);
    WriteRunInfo(run_dir_, config_, train_.aabb, train_.cameras);
  }
}

std::unique_ptr<NerfTrainer> NerfTrainer::Resume(const std::string& run_dir, const nlohmann::json& overrides,
                                                 TrainerOptions options) {
  RunInfo info = ReadRunInfo(run_dir);
  nlohmann::json merged = info.config.ToJson();
  for (auto it = overrides.begin(); it != overrides.end(); ++it) merged[it.key()] = it.value();
  NerfConfig config = NerfConfig::FromJson(merged, run_dir + " (resumed config)");
  std::unique_ptr<NerfTrainer> trainer(new NerfTrainer(config, run_dir, options, /*resume=*/true));
  trainer->progress_ = LoadCheckpoint(run_dir + "/checkpoint.pt", *trainer->model_, trainer->optimizer_.get());
  if (trainer->progress_.batch_rays > 0) trainer->batch_rays_ = trainer->progress_.batch_rays;
  if (!overrides.empty()) WriteRunInfo(run_dir, config, trainer->train_.aabb, trainer->train_.cameras);
  return trainer;
}

double NerfTrainer::Progress() const {
  double p = static_cast<double>(progress_.step) / config_.steps;
  if (config_.time_budget_s > 0) p = std::max(p, progress_.train_seconds / config_.time_budget_s);
  return std::min(p, 1.0);
}

void NerfTrainer::SetLearningRate() {
  // Exponential decay from lr to lr * lr_final_factor over training progress, after a linear warm-up.
  double lr = config_.lr * std::pow(config_.lr_final_factor, Progress());
  if (config_.lr_warmup_steps > 0 && progress_.step < config_.lr_warmup_steps) {
    lr *= 0.1 + 0.9 * static_cast<double>(progress_.step) / config_.lr_warmup_steps;
  }
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

double NerfTrainer::Step() {
  const auto device = model_->device();
  const int64_t h = train_.height(), w = train_.width();
  auto index = torch::randint(pixels_.size(0), {batch_rays_}, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto camera = torch::div(index, h * w, "floor");
  auto pixel = index - camera * (h * w);
  auto y = torch::div(pixel, w, "floor");
  auto x = pixel - y * w;
  auto xy = torch::stack({x, y}, 1).to(torch::kFloat) + 0.5f;
  RayBatch rays = GenerateRays(intrinsics_, poses_, camera, xy);
  auto target = pixels_.index_select(0, index);
  auto background = torch::tensor(config_.background).to(device);
  if (config_.random_background && alphas_.defined()) {
    // Random backgrounds make transparent pixels unexplainable by density (Instant-NGP): re-composite the target.
    auto random_bg = torch::rand({batch_rays_, 3}, torch::TensorOptions().device(device));
    auto alpha = alphas_.index_select(0, index).unsqueeze(1);
    target = target + (1 - alpha) * (random_bg - background);
    background = random_bg;
  }
  SetLearningRate();
  RenderOutputs out = model_->RenderRays(rays, background, /*training=*/true);
  auto photometric = torch::mse_loss(out.rgb, target);
  auto loss = photometric;
  if (out.coarse_rgb.defined()) loss = loss + torch::mse_loss(out.coarse_rgb, target);
  if (auxiliary_loss_) loss = loss + auxiliary_loss_(camera, xy, out);
  optimizer_->zero_grad();
  loss.backward();
  const double value = loss.item<double>();
  NE_CHECK(std::isfinite(value), "training loss became NaN/inf (", value, ") at step ", progress_.step,
           ": stopping (the last checkpoint in ", run_dir_, " is intact; try a lower --lr)");
  optimizer_->step();
  if (config_.target_samples_per_step > 0 && out.num_samples > 0) {
    // Keep the number of samples per step near the target (Instant-NGP adapts its batch the same way).
    const double ratio = static_cast<double>(config_.target_samples_per_step) / out.num_samples;
    batch_rays_ = std::clamp<int64_t>(static_cast<int64_t>(batch_rays_ * std::clamp(ratio, 0.5, 2.0)), 256, 1 << 18);
  }
  return out.coarse_rgb.defined() || auxiliary_loss_ ? photometric.item<double>() : value;
}

void NerfTrainer::RecordEval(const EvalResult& eval) {
  progress_.curve.push_back({{"step", progress_.step},
                             {"train_s", progress_.train_seconds},
                             {"psnr", eval.psnr},
                             {"ssim", eval.ssim},
                             {"views", eval.views.size()}});
}

EvalResult NerfTrainer::Train() {
  g_interrupted = false;
  auto previous_handler = std::signal(SIGINT, OnInterrupt);
  const std::string checkpoint = run_dir_ + "/checkpoint.pt";
  const int64_t total_steps = config_.steps;
  std::unique_ptr<ProgressBar> bar;
  if (!options_.quiet) bar = std::make_unique<ProgressBar>("train", total_steps);
  double ema_mse = -1;
  double occupied_percent = 100;
  auto save = [&] {
    progress_.batch_rays = batch_rays_;
    SaveCheckpoint(checkpoint, *model_, optimizer_.get(), progress_);
  };
  auto done = [&] {
    return progress_.step >= total_steps ||
           (config_.time_budget_s > 0 && progress_.train_seconds >= config_.time_budget_s) || g_interrupted;
  };
  try {
    model_->field()->train();
    while (!done()) {
      const double t0 = NowSeconds();
      if (model_->MaybeUpdateGrid(progress_.step)) occupied_percent = 100 * model_->grid().OccupiedFraction();
      const double mse = Step();
      ++progress_.step;
      progress_.train_seconds += NowSeconds() - t0;
      ema_mse = ema_mse < 0 ? mse : 0.95 * ema_mse + 0.05 * mse;
      const bool last = done();
      if (config_.eval_every > 0 && progress_.step % config_.eval_every == 0 && !last && test_.size() > 0) {
        model_->field()->eval();
        EvalResult eval = EvaluateViews(*model_, test_, {config_.eval_views, /*compute_ssim=*/false, ""});
        model_->field()->train();
        RecordEval(eval);
        if (!options_.quiet) {
          std::fprintf(stderr, "%s  step %lld  %.1fs  held-out PSNR %.2f dB\n", bar ? "\n" : "",
                       static_cast<long long>(progress_.step), progress_.train_seconds, eval.psnr);
        }
      }
      if (config_.checkpoint_every > 0 && progress_.step % config_.checkpoint_every == 0) save();
      if (bar) {
        char metrics[200];
        std::snprintf(metrics, sizeof(metrics), "step %lld  loss %.5f  psnr %.2f  rays %lld  occ %.1f%%  %.1f s",
                      static_cast<long long>(progress_.step), ema_mse,
                      -10 * std::log10(std::max(ema_mse, 1e-10)), static_cast<long long>(batch_rays_),
                      occupied_percent, progress_.train_seconds);
        // With a time budget the bar tracks whichever limit comes first.
        int64_t shown = progress_.step;
        if (config_.time_budget_s > 0) shown = std::max<int64_t>(shown, Progress() * total_steps);
        bar->Update(shown, metrics);
      }
    }
  } catch (...) {
    std::signal(SIGINT, previous_handler);
    if (!fs::exists(checkpoint)) {
      std::error_code ignored;
      fs::remove_all(run_dir_, ignored);  // nothing worth keeping: leave no partial run behind
    }
    throw;
  }
  std::signal(SIGINT, previous_handler);
  if (bar) bar->Finish();
  save();
  if (g_interrupted) {
    std::fprintf(stderr, "interrupted: checkpoint saved at step %lld; continue with --resume %s\n",
                 static_cast<long long>(progress_.step), run_dir_.c_str());
  }
  EvalResult final_eval;
  if (test_.size() > 0) {
    model_->field()->eval();
    EvalOptions eval_options;
    if (options_.save_eval_images) eval_options.image_dir = run_dir_ + "/eval";
    final_eval = EvaluateViews(*model_, test_, eval_options);
    RecordEval(final_eval);
    save();
    WriteTextAtomically(run_dir_ + "/eval.json", final_eval.ToJson().dump(1));
  }
  WriteTextAtomically(run_dir_ + "/curve.json", progress_.curve.dump(1));
  return final_eval;
}

}  // namespace nerfedit
