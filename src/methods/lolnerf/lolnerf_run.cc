#include "methods/lolnerf/lolnerf_run.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>

#include "engine/run_folder.h"
#include "eval/image_metrics.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

LolnerfRunInfo ReadLolnerfRun(const std::string& run_dir) {
  const RunHeader header = ReadRunJson(run_dir);
  const std::string path = run_dir + "/run.json";
  NE_CHECK(header.method == "lolnerf", run_dir, " was made by method \"", header.method, "\", not \"lolnerf\"");
  LolnerfRunInfo info;
  info.run_dir = run_dir;
  info.run_json = header.json;
  info.config = LolnerfConfig::FromJson(header.config, path + " config");
  CodedRunExtras extras = ReadCodedRunExtras(header.json, path, "lolnerf");
  info.aabb = extras.aabb;
  info.cameras = std::move(extras.cameras);
  info.num_latents = extras.num_codes;
  try {
    const auto& j = header.json;
    if (j.contains("landmarks")) info.landmarks = LolnerfLandmarkModel::FromJson(j["landmarks"], path + " landmarks");
    if (j.contains("instance")) info.instance = j["instance"];
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(path, ": malformed lolnerf extras: ", e.what());
  }
  return info;
}

std::shared_ptr<LolnerfModel> LoadLolnerfModel(const LolnerfRunInfo& info, const std::string& device) {
  auto model = std::make_shared<LolnerfModel>(info.config, info.aabb, info.num_latents, ParseDevice(device));
  const std::string path = info.run_dir + "/checkpoint.pt";
  LoadModelRecord(path, "lolnerf", "lolnerf model",
                  [&](torch::serialize::InputArchive& record) { model->LoadState(record); });
  model->SetTraining(false);
  return model;
}

std::shared_ptr<LolnerfInstance> LoadLolnerfRun(const std::string& run_dir, const std::string& device) {
  const LolnerfRunInfo info = ReadLolnerfRun(run_dir);
  auto model = LoadLolnerfModel(info, device);
  at::Tensor code;
  if (!info.instance.is_null()) {
    NE_CHECK(info.instance.contains("code") && info.instance["code"].is_array(), run_dir,
             "/run.json: \"instance\" has no \"code\" list");
    code = torch::tensor(info.instance["code"].get<std::vector<float>>());
  } else if (info.config.render_latent >= 0) {
    NE_CHECK(info.config.render_latent < info.num_latents, run_dir, ": render_latent ", info.config.render_latent,
             " is not one of the run's ", info.num_latents, " latents");
    code = model->codes()->codes[info.config.render_latent].detach();
  } else {
    code = model->codes()->Mean();
  }
  return std::make_shared<LolnerfInstance>(model, code, info.cameras);
}

Camera IntrinsicsFor(const LolnerfRunInfo& info, int64_t width, int64_t height) {
  const Camera& c = info.cameras.at(0);
  Camera out;
  out.width = width;
  out.height = height;
  out.fx = c.fx * width / c.width;
  out.fy = c.fy * height / c.height;
  out.cx = c.cx * width / c.width;
  out.cy = c.cy * height / c.height;
  out.world_from_cam = torch::eye(4);
  return out;
}

void LolnerfFitOptions::Check() const {
  NE_CHECK(steps() >= 0, "fit: --steps must be >= 0, got ", steps());
  NE_CHECK(rays() >= 1, "fit: --rays must be >= 1, got ", rays());
  NE_CHECK(lr() > 0, "fit: --lr must be > 0, got ", lr());
}

LolnerfFit FitLolnerfImage(LolnerfModel& model, const LolnerfLandmarkModel& landmarks, const Camera& camera_in,
                           const at::Tensor& image, const at::Tensor& landmarks_px, const at::Tensor& mask,
                           const LolnerfFitOptions& options, bool camera_known) {
  options.Check();
  NE_CHECK(image.dim() == 3 && image.size(2) == 3, "fit: the image must be [H,W,3], got ", image.sizes());
  const int64_t h = image.size(0), w = image.size(1);
  NE_CHECK(camera_in.width == w && camera_in.height == h, "fit: the camera is ", camera_in.width, "x",
           camera_in.height, " but the image is ", w, "x", h);
  NE_CHECK(!mask.defined() || (mask.dim() == 2 && mask.size(0) == h && mask.size(1) == w), "fit: the mask is ",
           mask.sizes(), " but the image is ", w, "x", h);
  LolnerfFit fit;
  fit.camera = camera_in;
  if (!camera_known) {
    const at::Tensor intrinsics = torch::tensor({camera_in.fx, camera_in.fy, camera_in.cx, camera_in.cy}, torch::kFloat);
    fit.camera.world_from_cam = landmarks.FitCamera(landmarks_px, intrinsics, "landmarks", &fit.landmark_residual_px);
  }
  torch::manual_seed(options.seed());
  // The field and background are frozen: only the latent learns (their weights get no gradients).
  std::vector<std::pair<at::Tensor, bool>> frozen;
  for (auto& p : model.SharedParameters()) {
    frozen.emplace_back(p, p.requires_grad());
    p.requires_grad_(false);
  }
  at::Tensor code = model.codes()->Mean().clone().to(model.device()).requires_grad_(true);
  torch::optim::Adam optimizer({code}, torch::optim::AdamOptions(options.lr()).betas({0.9, 0.99}));
  const RayBatch all_rays = GenerateRays(fit.camera);
  const at::Tensor target = image.reshape({-1, 3}).to(model.device(), at::kFloat);
  const at::Tensor mask_flat = mask.defined() ? mask.reshape(-1).to(model.device(), at::kFloat) : at::Tensor();
  const double mask_weight = options.mask_weight() >= 0 ? options.mask_weight() : model.config().mask_weight;
  const double norm_weight = model.config().code_norm_weight;
  try {
    for (int64_t step = 0; step < options.steps(); ++step) {
      const at::Tensor pick = h * w <= options.rays() ? torch::arange(h * w, torch::kLong)
                                                       : torch::randint(h * w, {options.rays()}, torch::kLong);
      const RayBatch rays = all_rays.Index(pick);
      const LolnerfRays out = model.RenderRays(rays, code.unsqueeze(0).expand({pick.size(0), code.size(0)}), true);
      const at::Tensor picked = pick.to(model.device());
      at::Tensor loss = torch::mse_loss(out.rgb, target.index_select(0, picked)) + norm_weight * code.pow(2).sum();
      if (mask_flat.defined() && model.config().fg_bg && mask_weight > 0) {
        loss = loss + mask_weight * torch::mse_loss(out.fg_opacity, mask_flat.index_select(0, picked));
      }
      optimizer.zero_grad();
      loss.backward();
      NE_CHECK(std::isfinite(loss.item<double>()), "fit: the loss became NaN/inf at step ", step);
      optimizer.step();
    }
  } catch (...) {
    for (auto& [p, g] : frozen) p.requires_grad_(g);
    throw;
  }
  for (auto& [p, g] : frozen) p.requires_grad_(g);
  fit.code = code.detach().cpu().clone();
  const RenderedView view = model.RenderCamera(fit.camera, fit.code);
  fit.psnr = Psnr(view.rgb, image.to(at::kCPU, at::kFloat));
  return fit;
}

void WriteLolnerfFitRun(const LolnerfRunInfo& trained, const LolnerfFit& fit, const nlohmann::json& source,
                        const std::string& out_dir) {
  NE_CHECK(!out_dir.empty(), "fit: no output folder (--out FIT)");
  NE_CHECK(!fs::exists(out_dir) || (fs::is_directory(out_dir) && fs::is_empty(out_dir)), "fit output ", out_dir,
           " already exists and is not empty");
  fs::create_directories(out_dir);
  try {
    fs::copy_file(trained.run_dir + "/checkpoint.pt", out_dir + "/checkpoint.pt");
    nlohmann::json run = trained.run_json;
    run["cameras"] = nlohmann::json::array({fit.camera.ToJson()});
    const at::Tensor code = fit.code.contiguous();
    nlohmann::json instance = {{"code", std::vector<float>(code.data_ptr<float>(), code.data_ptr<float>() + code.numel())},
                               {"psnr", fit.psnr},
                               {"landmark_residual_px", fit.landmark_residual_px},
                               {"fitted_from", trained.run_dir}};
    for (auto& [k, v] : source.items()) instance[k] = v;
    run["instance"] = instance;
    WriteTextAtomically(out_dir + "/run.json", run.dump(1));
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(out_dir, ignored);
    throw;
  }
}

}  // namespace nerfedit
