// bench/stylize_procedural drives this executable (issue 16, the 2D half):
//   stylize_bench train [--config J] [--out DIR]    trains an AdaIN, prints its loss curve and timing
//   stylize_bench orbit [--frames 36] [--size 128] [--styles A,B,...] [--model DIR] [--out DIR] [--budget S]
//       renders an orbit of the built-in scene with the exact ray tracer, stylises every frame on its own with the 2D
//       network, and prints the consistency (short/long-range warping error, exact depth) and the style distances
//       measured with another encoder (same architecture, other random weights) and colour histograms.
//   stylize_bench orbit ... --nerf-budget S --stylize-budget S [--nerf-steps N] [--stylize-steps N] [--nerf-size 64]
//                       [--stylize-config JSON] [--new-style-steps N] [--work DIR] [--verbose 1]
//       also trains a nerf run on the scene (N steps, S seconds at most), a stylized run on it with every style
//       (methods/stylize; JSON merged into its config), renders the same orbit under each style and prints the
//       NeRF-side figures, with where the style goes (the training views' content, 2D output before and after the
//       decoder fine-tune, renders, in the judge encoder); --work keeps the runs in DIR and reuses a nerf run there.
//       The last line is issue 16's:
//       short_err_2d short_err_nerf long_err_2d long_err_nerf style_dist_2d style_dist_nerf content_ssim_nerf train_s
//       new_style_s
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "data/procedural_scene.h"
#include "data/style_images.h"
#include "engine/run_folder.h"
#include "engine/trainer.h"
#include "eval/image_metrics.h"
#include "eval/view_consistency.h"
#include "methods/method_registry.h"
#include "methods/nerf/nerf_method.h"
#include "methods/stylize/stylize_method.h"
#include "methods/stylize/stylize_run.h"
#include "models2d/adain.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {
namespace {

int RunTrainBench(int argc, char** argv) {
  AdainOptions options;
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc)
      options = AdainOptions::FromJson(nlohmann::json::parse(argv[++i]));
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
  }
  std::printf("options %s\n", options.ToJson().dump().c_str());
  const AdainTrainResult r = TrainAdain(options, out);
  for (const auto& p : r.curve) std::printf("  curve step=%.0f content=%.4f style=%.4f\n", p[0], p[1], p[2]);
  std::printf("held-out content %.4f -> %.4f  style %.4f -> %.4f  identity %.4f -> %.4f\n", r.initial_content_loss,
              r.final_content_loss, r.initial_style_loss, r.final_style_loss, r.initial_identity_loss,
              r.final_identity_loss);
  std::printf("train_s=%.1f steps=%lld s_per_step=%.3f\n", r.train_seconds, static_cast<long long>(r.steps),
              r.seconds_per_step);
  return 0;
}

int RunProfileData() {
  for (const auto& name : ProceduralStyleNames()) {
    const double t0 = NowSeconds();
    for (int i = 0; i < 5; ++i) ProceduralStyle(name, i, 96, 96);
    std::printf("style %-8s %.1f ms\n", name.c_str(), (NowSeconds() - t0) / 5 * 1e3);
  }
  const double t0 = NowSeconds();
  for (int i = 0; i < 10; ++i) RenderContentImage(i, 64);
  std::printf("content 64px %.1f ms\n", (NowSeconds() - t0) / 10 * 1e3);
  return 0;
}

// A contact sheet: every procedural kind (rows) under seeds 0..3 (columns), 96 px each; then 4 content renders.
int RunContactSheet(const std::string& path) {
  std::vector<at::Tensor> rows;
  for (const auto& name : ProceduralStyleNames()) {
    std::vector<at::Tensor> row;
    for (int seed = 0; seed < 4; ++seed) row.push_back(ProceduralStyle(name, seed, 96, 96));
    rows.push_back(torch::cat(row, 2));
  }
  std::vector<at::Tensor> contents;
  for (int seed = 0; seed < 4; ++seed) contents.push_back(RenderContentImage(seed, 96));
  rows.push_back(torch::cat(contents, 2));
  SaveImage(path, torch::cat(rows, 1).permute({1, 2, 0}).contiguous());
  return 0;
}

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// images [N,3,H,W] in [0,1] vs style [1,3,h,w]: per channel, the 1-Wasserstein distance between the two colour
// histograms (32 bins; the L1 distance between the CDFs times the bin width), averaged over channels. 0 = same colours.
double ColourHistogramDistance(const at::Tensor& images, const at::Tensor& style) {
  const int64_t bins = 32;
  double total = 0;
  for (int c = 0; c < 3; ++c) {
    const at::Tensor a = images.select(1, c).reshape(-1).histc(bins, 0, 1);
    const at::Tensor b = style.select(1, c).reshape(-1).histc(bins, 0, 1);
    total += ((a / a.sum()).cumsum(0) - (b / b.sum()).cumsum(0)).abs().sum().item<double>() / bins;
  }
  return total / 3;
}

at::Tensor ResizeShorter(const at::Tensor& image, int64_t shorter) {  // [3,H,W]
  const double scale = static_cast<double>(shorter) / std::min(image.size(1), image.size(2));
  if (std::abs(scale - 1) < 1e-9) return image;
  auto o = F::InterpolateFuncOptions().size(
      std::vector<int64_t>{std::lround(image.size(1) * scale), std::lround(image.size(2) * scale)});
  if (scale < 1)
    o.mode(torch::kArea);
  else
    o.mode(torch::kBilinear).align_corners(false);
  return F::interpolate(image.unsqueeze(0), o)[0].clamp(0, 1);
}

// images [N,3,H,W] resized to size x size (area filter shrinking, bilinear growing).
at::Tensor Resample(const at::Tensor& images, int64_t size) {
  if (images.size(2) == size && images.size(3) == size) return images;
  auto o = F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size});
  if (size < images.size(2))
    o.mode(torch::kArea);
  else
    o.mode(torch::kBilinear).align_corners(false);
  return F::interpolate(images, o).clamp(0, 1);
}

Camera OrbitCamera(double azimuth_degrees, int64_t size) {
  const double a = azimuth_degrees * M_PI / 180, e = 30 * M_PI / 180, r = 4.0;
  const std::array<float, 3> eye = {static_cast<float>(r * std::cos(e) * std::cos(a)),
                                    static_cast<float>(r * std::cos(e) * std::sin(a)),
                                    static_cast<float>(kLookAtHeight + r * std::sin(e))};
  return Camera::LookAt(eye, {0, 0, kLookAtHeight}, {0, 0, 1}, size, size, 40 * M_PI / 180);
}

// Sobel gradient magnitude of a [H,W,3] image's luminance, [H,W,1] scaled to [0,1].
at::Tensor EdgeMap(const at::Tensor& image) {
  const at::Tensor y = (image * torch::tensor({0.299f, 0.587f, 0.114f})).sum(2).unsqueeze(0).unsqueeze(0);
  const at::Tensor kx = torch::tensor({-1.f, 0.f, 1.f, -2.f, 0.f, 2.f, -1.f, 0.f, 1.f}).reshape({1, 1, 3, 3});
  const at::Tensor gx = F::conv2d(y, kx, F::Conv2dFuncOptions().padding(1));
  const at::Tensor gy = F::conv2d(y, kx.transpose(2, 3), F::Conv2dFuncOptions().padding(1));
  return ((gx.pow(2) + gy.pow(2)).sqrt() / 4).clamp(0, 1)[0].permute({1, 2, 0}).expand({-1, -1, 3}).contiguous();
}

struct NerfSide {
  double short_err = 0, long_err = 0, style_dist = 0, content_ssim = 0, train_s = 0, new_style_s = 0;
};

// Trains a nerf run on the scene and a stylized run on it with every style, renders the orbit under each style and
// measures it like the 2D frames (exact depth for the warping error, the judge encoder for the style distance).
struct NerfSideOptions {
  double nerf_budget = 0;         // seconds (a cap when nerf_steps is set)
  int64_t nerf_steps = 0;         // 0 = the budget alone
  int64_t nerf_size = 64;         // the nerf run's training views
  double stylize_budget = 0;      // seconds (a cap when stylize_steps is set)
  int64_t stylize_steps = 0;      // 0 = the budget alone
  nlohmann::json stylize_config;  // merged into the stylized run's config
  int64_t new_style_steps = 200;
  std::string out;
  bool verbose = false;  // the stylized run's progress (its loss terms) on stderr
};

NerfSide MeasureNerfSide(const std::string& dir, const std::vector<std::string>& styles, const std::string& adain,
                         const NerfSideOptions& o, const std::vector<Camera>& cameras,
                         const std::vector<at::Tensor>& depths, const ViewConsistencyOptions& vc, AdainEncoder& judge,
                         int64_t style_size) {
  const std::string scene = dir + "/scene", nerf_run = dir + "/nerf", srun = dir + "/stylized";
  const std::string& out = o.out;
  if (fs::exists(nerf_run + "/checkpoint.pt")) {  // --work DIR from an earlier call: its nerf run again
    std::printf("nerf run: reused %s\n", nerf_run.c_str());
  } else {
    fs::remove_all(scene);
    fs::remove_all(nerf_run);
    WriteProceduralDataset(DefaultScene(),
                           ProceduralDatasetOptions().num_views(60).width(o.nerf_size).height(o.nerf_size), scene);
    NerfConfig c = NerfConfig::ForField("hash_grid");
    c.data = scene;
    c.test_every = 0;
    c.grid_resolution = 64;
    c.trainer.steps = o.nerf_steps > 0 ? o.nerf_steps : 100000;
    c.trainer.time_budget_s = o.nerf_budget;
    c.trainer.eval_every = 0;
    c.trainer.checkpoint_every = 0;
    c.trainer.device = "cpu";
    c.field_config = {{"encoding", {{"log2_hashmap_size", 17}, {"max_resolution", 512}}}};
    const TrainResult nr =
        StartRun(nerf_run, [&] { return std::make_unique<NerfMethod>(c); }, {/*quiet=*/true, false})->Train();
    std::printf("nerf run: %lld steps in %.0f s on %lld-px views\n",
                static_cast<long long>(nr.summary.value("steps", 0)), nr.summary.value("train_s", 0.0),
                static_cast<long long>(o.nerf_size));
  }
  fs::remove_all(srun);
  fs::remove_all(dir + "/more");
  nlohmann::json user = {{"nerf_run", nerf_run},
                         {"styles", styles},
                         {"adain_model", adain},
                         {"time_budget_s", o.stylize_budget},
                         {"steps", o.stylize_steps > 0 ? o.stylize_steps : 100000},
                         {"eval_every", 0},
                         {"checkpoint_every", 0},
                         {"device", "cpu"},
                         {"style_size", std::min<int64_t>(style_size, 64)}};
  user = MergeConfig(user, o.stylize_config);
  std::printf("stylized run config: %s\n", o.stylize_config.dump().c_str());
  auto trainer = StartTraining("stylize", user, srun, {/*quiet=*/!o.verbose, false});
  const TrainResult r = trainer->Train();
  NerfSide side;
  side.train_s = r.summary.value("train_s", 0.0);
  std::printf("stylized run: %s\n", r.summary.dump().c_str());
  {  // Where the style goes: the training views' mimic targets and renders, in the judge encoder.
    auto& m = dynamic_cast<StylizeMethod&>(trainer->method());
    AdainNet fresh = LoadAdain(adain);
    fresh->eval();
    torch::NoGradGuard no_grad;
    for (size_t s = 0; s < styles.size(); ++s) {
      const int64_t ss = user["style_size"].get<int64_t>();
      const at::Tensor style = ResizeShorter(ResolveStyle(styles[s], ss, ss), ss).unsqueeze(0);
      std::vector<at::Tensor> content, target, fresh_target, render;
      for (size_t k = 0; k < m.views().size(); ++k) {
        content.push_back(m.views()[k].content.permute({2, 0, 1}));
        target.push_back(
            m.DecoderOutput(static_cast<int64_t>(s), static_cast<int64_t>(k)).clamp(0, 1).permute({2, 0, 1}));
        render.push_back(m.RenderView(static_cast<int64_t>(s), static_cast<int64_t>(k)).permute({2, 0, 1}));
        fresh_target.push_back(fresh->Stylize(content.back().unsqueeze(0), style)[0]);
      }
      auto d = [&](const std::vector<at::Tensor>& v) { return StyleStatisticsDistance(judge, torch::stack(v), style); };
      std::printf(
          "training views %s (%lld px, style at %lld px): style_dist content %.3f, 2D before fine-tune %.3f, "
          "mimic targets (fine-tuned decoder) %.3f, renders %.3f; mimic rmse %.4f\n",
          styles[s].c_str(), static_cast<long long>(m.views()[0].camera.width), static_cast<long long>(ss), d(content),
          d(fresh_target), d(target), d(render),
          (torch::stack(render) - torch::stack(target)).pow(2).mean().sqrt().item<double>());
    }
  }
  trainer.reset();
  auto scene_run = LoadStylizedRun(srun, "cpu");
  auto original = LoadRenderableRun(nerf_run, "cpu");
  std::vector<at::Tensor> plain;
  for (const Camera& camera : cameras) plain.push_back(original->RenderColour(camera).rgb);
  {
    const at::Tensor plain_batch = torch::stack(plain).permute({0, 3, 1, 2}).contiguous();
    for (const std::string& spec : styles) {
      const at::Tensor style = ResizeShorter(ResolveStyle(spec, style_size, style_size), style_size).unsqueeze(0);
      std::printf("nerf run's own orbit vs %s: style_dist %.3f\n", spec.c_str(),
                  StyleStatisticsDistance(judge, plain_batch, style));
    }
  }
  for (size_t s = 0; s < styles.size(); ++s) {
    scene_run->SelectStyle(static_cast<int64_t>(s));
    std::vector<at::Tensor> frames;
    for (const Camera& camera : cameras) frames.push_back(scene_run->RenderColour(camera).rgb);
    const ConsistencyResult cr = MeasureConsistency(frames, depths, cameras, vc);
    const at::Tensor style = ResizeShorter(ResolveStyle(styles[s], style_size, style_size), style_size).unsqueeze(0);
    const double dist = StyleStatisticsDistance(judge, torch::stack(frames).permute({0, 3, 1, 2}).contiguous(), style);
    double ssim = 0;
    for (size_t k = 0; k < frames.size(); ++k) ssim += Ssim(EdgeMap(frames[k]), EdgeMap(plain[k])) / frames.size();
    std::printf("nerf style %s: short_err %.4f long_err %.4f (%lld/%lld pairs) style_dist %.3f content_ssim %.4f\n",
                styles[s].c_str(), cr.short_range, cr.long_range, static_cast<long long>(cr.short_pairs),
                static_cast<long long>(cr.long_pairs), dist, ssim);
    side.short_err += cr.short_range / styles.size();
    side.long_err += cr.long_range / styles.size();
    side.style_dist += dist / styles.size();
    side.content_ssim += ssim / styles.size();
    if (!out.empty()) {
      std::string tag = fs::path(styles[s]).stem().string();
      for (char& ch : tag)
        if (ch == ':' || ch == '/') ch = '_';
      std::vector<at::Tensor> top, bottom;
      for (size_t k = 0; k < frames.size(); k += std::max<size_t>(1, frames.size() / 6)) {
        top.push_back(plain[k]);
        bottom.push_back(frames[k]);
      }
      SaveImage(out + "/nerf_orbit_" + tag + ".png", torch::cat({torch::cat(top, 1), torch::cat(bottom, 1)}, 0));
    }
  }
  // new_style_s: one more style added to the trained run (StylizeConfig::extend_run, `nerfedit stylize add-style`),
  // NEW_STYLE_STEPS steps, wall clock from loading to the saved run; its orbit's style distance for reference.
  if (o.new_style_steps <= 0) return side;
  const std::string added = "procedural:mosaic:5";
  nlohmann::json more = ReadRunJson(srun).config;
  more["styles"].push_back(added);
  more["extend_run"] = srun;
  more["steps"] = o.new_style_steps;
  more["time_budget_s"] = 0;
  const double t0 = NowSeconds();
  StartTraining("stylize", more, dir + "/more", {/*quiet=*/true, false})->Train();
  side.new_style_s = NowSeconds() - t0;
  auto grown = LoadStylizedRun(dir + "/more", "cpu");
  grown->SelectStyle(static_cast<int64_t>(styles.size()));
  std::vector<at::Tensor> frames;
  for (const Camera& camera : cameras) frames.push_back(grown->RenderColour(camera).rgb);
  const at::Tensor style = ResizeShorter(ResolveStyle(added, style_size, style_size), style_size).unsqueeze(0);
  const at::Tensor batch = torch::stack(frames).permute({0, 3, 1, 2}).contiguous();
  const at::Tensor plain_batch = torch::stack(plain).permute({0, 3, 1, 2}).contiguous();
  std::printf("added style %s: %lld steps in %.1f s; style_dist %.3f (unstyled %.3f) long_err %.4f\n", added.c_str(),
              static_cast<long long>(o.new_style_steps), side.new_style_s, StyleStatisticsDistance(judge, batch, style),
              StyleStatisticsDistance(judge, plain_batch, style),
              MeasureConsistency(frames, depths, cameras, vc).long_range);
  if (!out.empty()) {
    std::vector<at::Tensor> top, bottom;
    for (size_t k = 0; k < frames.size(); k += std::max<size_t>(1, frames.size() / 6)) {
      top.push_back(plain[k]);
      bottom.push_back(frames[k]);
    }
    SaveImage(out + "/nerf_orbit_added.png", torch::cat({torch::cat(top, 1), torch::cat(bottom, 1)}, 0));
  }
  return side;
}

int RunOrbit(int argc, char** argv) {
  int64_t frames = 36, size = 128, style_size = 128, long_pairs = 150, nerf_size = 64;
  std::string styles_arg = "procedural:strokes:1", model, out;
  double budget = 0;
  NerfSideOptions nerf_options;
  std::string work;
  for (int i = 0; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--frames")
      frames = std::stoll(v);
    else if (a == "--size")
      size = std::stoll(v);
    else if (a == "--style-size")
      style_size = std::stoll(v);
    else if (a == "--styles")
      styles_arg = v;
    else if (a == "--model")
      model = v;
    else if (a == "--out")
      out = v;
    else if (a == "--budget")
      budget = std::stod(v);
    else if (a == "--long-pairs")
      long_pairs = std::stoll(v);
    else if (a == "--nerf-budget")
      nerf_options.nerf_budget = std::stod(v);
    else if (a == "--nerf-steps")
      nerf_options.nerf_steps = std::stoll(v);
    else if (a == "--stylize-budget")
      nerf_options.stylize_budget = std::stod(v);
    else if (a == "--stylize-steps")
      nerf_options.stylize_steps = std::stoll(v);
    else if (a == "--stylize-config")
      nerf_options.stylize_config = nlohmann::json::parse(v);
    else if (a == "--nerf-size")
      nerf_size = std::stoll(v);
    else if (a == "--new-style-steps")
      nerf_options.new_style_steps = std::stoll(v);
    else if (a == "--work")
      work = v;
    else if (a == "--verbose")
      nerf_options.verbose = v == "1";
    else
      NE_FAIL("stylize_bench orbit: unknown option ", a);
  }
  // The 2D network: a saved one, or nerfedit's default trained now (its time is train_s).
  double train_s = 0;
  AdainNet net{nullptr};
  if (!model.empty() && std::filesystem::exists(model + "/adain_training.json")) {  // reuse what is there
    net = LoadAdain(model);
    train_s = ReadJsonFile(model + "/adain_training.json")["result"]["train_seconds"].get<double>();
  } else {
    AdainTrainResult r = TrainAdain(AdainOptions().time_budget_seconds(budget), model, &net);
    train_s = r.train_seconds;
    std::printf("trained AdaIN: %lld steps in %.1f s; held-out content %.4f -> %.4f, style %.4f -> %.4f\n",
                static_cast<long long>(r.steps), r.train_seconds, r.initial_content_loss, r.final_content_loss,
                r.initial_style_loss, r.final_style_loss);
  }
  net->eval();
  AdainEncoder judge(4, false, /*seed=*/987654321);  // the measuring encoder: other random weights

  const ProceduralScene scene = DefaultScene();
  std::vector<Camera> cameras;
  std::vector<at::Tensor> originals, depths;
  for (int64_t k = 0; k < frames; ++k) {
    cameras.push_back(OrbitCamera(360.0 * k / frames, size));
    const ProceduralRender r = RenderProcedural(scene, cameras.back(), 2);
    originals.push_back(r.rgb);
    depths.push_back(r.depth);
  }
  const ViewConsistencyOptions vc = ViewConsistencyOptions().max_long_pairs(long_pairs);
  const ConsistencyResult gt = MeasureConsistency(originals, depths, cameras, vc);
  std::printf(
      "orbit: %lld frames %lldx%lld, %.0f deg apart; exact renders: short_err %.4f (%lld pairs) long_err "
      "%.4f (%lld pairs)\n",
      static_cast<long long>(frames), static_cast<long long>(size), static_cast<long long>(size), 360.0 / frames,
      gt.short_range, static_cast<long long>(gt.short_pairs), gt.long_range, static_cast<long long>(gt.long_pairs));
  const at::Tensor original_batch = torch::stack(originals).permute({0, 3, 1, 2}).contiguous();

  double own_sum = 0, short_sum = 0, long_sum = 0, dist_sum = 0, hist_sum = 0, dist_orig_sum = 0, hist_orig_sum = 0,
         ms_sum = 0;
  const std::vector<std::string> styles = Split(styles_arg);
  NE_CHECK(!styles.empty(), "stylize_bench orbit: no styles");
  for (const std::string& spec : styles) {
    const at::Tensor style = ResizeShorter(ResolveStyle(spec, style_size, style_size), style_size).unsqueeze(0);
    std::vector<at::Tensor> stylised;
    const double t0 = NowSeconds();
    {
      torch::NoGradGuard no_grad;
      for (int64_t k = 0; k < frames; ++k) {  // one frame at a time: per-frame 2D stylisation
        stylised.push_back(net->Stylize(original_batch.slice(0, k, k + 1), style)[0].permute({1, 2, 0}).contiguous());
      }
    }
    const double ms = (NowSeconds() - t0) / frames * 1e3;
    const ConsistencyResult c = MeasureConsistency(stylised, depths, cameras, vc);
    const at::Tensor batch = torch::stack(stylised).permute({0, 3, 1, 2}).contiguous();
    const double dist = StyleStatisticsDistance(judge, batch, style);
    const double dist_orig = StyleStatisticsDistance(judge, original_batch, style);
    // The same distance in the training encoder's own features (what the style loss optimised).
    const double own = StyleStatisticsDistance(net->encoder, batch, style);
    const double own_orig = StyleStatisticsDistance(net->encoder, original_batch, style);
    const double hist = ColourHistogramDistance(batch, style),
                 hist_orig = ColourHistogramDistance(original_batch, style);
    std::printf(
        "style %s: short_err %.4f long_err %.4f (%lld/%lld pairs) style_dist %.3f (unstyled %.3f; in the "
        "training encoder %.3f, unstyled %.3f) hist_dist %.4f (unstyled %.4f) %.1f ms/frame\n",
        spec.c_str(), c.short_range, c.long_range, static_cast<long long>(c.short_pairs),
        static_cast<long long>(c.long_pairs), dist, dist_orig, own, own_orig, hist, hist_orig, ms);
    // The exact frames (and the 2D arm's) at nerf_size px and back to size: what the metric charges for the detail a
    // nerf trained on nerf_size-px views cannot hold (2026-12-01b: 64 px cost 0.5-5 of the unstyled ~15).
    if (nerf_size != size) {
      std::printf("  at %lld px and back to %lld: unstyled style_dist %.3f, 2D-stylised %.3f\n",
                  static_cast<long long>(nerf_size), static_cast<long long>(size),
                  StyleStatisticsDistance(judge, Resample(Resample(original_batch, nerf_size), size), style),
                  StyleStatisticsDistance(judge, Resample(Resample(batch, nerf_size), size), style));
    }
    own_sum += own;
    short_sum += c.short_range;
    long_sum += c.long_range;
    dist_sum += dist;
    hist_sum += hist;
    dist_orig_sum += dist_orig;
    hist_orig_sum += hist_orig;
    ms_sum += ms;
    if (!out.empty()) {
      fs::create_directories(out);
      std::string tag = fs::path(spec).stem().string();
      for (char& ch : tag)
        if (ch == ':' || ch == '/') ch = '_';
      SaveImage(out + "/style_" + tag + ".png", style[0].permute({1, 2, 0}).contiguous());
      // A strip of every (frames/6)-th frame: originals above, stylised below.
      std::vector<at::Tensor> top, bottom;
      for (int64_t k = 0; k < frames; k += std::max<int64_t>(1, frames / 6)) {
        top.push_back(originals[k]);
        bottom.push_back(stylised[k]);
      }
      SaveImage(out + "/orbit_" + tag + ".png", torch::cat({torch::cat(top, 1), torch::cat(bottom, 1)}, 0));
    }
  }
  const double n = static_cast<double>(styles.size());
  std::printf(
      "short_err_2d=%.4f long_err_2d=%.4f style_dist_2d=%.3f hist_dist_2d=%.4f short_err_gt=%.4f "
      "long_err_gt=%.4f style_dist_orig=%.3f hist_dist_orig=%.4f style_dist_own=%.3f train_s=%.1f "
      "ms_per_frame=%.1f\n",
      short_sum / n, long_sum / n, dist_sum / n, hist_sum / n, gt.short_range, gt.long_range, dist_orig_sum / n,
      hist_orig_sum / n, own_sum / n, train_s, ms_sum / n);
  if (nerf_options.nerf_budget <= 0 || nerf_options.stylize_budget <= 0) return 0;  // budgets cap the step counts
  nerf_options.nerf_size = nerf_size;
  nerf_options.out = out;
  // The NeRF side needs the 2D network on disk (the stylized run loads it by path).
  std::string adain_dir = model;
  const bool keep = !work.empty();  // --work DIR: kept, and its nerf run reused by the next call
  const std::string tmp =
      keep ? work : (fs::temp_directory_path() / ("stylize_bench-" + std::to_string(::getpid()))).string();
  if (!keep) fs::remove_all(tmp);
  fs::create_directories(tmp);
  if (adain_dir.empty() || !fs::exists(adain_dir + "/adain_training.json")) NE_FAIL("--nerf-budget needs --model DIR");
  const NerfSide side = MeasureNerfSide(tmp, styles, fs::absolute(adain_dir).string(), nerf_options, cameras, depths,
                                        vc, judge, style_size);
  if (!keep) fs::remove_all(tmp);
  std::printf(
      "short_err_2d=%.4f short_err_nerf=%.4f long_err_2d=%.4f long_err_nerf=%.4f style_dist_2d=%.3f "
      "style_dist_nerf=%.3f content_ssim_nerf=%.4f train_s=%.1f new_style_s=%.1f\n",
      short_sum / n, side.short_err, long_sum / n, side.long_err, dist_sum / n, side.style_dist, side.content_ssim,
      side.train_s, side.new_style_s);
  return 0;
}

}  // namespace
}  // namespace nerfedit

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log as they happen, not at exit
  nerfedit::ConfigureThreads();
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "train") return nerfedit::RunTrainBench(argc - 2, argv + 2);
    if (mode == "profile_data") return nerfedit::RunProfileData();
    if (mode == "sheet" && argc > 2) return nerfedit::RunContactSheet(argv[2]);
    if (mode == "orbit") return nerfedit::RunOrbit(argc - 2, argv + 2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "usage: stylize_bench train|orbit ...\n");
  return 1;
}
