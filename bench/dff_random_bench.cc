// bench/dff_random's driver: text selection of Distilled Feature Fields on seeded random scenes (methods/dff/
// random_scenes.h) that nobody tuned for, against the exact label maps of held-out views. Each scene is trained for a
// fixed number of steps (the same result on any machine); every object is queried by its name. Reports per scene
// the mIoU, the worst object's IoU and the field's held-out PSNR; per difficulty class (same colour / same shape /
// near background) the mIoU over the objects in it; and for background-coloured objects their depth error and PSNR.
// Last line: scenes miou worst_object_iou same_colour_miou same_shape_miou near_background_miou field_psnr
// train_steps (worst_object_iou: the mean over scenes of each scene's worst object).
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/procedural_scene.h"
#include "engine/trainer.h"
#include "eval/image_metrics.h"
#include "methods/dff/dff_method.h"
#include "methods/dff/dff_query.h"
#include "methods/dff/random_scenes.h"
#include "util/json_reader.h"
#include "util/runtime.h"

using namespace nerfedit;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string teacher, out, config;
  int scenes = 10, views = 60, size = 96;
  int64_t steps = 1000;
  uint64_t first_seed = 1000;  // bench scenes; the small CLIP's scene crops use other generators and seeds
  bool alpha = true;           // RGBA procedural data (random backgrounds apply)
  std::string negatives = "scene";  // "scene": the scene's other object names; "generic": DefaultNegatives
};

struct Mean {
  double sum = 0;
  int n = 0;
  void Add(double v) { sum += v, ++n; }
  double Get() const { return n > 0 ? sum / n : 0.0; }
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--teacher") args.teacher = v;
    else if (k == "--out") args.out = v;
    else if (k == "--config") args.config = v;
    else if (k == "--scenes") args.scenes = std::stoi(v);
    else if (k == "--views") args.views = std::stoi(v);
    else if (k == "--size") args.size = std::stoi(v);
    else if (k == "--steps") args.steps = std::stoll(v);
    else if (k == "--first-seed") args.first_seed = std::stoull(v);
    else if (k == "--alpha") args.alpha = v != "0";
    else if (k == "--negatives") args.negatives = v;
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 1; }
  }
  try {
    ConfigureThreads();
    NE_CHECK(args.negatives == "scene" || args.negatives == "generic", "--negatives must be scene or generic");
    Mean miou, worst, same_colour, same_shape, near_background, psnr, near_depth_mae, near_psnr;
    for (int s = 0; s < args.scenes; ++s) {
      const uint64_t seed = args.first_seed + s;
      const RandomQueryScene rq = MakeRandomQueryScene(seed);
      const std::string scene_dir = args.out + "/scene_" + std::to_string(seed);
      const std::string run_dir = args.out + "/run_" + std::to_string(seed);
      WriteProceduralDataset(rq.scene,
                             ProceduralDatasetOptions().num_views(args.views).width(args.size).height(args.size)
                                 .seed(static_cast<int>(seed)).alpha(args.alpha),
                             scene_dir);
      DffConfig config = DffConfig::FromJson(ReadJsonFile(args.config), args.config);
      config.nerf.data = scene_dir;
      config.teacher = args.teacher;
      config.nerf.trainer.steps = args.steps;
      config.nerf.trainer.time_budget_s = 0;
      auto trainer = StartRun(run_dir, [&] { return std::make_unique<DffMethod>(config, run_dir, true); },
                              {/*quiet=*/true, /*save_eval_images=*/false});
      const nlohmann::json summary = trainer->Train().summary;
      const Dataset& test = static_cast<DffMethod&>(trainer->method()).test_set();
      auto model = LoadDffRun(run_dir, "auto", nullptr);
      Teacher teacher = LoadRunTeacher(run_dir);
      const std::vector<std::string> names = SceneObjectNames(scene_dir);  // "ground" first, then the objects
      Mean scene_iou;
      double scene_worst = 1.0;
      std::string worst_name;
      std::printf("scene %llu (%zu objects, %lld steps, field PSNR %.2f dB):\n", static_cast<unsigned long long>(seed),
                  rq.scene.objects.size(), static_cast<long long>(trainer->progress().step),
                  summary["psnr_db"].get<double>());
      for (size_t k = 0; k < rq.scene.objects.size(); ++k) {
        const std::string& name = rq.scene.objects[k].name;
        const std::vector<std::string> negatives =
            args.negatives == "scene" ? names : DefaultNegatives(teacher, name);
        const Selection selection = TextSelection(teacher, name, negatives);
        const double iou = LabelIou(*model, selection, test, 2 + static_cast<int>(k));
        const ObjectDifficulty& d = rq.difficulty[k];
        scene_iou.Add(iou);
        if (iou < scene_worst) scene_worst = iou, worst_name = name;
        if (d.same_colour) same_colour.Add(iou);
        if (d.same_shape) same_shape.Add(iou);
        std::string extra;
        if (d.near_background) {
          near_background.Add(iou);
          // How well the field reconstructs it: depth error and PSNR over its true pixels.
          Mean mae, p;
          for (int64_t v = 0; v < test.size(); ++v) {
            const at::Tensor mask = test.labels[v] == 2 + static_cast<int>(k);
            if (mask.sum().item<int64_t>() == 0) continue;
            const RenderedView view = model->RenderColour(test.cameras[v]);
            const at::Tensor depth = view.depth / view.opacity.clamp_min(1e-6f);
            mae.Add(MaskedMae(depth, test.depths[v], mask));
            const double mse = (view.rgb - test.images[v]).pow(2).index({mask}).mean().item<double>();
            p.Add(-10 * std::log10(std::max(mse, 1e-10)));
          }
          near_depth_mae.Add(mae.Get());
          near_psnr.Add(p.Get());
          char text[96];
          std::snprintf(text, sizeof(text), "  depth MAE %.3f, PSNR %.2f dB on its pixels", mae.Get(), p.Get());
          extra = text;
        }
        std::printf("  %-16s IoU %.3f  [%s%s%s]%s\n", name.c_str(), iou, d.same_colour ? " same-colour" : "",
                    d.same_shape ? " same-shape" : "", d.near_background ? " near-background" : "", extra.c_str());
      }
      std::printf("  mIoU %.3f, worst %.3f (%s)\n", scene_iou.Get(), scene_worst, worst_name.c_str());
      std::fflush(stdout);
      miou.Add(scene_iou.Get());
      worst.Add(scene_worst);
      psnr.Add(summary["psnr_db"].get<double>());
    }
    std::printf("background-coloured objects: depth MAE %.4f, PSNR %.2f dB on their pixels (alpha %d)\n",
                near_depth_mae.Get(), near_psnr.Get(), args.alpha);
    std::printf("scenes=%d miou=%.3f worst_object_iou=%.3f same_colour_miou=%.3f same_shape_miou=%.3f "
                "near_background_miou=%.3f field_psnr=%.2f train_steps=%lld\n",
                args.scenes, miou.Get(), worst.Get(), same_colour.Get(), same_shape.Get(), near_background.Get(),
                psnr.Get(), static_cast<long long>(args.steps));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
