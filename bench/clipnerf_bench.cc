// bench/clipnerf_procedural's driver, generator part (issue 15 item 2b, the mappers come later): procedural chairs,
// one view per instance with held-apart views, the GLO generator trained for the same steps (or seconds) with the
// disentangled field and with the trivial conditional NeRF (the paper's ablation); then the held-apart views of the
// training instances rendered with their learnt codes against the generator's truth, and code swaps between
// instances against it (methods/clipnerf/clipnerf_edit.h). Last line:
//   novel_psnr novel_fg_psnr trivial_novel_psnr trivial_novel_fg_psnr app_edit_silhouette_iou
//   trivial_app_edit_silhouette_iou shape_edit_hue_shift_deg trivial_shape_edit_hue_shift_deg train_s steps_per_s
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "data/category_scene.h"
#include "methods/clipnerf/clipnerf_edit.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "methods/method_registry.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

using namespace nerfedit;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string out, config, data;
  int instances = 300, size = 64, eval_views = 2, pairs = 40;
  int64_t steps = 2000;
  double budget = 0;
  std::string only;  // disentangled | trivial
};

struct Result {
  double train_psnr = 0, novel = 0, novel_fg = 0, novel_iou = 0, train_s = 0;
  int64_t steps = 0;
  DisentanglementReport edits;
};

Result RunVariant(const Args& args, const std::string& field) {
  nlohmann::json user = args.config.empty() ? nlohmann::json::object() : ReadJsonFile(args.config);
  user["data"] = args.data;
  user["field"] = field;
  if (!user.contains("steps")) user["steps"] = args.budget > 0 ? 100000000 : args.steps;
  if (!user.contains("time_budget_s")) user["time_budget_s"] = args.budget;
  if (!user.contains("eval_every")) user["eval_every"] = 500;
  if (!user.contains("eval_instances")) user["eval_instances"] = 100;
  const std::string run = args.out + "/run_" + field;
  std::fprintf(stderr, "== %s ==\n", field.c_str());
  auto trainer = StartTraining("clipnerf", user, run, {false, false});
  const TrainResult trained = trainer->Train();
  Result r;
  r.train_psnr = trained.summary.value("train_psnr", 0.0);
  r.novel = trained.summary.value("novel_psnr", 0.0);
  r.novel_fg = trained.summary.value("novel_fg_psnr", 0.0);
  r.novel_iou = trained.summary.value("novel_mask_iou", 0.0);
  r.train_s = trainer->progress().train_seconds;
  r.steps = trainer->progress().step;
  trainer.reset();
  auto model = LoadClipnerfModel(ReadClipnerfRun(run), "cpu");
  const CategoryDataset data = LoadCategoryDataset(args.data, DatasetOptions().background({1, 1, 1}));
  r.edits = MeasureDisentanglement(*model, data, DisentanglementOptions().pairs(args.pairs));
  WriteTextAtomically(run + "/disentanglement.json", r.edits.ToJson().dump(1));
  std::printf("%s: train_psnr=%.2f novel_psnr=%.2f novel_fg_psnr=%.2f novel_mask_iou=%.3f app_swap_iou=%.4f "
              "app_swap_gt_iou=%.3f before_gt_iou=%.3f shape_swap_hue_shift_deg=%.1f shape_swap_gt_hue_shift_deg=%.1f "
              "app_swap_hue_change_deg=%.1f train_s=%.1f steps=%lld\n",
              field.c_str(), r.train_psnr, r.novel, r.novel_fg, r.novel_iou, r.edits.app_swap_iou,
              r.edits.app_swap_gt_iou, r.edits.before_gt_iou, r.edits.shape_swap_hue_shift_deg,
              r.edits.shape_swap_gt_hue_shift_deg, r.edits.app_swap_hue_change_deg, r.train_s,
              static_cast<long long>(r.steps));
  std::fflush(stdout);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string k = argv[i], v = argv[i + 1];
      if (k == "--out") args.out = v;
      else if (k == "--config") args.config = v;
      else if (k == "--data") args.data = v;
      else if (k == "--instances") args.instances = std::stoi(v);
      else if (k == "--size") args.size = std::stoi(v);
      else if (k == "--eval-views") args.eval_views = std::stoi(v);
      else if (k == "--steps") args.steps = std::stoll(v);
      else if (k == "--budget") args.budget = std::stod(v);
      else if (k == "--pairs") args.pairs = std::stoi(v);
      else if (k == "--only") args.only = v;
      else NE_FAIL("clipnerf_bench: unknown flag ", k);
    }
    NE_CHECK(!args.out.empty(), "clipnerf_bench: --out DIR is required");
    NE_CHECK(args.only.empty() || args.only == "disentangled" || args.only == "trivial",
             "clipnerf_bench: --only must be disentangled or trivial, got ", args.only);
    std::fprintf(stderr, "clipnerf_bench: %d threads\n", ConfigureThreads());
    if (args.data.empty()) {
      args.data = args.out + "/chairs";
      WriteCategoryDataset(CategoryDatasetOptions()
                               .kind("chairs")
                               .instances(args.instances)
                               .size(args.size)
                               .eval_views(args.eval_views)
                               .seed(0),
                           args.data);
    }
    if (!args.only.empty()) {
      RunVariant(args, args.only);
      return 0;
    }
    const Result d = RunVariant(args, "disentangled");
    const Result t = RunVariant(args, "trivial");
    std::printf("novel_psnr=%.2f novel_fg_psnr=%.2f trivial_novel_psnr=%.2f trivial_novel_fg_psnr=%.2f "
                "app_edit_silhouette_iou=%.4f trivial_app_edit_silhouette_iou=%.4f shape_edit_hue_shift_deg=%.1f "
                "trivial_shape_edit_hue_shift_deg=%.1f train_s=%.1f steps_per_s=%.2f\n",
                d.novel, d.novel_fg, t.novel, t.novel_fg, d.edits.app_swap_iou, t.edits.app_swap_iou,
                d.edits.shape_swap_hue_shift_deg, t.edits.shape_swap_hue_shift_deg, d.train_s,
                d.steps / std::max(d.train_s, 1e-9));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
