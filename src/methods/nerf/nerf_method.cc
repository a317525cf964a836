#include "methods/nerf/nerf_method.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "engine/sparse_adam.h"
#include "fields/hash_encoding.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

NerfMethod::NerfMethod(const NerfConfig& config, DataParallel parallel) : config_(config), parallel_(parallel) {
  config_.Check();
  NE_CHECK(!config_.data.empty(), "no training data given (--data DIR)");
  torch::manual_seed(config_.trainer.seed);
  Dataset all = LoadTransformsDataset(
      config_.data, DatasetOptions().downscale(config_.downscale).background(config_.background));
  if (config_.test_every > 0 && all.size() > 1) {
    SplitEveryNth(all, config_.test_every, &train_, &test_);
  } else {
    train_ = all;
  }
  NE_CHECK(train_.size() > 0, config_.data, ": no training views left after the held-out split (test_every=",
           config_.test_every, ")");
  const c10::Device device = ParseDevice(config_.trainer.device);
  model_ = std::make_shared<NerfModel>(config_, train_.aabb, train_.cameras, device);
  // Instant-NGP's Adam (beta2 0.99); with sparse_adam the hash tables get an optimizer that touches only the rows a
  // step used (engine/sparse_adam.h), the dense MLP weights keep torch's Adam.
  std::vector<at::Tensor> tables, dense;
  if (config_.sparse_adam) tables = HashEncodingTables(*model_->field());
  for (const auto& p : model_->field()->parameters()) {
    const bool is_table = std::any_of(tables.begin(), tables.end(), [&](const at::Tensor& t) { return t.is_same(p); });
    if (!is_table) dense.push_back(p);
  }
  optimizer_ = std::make_unique<torch::optim::Adam>(
      dense, torch::optim::AdamOptions(config_.lr).betas({0.9, 0.99}).eps(config_.adam_eps));
  if (!tables.empty()) {
    table_optimizer_ = std::make_unique<SparseAdam>(
        tables, SparseAdamOptions(config_.lr).beta1(0.9).beta2(0.99).eps(config_.adam_eps));
  }
  data_ = RayDataManager(train_, config_.background, config_.random_background, device, config_.train_supersample);
  batch_rays_ = config_.batch_rays;
}

nlohmann::json NerfMethod::RunExtras() const {
  nlohmann::json cameras = nlohmann::json::array();
  for (const auto& c : train_.cameras) cameras.push_back(c.ToJson());
  auto a = train_.aabb.to(at::kCPU, at::kFloat).reshape(-1).contiguous();
  return {{"aabb", std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6)}, {"cameras", cameras}};
}

std::vector<OptimizerSlot> NerfMethod::Optimizers() {
  std::vector<OptimizerSlot> slots = {{"field", optimizer_.get(), config_.Schedule()}};
  if (table_optimizer_) slots.push_back({"tables", table_optimizer_.get(), config_.Schedule()});
  return slots;
}

void NerfMethod::SetTraining(bool training) { model_->field()->train(training); }

RenderOutputs NerfMethod::RenderTrainingBatch(const PixelBatch& batch) {
  return model_->RenderRays(batch.rays, batch.background, /*training=*/true, /*features=*/true, batch.sample_offsets);
}

StepResult NerfMethod::Step(const StepContext& context) {
  if (model_->MaybeUpdateGrid(context.step)) {
    // Every rank computed the same update (same weights, same random cells); rank 0's copy is made authoritative
    // all the same, since the density MLP's products may round differently under another thread count.
    if (parallel_.active()) parallel_.collective->Broadcast({model_->grid().density(), model_->grid().occupied()});
    occupied_percent_ = 100 * model_->grid().OccupiedFraction();
  }
  // Data-parallel: every rank draws the same global batch (same seed, same random stream) - with the sampler's
  // jitter, drawn here for the occupancy sampler where it would otherwise be drawn by the march - and renders its
  // slice of the pixels; each rank's mean loss is scaled so that the average of the ranks' gradients is the
  // gradient of the global batch's mean loss.
  const int64_t pixels = std::max<int64_t>(1, batch_rays_ / data_.rays_per_pixel());
  NE_CHECK(pixels >= parallel_.world_size, "a batch of ", pixels, " pixels cannot be split over ",
           parallel_.world_size, " ranks");
  PixelBatch batch = data_.Sample(pixels);
  if (config_.sampler == "occupancy") batch.sample_offsets = at::rand({batch.rays.size()}, at::kFloat);
  const auto [begin, end] = parallel_.Shard(pixels);
  if (parallel_.active()) batch = batch.Slice(begin, end);
  RenderOutputs out;
  at::Tensor extra;
  {
    // Whatever the render draws itself (the stratified samplers' jitter, dff's) comes from a per-rank stream.
    RankRandomScope rank_stream(parallel_, config_.trainer.seed, context.step, model_->device());
    out = RenderTrainingBatch(batch);
    extra = ExtraLoss(batch, out);
  }
  auto photometric = torch::mse_loss(batch.PixelMean(out.rgb), batch.target);
  auto loss = photometric;
  if (out.coarse_rgb.defined()) loss = loss + torch::mse_loss(batch.PixelMean(out.coarse_rgb), batch.target);
  if (extra.defined()) loss = loss + extra;
  optimizer_->zero_grad();  // the sparse table optimizer released its gradients after its last step
  (parallel_.active() ? loss * parallel_.LossScale(pixels) : loss).backward();
  double loss_value = loss.item<double>(), photometric_value = photometric.item<double>();
  double num_samples = static_cast<double>(out.num_samples);
  if (parallel_.active()) {
    // The global batch's figures, equal on every rank: a NaN anywhere stops every rank, and the batch adapts to the
    // samples of the whole batch as in one process.
    const double share = static_cast<double>(end - begin) / pixels;
    at::Tensor stats = torch::tensor({loss_value * share, photometric_value * share, num_samples}, torch::kDouble);
    parallel_.collective->AllReduce(stats, ReduceOp::kSum);
    loss_value = stats[0].item<double>();
    photometric_value = stats[1].item<double>();
    num_samples = stats[2].item<double>();
  }
  context.CheckFinite(loss_value, "");
  context.ReduceGradients(model_->field()->parameters());
  optimizer_->step();
  if (table_optimizer_) table_optimizer_->step();
  if (config_.target_samples_per_step > 0 && num_samples > 0) {
    // Keep the number of samples per step near the target (Instant-NGP adapts its batch the same way).
    const double ratio = static_cast<double>(config_.target_samples_per_step) / num_samples;
    batch_rays_ = std::clamp<int64_t>(static_cast<int64_t>(batch_rays_ * std::clamp(ratio, 0.5, 2.0)), 256, 1 << 18);
  }
  char status[96];
  std::snprintf(status, sizeof(status), "rays %lld  occ %.1f%%", static_cast<long long>(batch_rays_),
                occupied_percent_);
  return {photometric_value, true, status};
}

Evaluation NerfMethod::ToEvaluation(const EvalResult& result) {
  Evaluation e;
  e.valid = true;
  e.curve_point = {{"psnr", result.psnr}, {"ssim", result.ssim}, {"views", result.views.size()}};
  e.report = result.ToJson();
  e.summary = {{"psnr_db", result.psnr}, {"ssim", result.ssim}};
  if (result.depth_mae >= 0) e.summary["depth_mae"] = result.depth_mae;
  char line[96];
  std::snprintf(line, sizeof(line), "held-out PSNR %.2f dB", result.psnr);
  e.headline = line;
  return e;
}

Evaluation NerfMethod::Evaluate(const EvalRequest& request) {
  if (test_.size() == 0) return {};
  EvalOptions options;
  options.max_views = request.max_views;
  options.compute_ssim = request.final;
  options.image_dir = request.image_dir;
  return ToEvaluation(EvaluateViews(*model_, test_, options));
}

void NerfMethod::SaveState(torch::serialize::OutputArchive& archive) {
  model_->SaveState(archive);
  archive.write("batch_rays", torch::tensor(batch_rays_), /*is_buffer=*/true);
}

std::vector<at::Tensor> NerfMethod::ReplicatedState() {
  std::vector<at::Tensor> tensors = model_->field()->parameters();
  if (model_->grid().density().defined()) {
    tensors.push_back(model_->grid().density());
    tensors.push_back(model_->grid().occupied());
  }
  return tensors;
}

void NerfMethod::LoadState(torch::serialize::InputArchive& archive) {
  model_->LoadState(archive);
  torch::Tensor batch;
  archive.read("batch_rays", batch, /*is_buffer=*/true);
  batch_rays_ = batch.item<int64_t>();
  // The adapted batch stays inside what the config allows (NerfConfig::Check); a damaged value would size the
  // next step's allocations.
  NE_CHECK(batch_rays_ >= 1 && batch_rays_ <= (1 << 22), "the checkpoint's batch_rays is ", batch_rays_,
           ", expected 1..4194304");
}

}  // namespace nerfedit
