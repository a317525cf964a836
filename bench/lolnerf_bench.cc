// bench/lolnerf_procedural's driver: LOLNeRF's HUMBI-style experiment with exact truth. Procedural heads, one view
// each (1-px landmark noise by default), cameras estimated from the landmarks; trained under a time budget; then
// unseen heads are fitted from their image and landmarks only and rendered from their held-apart views, against the
// generator's truth on the foreground. The same run without the hard-surface loss and without the fg/bg split (the
// paper's ablations, same budget). Last line:
//   train_psnr unseen_fit_psnr novel_view_psnr novel_depth_mae pose_rot_err_deg no_hard_novel_psnr no_hard_depth_mae
//   no_fgbg_novel_psnr train_s steps_per_s
// --pose-only 1: only the landmark pose fit of the training set (seconds, no training), and the cameras of the unseen
// heads fitted to its canonical landmarks as a new photo's are; last line pose_rot_err_deg= unseen_pose_err_deg=.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "data/category_scene.h"
#include "data/landmark_pose.h"
#include "eval/image_metrics.h"
#include "methods/lolnerf/lolnerf_run.h"
#include "methods/method_registry.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

using namespace nerfedit;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string out, config;
  int instances = 1000, unseen = 20, size = 64, eval_views = 4;
  double noise = 1.0, budget = 900;
  int64_t fit_steps = 200, fit_rays = 1024;
  bool ablations = true, pose_only = false;
  std::string only;  // one variant (main | no_hard | no_fgbg): its own line, no key=value line
};

struct Result {
  double train_psnr = 0, fit_psnr = 0, novel_psnr = 0, depth_mae = 0, pose_error = -1, train_s = 0;
  int64_t steps = 0;
};

// The pose fit alone, as LolnerfMethod runs it before training (same config, same data), and the unseen heads'
// cameras placed through its canonical landmarks (LolnerfLandmarkModel::FitCamera, as `lolnerf fit` does), against
// their true cameras in the category's frame (no gauge alignment: that is the frame a fitted photo renders in).
void RunPoseOnly(const Args& args) {
  nlohmann::json user = args.config.empty() ? nlohmann::json::object() : ReadJsonFile(args.config);
  user["data"] = args.out + "/train";
  user["poses"] = "landmarks";
  const LolnerfConfig config = LolnerfConfig::FromJson(user);
  const CategoryDataset data =
      LoadCategoryDataset(config.data, DatasetOptions().downscale(config.downscale).background({0, 0, 0}));
  const double start = NowSeconds();
  const LolnerfPoses poses = EstimateLolnerfPoses(data, config);
  const double seconds = NowSeconds() - start;
  const CategoryDataset unseen = LoadCategoryDataset(args.out + "/unseen");
  std::vector<at::Tensor> estimated, truth;
  for (int64_t i = 0; i < unseen.data.size(); ++i) {
    const Camera& c = unseen.data.cameras[i];
    estimated.push_back(poses.landmarks.FitCamera(unseen.landmarks[i], torch::tensor({c.fx, c.fy, c.cx, c.cy}),
                                                  "unseen " + std::to_string(i)));
    truth.push_back(c.world_from_cam);
  }
  const at::Tensor unseen_error = RotationErrorDegrees(torch::stack(estimated), torch::stack(truth), false);
  std::fprintf(stderr,
               "landmarks: %lld training cameras in %.1f s (rotation error median %.2f max %.2f deg), %lld "
               "unseen cameras (max %.2f deg)\n",
               static_cast<long long>(data.data.size()), seconds, poses.report.value("rotation_error_deg_median", -1.0),
               poses.report.value("rotation_error_deg_max", -1.0), static_cast<long long>(unseen.data.size()),
               unseen_error.max().item<double>());
  std::printf("pose_rot_err_deg=%.2f unseen_pose_err_deg=%.2f\n", poses.rotation_error_deg,
              unseen_error.mean().item<double>());
  std::fflush(stdout);
}

Result RunVariant(const Args& args, const std::string& name, const nlohmann::json& overrides) {
  nlohmann::json user = args.config.empty() ? nlohmann::json::object() : ReadJsonFile(args.config);
  user["data"] = args.out + "/train";
  user["poses"] = "landmarks";
  // A config's own "steps" (with --budget 0) runs a variant for as many steps as another took: a comparison that
  // does not depend on the machine's load.
  if (!user.contains("time_budget_s")) user["time_budget_s"] = args.budget;
  if (!user.contains("steps")) user["steps"] = 10000000;
  if (!user.contains("eval_every")) user["eval_every"] = 500;  // the training-PSNR curve over time
  for (auto& [k, v] : overrides.items()) user[k] = v;
  const std::string run = args.out + "/run_" + name;
  std::fprintf(stderr, "== %s: training for %s ==\n", name.c_str(),
               user["time_budget_s"].get<double>() > 0
                   ? (std::to_string(user["time_budget_s"].get<double>()) + " s").c_str()
                   : (user["steps"].dump() + " steps").c_str());
  auto trainer = StartTraining("lolnerf", user, run, {false, false});
  const TrainResult trained = trainer->Train();
  Result r;
  r.train_psnr = trained.summary.value("train_psnr", 0.0);
  r.pose_error = trained.summary.value("pose_rot_err_deg", -1.0);
  r.train_s = trainer->progress().train_seconds;
  r.steps = trainer->progress().step;
  trainer.reset();

  const LolnerfRunInfo info = ReadLolnerfRun(run);
  auto model = LoadLolnerfModel(info, "cpu");
  const CategoryDataset unseen = LoadCategoryDataset(args.out + "/unseen");
  const CategoryDataset views = LoadCategoryDataset(args.out + "/unseen/transforms_eval.json");
  double novel = 0, depth = 0;
  int64_t novel_views = 0;
  for (int64_t i = 0; i < unseen.data.size(); ++i) {
    // Image and landmarks only: no camera, no mask.
    const LolnerfFit fit = FitLolnerfImage(
        *model, info.landmarks, IntrinsicsFor(info, unseen.data.width(), unseen.data.height()), unseen.data.images[i],
        unseen.landmarks[i], at::Tensor(), LolnerfFitOptions().steps(args.fit_steps).rays(args.fit_rays));
    r.fit_psnr += fit.psnr / unseen.data.size();
    double instance_psnr = 0;
    int64_t instance_views = 0;
    for (int64_t k = 0; k < views.data.size(); ++k) {
      if (views.latent_index[k].item<int64_t>() != unseen.latent_index[i].item<int64_t>()) continue;
      const RenderedView view = model->RenderCamera(views.data.cameras[k], fit.code);
      const at::Tensor fg = views.masks[k] > 0.5f;
      const double mse = (view.rgb - views.data.images[k]).pow(2).mean(2).index({fg}).mean().item<double>();
      const double psnr = -10 * std::log10(std::max(mse, 1e-10));
      const at::Tensor gt = views.data.depths[k];
      const double mae = MaskedMae(view.depth / view.opacity.clamp_min(1e-6f), gt, fg.logical_and(gt > 0));
      novel += psnr;
      depth += mae;
      instance_psnr += psnr;
      ++instance_views;
      ++novel_views;
    }
    std::fprintf(stderr, "  %s unseen %lld: fit %.2f dB (landmark residual %.2f px), held-apart views %.2f dB\n",
                 name.c_str(), static_cast<long long>(i), fit.psnr, fit.landmark_residual_px,
                 instance_views > 0 ? instance_psnr / instance_views : 0.0);
  }
  r.novel_psnr = novel / std::max<int64_t>(novel_views, 1);
  r.depth_mae = depth / std::max<int64_t>(novel_views, 1);
  std::printf(
      "%s: train_psnr=%.2f unseen_fit_psnr=%.2f novel_view_psnr=%.2f novel_depth_mae=%.4f "
      "pose_rot_err_deg=%.2f train_s=%.1f steps=%lld\n",
      name.c_str(), r.train_psnr, r.fit_psnr, r.novel_psnr, r.depth_mae, r.pose_error, r.train_s,
      static_cast<long long>(r.steps));
  std::fflush(stdout);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log as they happen, not at exit
  Args args;
  try {
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string k = argv[i], v = argv[i + 1];
      if (k == "--out")
        args.out = v;
      else if (k == "--config")
        args.config = v;
      else if (k == "--instances")
        args.instances = std::stoi(v);
      else if (k == "--unseen")
        args.unseen = std::stoi(v);
      else if (k == "--size")
        args.size = std::stoi(v);
      else if (k == "--eval-views")
        args.eval_views = std::stoi(v);
      else if (k == "--noise")
        args.noise = std::stod(v);
      else if (k == "--budget")
        args.budget = std::stod(v);
      else if (k == "--fit-steps")
        args.fit_steps = std::stoll(v);
      else if (k == "--fit-rays")
        args.fit_rays = std::stoll(v);
      else if (k == "--ablations")
        args.ablations = std::stoi(v) != 0;
      else if (k == "--only")
        args.only = v;
      else if (k == "--pose-only")
        args.pose_only = std::stoi(v) != 0;
      else
        NE_FAIL("lolnerf_bench: unknown flag ", k);
    }
    NE_CHECK(!args.out.empty(), "lolnerf_bench: --out DIR is required");
    std::fprintf(stderr, "lolnerf_bench: %d threads\n", ConfigureThreads());
    const double t0 = NowSeconds();
    WriteCategoryDataset(CategoryDatasetOptions()
                             .kind("heads")
                             .instances(args.instances)
                             .size(args.size)
                             .eval_views(0)
                             .landmark_noise_px(args.noise)
                             .seed(0),
                         args.out + "/train");
    WriteCategoryDataset(CategoryDatasetOptions()
                             .kind("heads")
                             .instances(args.unseen)
                             .size(args.size)
                             .eval_views(args.eval_views)
                             .landmark_noise_px(args.noise)
                             .seed(1000),  // other heads than the training set's
                         args.out + "/unseen");
    std::fprintf(stderr,
                 "data: %d training heads + %d unseen (%d held-apart views each), %dx%d, %.1f px landmark "
                 "noise, in %.1f s\n",
                 args.instances, args.unseen, args.eval_views, args.size, args.size, args.noise, NowSeconds() - t0);
    if (args.pose_only) {
      RunPoseOnly(args);
      return 0;
    }
    if (!args.only.empty()) {  // re-running one variant on the same seeded data (e.g. after a fix)
      const std::map<std::string, nlohmann::json> variants = {{"main", nlohmann::json::object()},
                                                              {"no_hard", {{"hard_surface_weight", 0.0}}},
                                                              {"no_fgbg", {{"fg_bg", false}}}};
      NE_CHECK(variants.count(args.only), "lolnerf_bench: --only must be main, no_hard or no_fgbg, got ", args.only);
      RunVariant(args, args.only, variants.at(args.only));
      return 0;
    }
    const Result main_run = RunVariant(args, "main", nlohmann::json::object());
    Result no_hard, no_fgbg;
    if (args.ablations) {
      no_hard = RunVariant(args, "no_hard", {{"hard_surface_weight", 0.0}});
      no_fgbg = RunVariant(args, "no_fgbg", {{"fg_bg", false}});
    }
    std::printf(
        "train_psnr=%.2f unseen_fit_psnr=%.2f novel_view_psnr=%.2f novel_depth_mae=%.4f pose_rot_err_deg=%.2f "
        "no_hard_novel_psnr=%.2f no_hard_depth_mae=%.4f no_fgbg_novel_psnr=%.2f train_s=%.1f "
        "steps_per_s=%.2f\n",
        main_run.train_psnr, main_run.fit_psnr, main_run.novel_psnr, main_run.depth_mae, main_run.pose_error,
        no_hard.novel_psnr, no_hard.depth_mae, no_fgbg.novel_psnr, main_run.train_s,
        main_run.steps / std::max(main_run.train_s, 1e-9));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
