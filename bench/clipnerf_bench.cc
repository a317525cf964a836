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
#include "methods/clipnerf/clipnerf_edit_eval.h"
#include "methods/clipnerf/clipnerf_mapper.h"
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
  // The text edits (issue 15 item 3): --reuse DIR takes DIR/run_disentangled and DIR/run_trivial (copied into --out)
  // instead of training; the mappers are then trained on them with the chair CLIP (--clip: another CLIP folder).
  std::string reuse, clip;
  int64_t mapper_steps = 150, mapper_batch = 8, mapper_size = 24, edit_instances = 20, held_out = 80;
  double mapper_lr = MapperTrainOptions().lr(), mapper_norm_weight = MapperTrainOptions().norm_weight(),
         mapper_contrast_weight = MapperTrainOptions().contrast_weight();
  bool edits = true, trivial_mappers = false;
};

struct Result {
  double train_psnr = 0, novel = 0, novel_fg = 0, novel_iou = 0, train_s = 0;
  int64_t steps = 0;
  DisentanglementReport edits;
};

// A run trained before (--reuse): copied into --out (the mappers are written there), its figures read back from its
// train.json (the trainer's summary) and its code swaps measured again.
Result ReuseVariant(const Args& args, const std::string& field, const std::string& run) {
  const std::string from = args.reuse + "/run_" + field;
  NE_CHECK(fs::exists(from + "/run.json"), "clipnerf_bench: --reuse ", args.reuse, " has no run_", field);
  fs::copy(from, run, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::remove(run + "/mappers.json");
  Result r;
  const nlohmann::json last = ReadJsonFile(run + "/train.json");  // the trainer's summary
  r.train_psnr = last.value("train_psnr", 0.0), r.novel = last.value("novel_psnr", 0.0);
  r.novel_fg = last.value("novel_fg_psnr", 0.0), r.train_s = last.value("train_s", 0.0);
  r.steps = last.value("steps", int64_t{0});
  auto model = LoadClipnerfModel(ReadClipnerfRun(run), "cpu");
  const CategoryDataset data = LoadCategoryDataset(args.data, DatasetOptions().background({1, 1, 1}));
  r.edits = MeasureDisentanglement(*model, data, DisentanglementOptions().pairs(args.pairs));
  std::printf("%s (reused %s, %lld steps): novel_psnr=%.2f app_swap_iou=%.4f shape_swap_hue_shift_deg=%.1f\n",
              field.c_str(), from.c_str(), static_cast<long long>(r.steps), r.novel, r.edits.app_swap_iou,
              r.edits.shape_swap_hue_shift_deg);
  std::fflush(stdout);
  return r;
}

// Mappers trained on a run, then every prompt applied to the held-out instances and judged
// (methods/clipnerf/clipnerf_edit_eval.h). colour_only: the trivial run's silhouette figure alone.
EditEvalReport RunEdits(const Args& args, const std::string& run, bool colour_only) {
  const ClipnerfRunInfo info = ReadClipnerfRun(run);
  auto model = LoadClipnerfModel(info, "cpu");
  ClipBundle clip = LoadOrTrainEditClip(args.clip);
  std::vector<EditPrompt> prompts;
  for (const auto& p : DefaultPromptLibrary())
    if (!colour_only || !p.shape) prompts.push_back(p);
  std::vector<std::string> texts;
  for (const auto& p : prompts) texts.push_back(p.text);
  ClipMappers mappers(ClipMappersOptions()
                          .clip_dim(clip.config.projection_dim)
                          .shape_dim(info.config.shape_code_dim)
                          .appearance_dim(info.config.appearance_code_dim));
  const MapperTrainOptions options = MapperTrainOptions()
                                         .steps(args.mapper_steps)
                                         .batch(args.mapper_batch)
                                         .render_size(args.mapper_size)
                                         .held_out(args.held_out)
                                         .lr(args.mapper_lr)
                                         .norm_weight(args.mapper_norm_weight)
                                         .contrast_weight(args.mapper_contrast_weight)
                                         .logit_scale(clip.model->logit_scale.exp().item<double>());
  const MapperTrainReport trained = TrainMappers(*model, mappers, ClipImageEmbedder(clip), prompts,
                                                 EncodePrompts(clip, texts), info.cameras, options);
  SaveMappers(run, mappers, {{"clip", args.clip.empty() ? DefaultChairClipDir() : args.clip},
                             {"held_out_from", info.num_latents - args.held_out},
                             {"report", trained.ToJson()}});
  const CategoryDataset data = LoadCategoryDataset(args.data, DatasetOptions().background({1, 1, 1}));
  const EditEvalReport report = EvaluateTextEdits(
      *model, mappers, clip, prompts, ReadJsonFile(args.data + "/category.json"), data,
      EditEvalOptions().instances_per_prompt(args.edit_instances).held_out_from(info.num_latents - args.held_out).fd(
          !colour_only));
  nlohmann::json j = report.ToJson();
  j["mapper_training"] = trained.ToJson();
  WriteTextAtomically(run + "/edits.json", j.dump(1));
  std::printf("%s edits: mapper_steps=%lld first_d_clip=%.4f final_d_clip=%.4f mapper_train_s=%.1f "
              "colour_edit_success=%.3f (%lld edits) shape_edit_success=%.3f (%lld edits) app_iou=%.4f "
              "shape_hue_shift_deg=%.1f edit_ms=%.2f render_ms=%.1f fd_before=%.4f fd_after=%.4f\n",
              run.c_str(), static_cast<long long>(trained.steps), trained.first_loss, trained.final_loss,
              trained.train_seconds, report.colour_success, static_cast<long long>(report.colour_edits),
              report.shape_success, static_cast<long long>(report.shape_edits), report.app_iou,
              report.shape_hue_shift_deg, report.edit_ms, report.render_ms, report.fd_before, report.fd_after);
  for (const auto& p : report.per_prompt)
    std::printf("  \"%s\": %lld/%lld\n", p["prompt"].get<std::string>().c_str(),
                static_cast<long long>(p["success"].get<int64_t>()), static_cast<long long>(p["applied"].get<int64_t>()));
  std::fflush(stdout);
  return report;
}

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
  if (!args.reuse.empty()) return ReuseVariant(args, field, run);
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
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log as they happen, not at exit
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
      else if (k == "--reuse") args.reuse = v;
      else if (k == "--clip") args.clip = v;
      else if (k == "--mapper-steps") args.mapper_steps = std::stoll(v);
      else if (k == "--mapper-batch") args.mapper_batch = std::stoll(v);
      else if (k == "--mapper-size") args.mapper_size = std::stoll(v);
      else if (k == "--edit-instances") args.edit_instances = std::stoll(v);
      else if (k == "--held-out") args.held_out = std::stoll(v);
      else if (k == "--mapper-lr") args.mapper_lr = std::stod(v);
      else if (k == "--mapper-norm-weight") args.mapper_norm_weight = std::stod(v);
      else if (k == "--mapper-contrast-weight") args.mapper_contrast_weight = std::stod(v);
      else if (k == "--edits") args.edits = v != "0";
      else if (k == "--trivial-mappers") args.trivial_mappers = v != "0";
      else NE_FAIL("clipnerf_bench: unknown flag ", k);
    }
    NE_CHECK(!args.out.empty(), "clipnerf_bench: --out DIR is required");
    NE_CHECK(args.only.empty() || args.only == "disentangled" || args.only == "trivial",
             "clipnerf_bench: --only must be disentangled or trivial, got ", args.only);
    std::fprintf(stderr, "clipnerf_bench: %d threads\n", ConfigureThreads());
    NE_CHECK(args.reuse.empty() || !args.data.empty(), "clipnerf_bench: --reuse needs --data (the runs' dataset)");
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
    std::fflush(stdout);
    if (args.edits) {
      // The edit keys; bench/clipnerf_procedural adds the inversion and GAN keys to its last line.
      const EditEvalReport e = RunEdits(args, args.out + "/run_disentangled", false);
      const double trivial_iou = args.trivial_mappers ? RunEdits(args, args.out + "/run_trivial", true).app_iou
                                                      : t.edits.app_swap_iou;
      std::printf("colour_edit_success=%.3f shape_edit_success=%.3f app_edit_silhouette_iou=%.4f "
                  "shape_edit_hue_shift_deg=%.1f trivial_app_edit_silhouette_iou=%.4f edit_ms=%.2f render_ms=%.1f "
                  "fd_before=%.4f fd_after=%.4f train_s=%.1f\n",
                  e.colour_success, e.shape_success, e.app_iou, e.shape_hue_shift_deg, trivial_iou, e.edit_ms,
                  e.render_ms, e.fd_before, e.fd_after, d.train_s);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
