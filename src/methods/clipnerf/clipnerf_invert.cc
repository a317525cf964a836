#include "methods/clipnerf/clipnerf_invert.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/category_scene.h"
#include "data/image_io.h"
#include "eval/image_metrics.h"
#include "methods/clipnerf/clipnerf_clip.h"
#include "methods/clipnerf/clipnerf_method.h"  // ForegroundPsnr
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace {

constexpr const char* kCodesFormat = "nerfedit-clipnerf-codes";
constexpr double kDeg = M_PI / 180;

// The photo's renderer for one camera (azimuth, elevation: 0-d tensors) and code [S + A]: [H,W,3], differentiable.
// pixels [h*w,2] (full-size pixel coordinates of an h x w grid).
at::Tensor RenderPriorView(ClipnerfModel& model, const PosePrior& prior, const at::Tensor& azimuth,
                           const at::Tensor& elevation, const at::Tensor& code, const at::Tensor& pixels, int64_t h,
                           int64_t w) {
  const at::Tensor poses = prior.Poses(azimuth.reshape({1}), elevation.reshape({1}));
  const RayBatch rays = PriorRays(prior, poses, pixels);
  const at::Tensor codes = code.reshape({1, -1}).expand({rays.size(), -1});
  const ClipnerfRays out = model.RenderRays(rays, codes, /*training=*/false);
  return out.rgb.reshape({h, w, 3});
}

struct PhotoLoss {
  at::Tensor total, mse, clip;  // 0-d
};

}  // namespace

void InversionOptions::Check() const {
  NE_CHECK(rounds_ >= 1, "inversion: rounds must be >= 1, got ", rounds_);
  NE_CHECK(camera_steps_ >= 0 && shape_steps_ >= 0 && appearance_steps_ >= 0,
           "inversion: step counts must be >= 0, got camera ", camera_steps_, " shape ", shape_steps_, " appearance ",
           appearance_steps_);
  NE_CHECK(camera_lr_ > 0 && code_lr_ > 0, "inversion: learning rates must be > 0, got camera ", camera_lr_, " code ",
           code_lr_);
  NE_CHECK(lambda_v_ >= 0 && lambda_s_ >= 0 && lambda_a_ >= 0, "inversion: lambdas must be >= 0, got v ", lambda_v_,
           " s ", lambda_s_, " a ", lambda_a_);
  NE_CHECK(max_fit_size_ >= 1, "inversion: max_fit_size must be >= 1, got ", max_fit_size_);
  NE_CHECK(search_candidates_ >= 1, "inversion: search_candidates must be >= 1, got ", search_candidates_);
  NE_CHECK(search_azimuths_ >= 1 && search_elevations_ >= 1, "inversion: the camera search needs >= 1 azimuth and ",
           "elevation, got ", search_azimuths_, " x ", search_elevations_);
}

InversionResult InvertPhoto(ClipnerfModel& model, const PosePrior& prior, const at::Tensor& photo_in, ClipModel* clip,
                            const InversionOptions& options) {
  options.Check();
  const int64_t h = prior.intrinsics.height, w = prior.intrinsics.width;
  NE_CHECK(photo_in.dim() == 3 && photo_in.size(2) == 3, "inversion: the photo must be [H,W,3], got ",
           photo_in.sizes());
  NE_CHECK(photo_in.size(0) == h && photo_in.size(1) == w, "inversion: the photo is ", photo_in.size(1), "x",
           photo_in.size(0), " but the generator's cameras are ", w, "x", h);
  const bool use_clip = options.lambda_v() > 0 || options.lambda_s() > 0 || options.lambda_a() > 0;
  NE_CHECK(!use_clip || clip != nullptr, "inversion: the CLIP terms are on (lambda_v ", options.lambda_v(),
           ", lambda_s ", options.lambda_s(), ", lambda_a ", options.lambda_a(), ") but no CLIP was given");
  torch::manual_seed(options.seed());
  const c10::Device device = model.device();
  const at::Tensor full_photo = photo_in.to(device, at::kFloat).contiguous();
  const at::Tensor full_pixels = PixelCentres(w, h).to(device);
  // The fit's resolution: the photo box-filtered by `factor`, rendered at the centres of its blocks.
  int64_t factor = 1;
  while ((w + factor - 1) / factor > options.max_fit_size() || w % factor != 0 || h % factor != 0) ++factor;
  const int64_t fh = h / factor, fw = w / factor;
  const at::Tensor photo = factor == 1
                               ? full_photo
                               : torch::nn::functional::avg_pool2d(full_photo.permute({2, 0, 1}).unsqueeze(0),
                                                                   torch::nn::functional::AvgPool2dFuncOptions(factor))
                                     .squeeze(0)
                                     .permute({1, 2, 0})
                                     .contiguous();
  const at::Tensor pixels = (PixelCentres(fw, fh) * factor).to(device);
  at::Tensor photo_embedding;
  if (use_clip) {
    torch::NoGradGuard no_grad;
    photo_embedding = ClipImageEmbeddings(*clip, photo.unsqueeze(0));
  }
  auto loss_of = [&](const at::Tensor& render, double lambda) {
    PhotoLoss l;
    l.mse = (render - photo).pow(2).mean();
    l.total = l.mse;
    if (lambda > 0) {
      l.clip = ClipDistance(ClipImageEmbeddings(*clip, render.unsqueeze(0)), photo_embedding).mean();
      l.total = l.total + lambda * l.clip;
    } else {
      l.clip = torch::zeros({}, render.options());
    }
    return l;
  };

  // Codes z = mean + spread * u: the optimiser works in units of the generator's code spread (std over its codes; 1
  // for a table of one code, the GAN's N(0, I) prior).
  const at::Tensor table = model.codes()->codes.detach();
  const at::Tensor mean = table.mean(0);
  const at::Tensor spread = table.size(0) >= 2 ? table.std(0).clamp_min(1e-6) : torch::ones_like(mean);
  const int64_t s = model.config().shape_code_dim;
  auto code_of = [&](const at::Tensor& us, const at::Tensor& ua) { return mean + spread * torch::cat({us, ua}); };

  // Camera search: the mean code from a grid over the prior, scored by L_v; the best `search_candidates` cameras
  // (45 degrees of azimuth apart: chairs look alike from the front and the back) each refined by camera steps, the
  // lowest L_v kept.
  const double el_lo = prior.elevation_min - 5 * kDeg, el_hi = prior.elevation_max + 5 * kDeg;  // the prior's support
  std::vector<std::array<double, 3>> grid;  // (L_v, azimuth, elevation)
  {
    torch::NoGradGuard no_grad;
    const double s0 = std::sin(prior.elevation_min), s1 = std::sin(prior.elevation_max);
    for (int64_t j = 0; j < options.search_elevations(); ++j) {
      const double el = std::asin(s0 + (s1 - s0) * (j + 0.5) / options.search_elevations());
      for (int64_t i = 0; i < options.search_azimuths(); ++i) {
        const double az =
            prior.azimuth_min + (prior.azimuth_max - prior.azimuth_min) * (i + 0.5) / options.search_azimuths();
        const at::Tensor render = RenderPriorView(model, prior, torch::tensor(static_cast<float>(az)),
                                                  torch::tensor(static_cast<float>(el)), mean, pixels, fh, fw);
        grid.push_back({loss_of(render, options.lambda_v()).total.item<double>(), az, el});
      }
    }
  }
  std::sort(grid.begin(), grid.end());
  std::vector<std::array<double, 3>> candidates;
  for (const auto& g : grid) {
    bool apart = true;
    for (const auto& c : candidates) {
      const double d = std::fmod(std::abs(g[1] - c[1]), 2 * M_PI);
      apart = apart && std::min(d, 2 * M_PI - d) >= 45 * kDeg;
    }
    if (apart) candidates.push_back(g);
    if (static_cast<int64_t>(candidates.size()) == options.search_candidates()) break;
  }
  auto camera_steps = [&](at::Tensor& az, at::Tensor& el, torch::optim::Adam& opt, const at::Tensor& code) {
    PhotoLoss l;
    for (int64_t i = 0; i < options.camera_steps(); ++i) {
      l = loss_of(RenderPriorView(model, prior, az, el, code, pixels, fh, fw), options.lambda_v());
      opt.zero_grad();
      l.total.backward();
      opt.step();
      torch::NoGradGuard no_grad;
      el.clamp_(el_lo, el_hi);
    }
    return l;
  };
  double best = INFINITY, best_az = candidates.front()[1], best_el = candidates.front()[2];
  if (candidates.size() > 1) {
    for (const auto& c : candidates) {
      at::Tensor az = torch::tensor(static_cast<float>(c[1])).requires_grad_(true);
      at::Tensor el = torch::tensor(static_cast<float>(c[2])).requires_grad_(true);
      torch::optim::Adam opt({az, el}, torch::optim::AdamOptions(options.camera_lr()));
      camera_steps(az, el, opt, mean);
      torch::NoGradGuard no_grad;
      const double l =
          loss_of(RenderPriorView(model, prior, az, el, mean, pixels, fh, fw), options.lambda_v()).total.item<double>();
      if (l < best) best = l, best_az = az.item<double>(), best_el = el.item<double>();
    }
  }
  InversionResult result;
  at::Tensor azimuth = torch::tensor(static_cast<float>(best_az)).requires_grad_(true);
  at::Tensor elevation = torch::tensor(static_cast<float>(best_el)).requires_grad_(true);
  at::Tensor us = torch::zeros({s}).to(device).requires_grad_(true);
  at::Tensor ua = torch::zeros({mean.size(0) - s}).to(device).requires_grad_(true);
  {
    torch::NoGradGuard no_grad;
    result.start_psnr =
        Psnr(RenderPriorView(model, prior, azimuth, elevation, mean, full_pixels, h, w).clamp(0, 1), full_photo);
  }
  torch::optim::Adam camera_opt({azimuth, elevation}, torch::optim::AdamOptions(options.camera_lr()));
  torch::optim::Adam shape_opt({us}, torch::optim::AdamOptions(options.code_lr()));
  torch::optim::Adam appearance_opt({ua}, torch::optim::AdamOptions(options.code_lr()));
  // lambda_n: 1 -> 0 linearly over each code phase's steps of all rounds.
  auto noise_weight = [](int64_t t, int64_t total) {
    return total <= 1 ? 0.0 : 1.0 - static_cast<double>(t) / (total - 1);
  };
  const int64_t shape_total = options.rounds() * options.shape_steps();
  const int64_t appearance_total = options.rounds() * options.appearance_steps();
  int64_t shape_t = 0, appearance_t = 0;
  auto record = [&](const char* phase, int64_t round, const PhotoLoss& l) {
    result.history.push_back(
        {{"phase", phase}, {"round", round}, {"mse", l.mse.item<double>()}, {"clip", l.clip.item<double>()}});
  };
  for (int64_t round = 0; round < options.rounds(); ++round) {
    PhotoLoss l;
    l = camera_steps(azimuth, elevation, camera_opt, code_of(us, ua).detach());
    if (options.camera_steps() > 0) record("camera", round, l);
    for (int64_t i = 0; i < options.shape_steps(); ++i, ++shape_t) {
      const double lambda_n = noise_weight(shape_t, shape_total);
      const at::Tensor noisy = us + lambda_n * torch::randn_like(us);
      l = loss_of(RenderPriorView(model, prior, azimuth.detach(), elevation.detach(), code_of(noisy, ua.detach()),
                                  pixels, fh, fw),
                  options.lambda_s());
      shape_opt.zero_grad();
      l.total.backward();
      shape_opt.step();
    }
    if (options.shape_steps() > 0) record("shape", round, l);
    for (int64_t i = 0; i < options.appearance_steps(); ++i, ++appearance_t) {
      const double lambda_n = noise_weight(appearance_t, appearance_total);
      const at::Tensor noisy = ua + lambda_n * torch::randn_like(ua);
      l = loss_of(RenderPriorView(model, prior, azimuth.detach(), elevation.detach(), code_of(us.detach(), noisy),
                                  pixels, fh, fw),
                  options.lambda_a());
      appearance_opt.zero_grad();
      l.total.backward();
      appearance_opt.step();
    }
    if (options.appearance_steps() > 0) record("appearance", round, l);
  }
  torch::NoGradGuard no_grad;
  result.code = code_of(us, ua).detach().to(at::kCPU).contiguous();
  result.azimuth = std::fmod(std::fmod(azimuth.item<double>(), 2 * M_PI) + 2 * M_PI, 2 * M_PI);
  result.elevation = elevation.item<double>();
  result.camera = prior.MakeCamera(result.azimuth, result.elevation);
  result.render = RenderPriorView(model, prior, azimuth, elevation, result.code.to(device), full_pixels, h, w)
                      .clamp(0, 1)
                      .to(at::kCPU)
                      .contiguous();
  result.psnr = Psnr(result.render, full_photo.to(at::kCPU));
  return result;
}

nlohmann::json ClipnerfCodesJson(const at::Tensor& code, int64_t shape_code_dim) {
  const at::Tensor c = code.detach().to(at::kCPU, at::kFloat).contiguous();
  const std::vector<float> all(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  NE_CHECK(shape_code_dim >= 0 && shape_code_dim <= static_cast<int64_t>(all.size()), "codes file: a code of ",
           all.size(), " values has no shape part of ", shape_code_dim);
  return {{"format", kCodesFormat},
          {"version", 1},
          {"shape_code", std::vector<float>(all.begin(), all.begin() + shape_code_dim)},
          {"appearance_code", std::vector<float>(all.begin() + shape_code_dim, all.end())}};
}

nlohmann::json CodesJson(const ClipnerfModel& model, const InversionResult& result) {
  nlohmann::json j = ClipnerfCodesJson(result.code, model.config().shape_code_dim);
  j["camera"] = result.camera.ToJson();
  j["azimuth_deg"] = result.azimuth / kDeg;
  j["elevation_deg"] = result.elevation / kDeg;
  j["psnr"] = result.psnr;
  return j;
}

at::Tensor ReadClipnerfCodes(const std::string& path, int64_t shape_code_dim, int64_t appearance_code_dim) {
  const nlohmann::json j = ReadJsonFile(path);
  NE_CHECK(j.is_object() && j.value("format", "") == kCodesFormat, path, ": not a clipnerf codes file (\"format\" ",
           "must be \"", kCodesFormat, "\"; `nerfedit clipnerf invert` writes one)");
  NE_CHECK(j.value("version", 0) == 1, path, ": codes file version ", j.value("version", 0), ", this build reads 1");
  auto read = [&](const char* key, int64_t dim) {
    NE_CHECK(j.contains(key) && j[key].is_array(), path, ": \"", key, "\" must be an array of numbers");
    std::vector<float> v;
    for (const auto& x : j[key]) {
      NE_CHECK(x.is_number() && std::isfinite(x.get<double>()), path, ": \"", key, "\" holds a non-finite or ",
               "non-numeric value");
      v.push_back(x.get<float>());
    }
    NE_CHECK(static_cast<int64_t>(v.size()) == dim, path, ": \"", key, "\" has ", v.size(), " values but the run's ",
             "generator takes ", dim);
    return torch::tensor(v);
  };
  return torch::cat({read("shape_code", shape_code_dim), read("appearance_code", appearance_code_dim)});
}

nlohmann::json UnseenInversionReport::ToJson() const {
  return {{"instances", instances},
          {"novel_views", novel_views},
          {"invert_psnr", invert_psnr},
          {"invert_novel_psnr", invert_novel_psnr},
          {"invert_fg_psnr", invert_fg_psnr},
          {"invert_novel_fg_psnr", invert_novel_fg_psnr},
          {"start_psnr", start_psnr},
          {"mean_code_novel_psnr", mean_code_novel_psnr},
          {"seconds_per_image", seconds_per_image},
          {"per_instance", per_instance}};
}

UnseenInversionReport InvertUnseenInstances(ClipnerfModel& model, const PosePrior& prior, const std::string& kind,
                                            int64_t instances, int64_t eval_views, ClipModel* clip,
                                            const InversionOptions& options, const std::string& work_dir,
                                            const std::string& image_dir) {
  NE_CHECK(instances >= 1 && eval_views >= 1, "unseen inversion: needs >= 1 instance and >= 1 held-apart view, got ",
           instances, " and ", eval_views);
  NE_CHECK(prior.intrinsics.width == prior.intrinsics.height, "unseen inversion: category datasets are square, the ",
           "run's cameras are ", prior.intrinsics.width, "x", prior.intrinsics.height);
  // New instances: a seed no training set of the benches and tests uses (they use 0..99).
  const std::string dir = work_dir + "/unseen";
  WriteCategoryDataset(CategoryDatasetOptions()
                           .kind(kind)
                           .instances(static_cast<int>(instances))
                           .size(static_cast<int>(prior.intrinsics.width))
                           .eval_views(static_cast<int>(eval_views))
                           .seed(7919 + static_cast<int>(options.seed())),
                       dir);
  const auto& bg = model.config().bg_color;
  const DatasetOptions load = DatasetOptions().background(std::vector<float>(bg.begin(), bg.end()));
  const CategoryDataset photos = LoadCategoryDataset(dir, load);
  const CategoryDataset eval = LoadCategoryDataset(dir + "/transforms_eval.json", load);
  if (!image_dir.empty()) std::filesystem::create_directories(image_dir);
  UnseenInversionReport report;
  const at::Tensor mean = model.codes()->Mean();
  double seconds = 0;
  for (int64_t k = 0; k < photos.data.size(); ++k) {
    const int64_t instance = photos.latent_index[k].item<int64_t>();
    const auto t0 = std::chrono::steady_clock::now();
    const InversionResult r = InvertPhoto(model, prior, photos.data.images[k], clip, options);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double fg = photos.masks.defined() ? ForegroundPsnr(r.render, photos.data.images[k], photos.masks[k]) : 0;
    double novel = 0, novel_fg = 0, mean_novel = 0;
    int64_t views = 0;
    for (int64_t e = 0; e < eval.data.size(); ++e) {
      if (eval.latent_index[e].item<int64_t>() != instance) continue;
      const RenderedView view = model.RenderCamera(eval.data.cameras[e], r.code);
      novel += Psnr(view.rgb, eval.data.images[e]);
      if (eval.masks.defined()) novel_fg += ForegroundPsnr(view.rgb, eval.data.images[e], eval.masks[e]);
      mean_novel += Psnr(model.RenderCamera(eval.data.cameras[e], mean).rgb, eval.data.images[e]);
      if (!image_dir.empty()) {
        const std::string stem = image_dir + "/unseen_" + std::to_string(instance) + "_view" + std::to_string(e);
        SaveImage(stem + "_inverted.png", view.rgb);
        SaveImage(stem + "_gt.png", eval.data.images[e]);
      }
      ++views;
    }
    NE_CHECK(views > 0, dir, ": instance ", instance, " has no held-apart view");
    if (!image_dir.empty()) {
      const std::string stem = image_dir + "/unseen_" + std::to_string(instance);
      SaveImage(stem + "_photo.png", photos.data.images[k]);
      SaveImage(stem + "_fit.png", r.render);
    }
    report.per_instance.push_back({{"instance", instance},
                                   {"psnr", r.psnr},
                                   {"fg_psnr", fg},
                                   {"start_psnr", r.start_psnr},
                                   {"novel_psnr", novel / views},
                                   {"novel_fg_psnr", novel_fg / views},
                                   {"mean_code_novel_psnr", mean_novel / views},
                                   {"azimuth_deg", r.azimuth / kDeg},
                                   {"elevation_deg", r.elevation / kDeg},
                                   {"true_azimuth_deg", prior.AnglesOf(photos.data.cameras[k])[0] / kDeg},
                                   {"true_elevation_deg", prior.AnglesOf(photos.data.cameras[k])[1] / kDeg}});
    report.invert_psnr += r.psnr;
    report.invert_fg_psnr += fg;
    report.start_psnr += r.start_psnr;
    report.invert_novel_psnr += novel / views;
    report.invert_novel_fg_psnr += novel_fg / views;
    report.mean_code_novel_psnr += mean_novel / views;
    report.novel_views += views;
    ++report.instances;
  }
  const double n = static_cast<double>(report.instances);
  report.invert_psnr /= n;
  report.invert_fg_psnr /= n;
  report.start_psnr /= n;
  report.invert_novel_psnr /= n;
  report.invert_novel_fg_psnr /= n;
  report.mean_code_novel_psnr /= n;
  report.seconds_per_image = seconds / n;
  return report;
}

}  // namespace nerfedit
