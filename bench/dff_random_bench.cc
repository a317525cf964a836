// bench/dff_random's driver: text selection of Distilled Feature Fields on seeded random scenes (methods/dff/
// random_scenes.h) that nobody tuned for, against the exact label maps of held-out views. Each scene is trained for a
// fixed number of steps (the same result on any machine); every object is queried by its name. Reports per scene
// the mIoU, the worst object's IoU and the field's held-out PSNR; per difficulty class (same colour / same shape /
// near background) the mIoU over the objects in it; and for background-coloured objects their depth error and PSNR.
// Queries run twice: against the default negatives a user gets (dff_query's DefaultNegatives: the canonical phrases
// in the teacher's words), which the last line reports, and against the scene's own other object names.
// Last line: scenes miou worst_object_iou same_colour_miou same_shape_miou near_background_miou field_psnr
// train_steps (worst_object_iou: the mean over scenes of each scene's worst object).
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "data/procedural_scene.h"
#include "engine/trainer.h"
#include "eval/image_metrics.h"
#include "methods/dff/dff_method.h"
#include "methods/dff/dff_query.h"
#include "methods/dff/random_scenes.h"
#include "models2d/small_clip_data.h"
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
};

struct Mean {
  double sum = 0;
  int n = 0;
  void Add(double v) { sum += v, ++n; }
  double Get() const { return n > 0 ? sum / n : 0.0; }
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log as they happen, not at exit
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
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 1; }
  }
  try {
    ConfigureThreads();
    Mean miou, worst, same_colour, same_shape, near_background, psnr, near_depth_mae, near_psnr;
    Mean scene_negatives_miou;  // the same queries against the scene's own other object names
    Mean teacher_miou;          // the teacher alone, on the held-out images (no field): is it the teacher or the field?
    Mean colour_word_miou, shape_word_miou, synonym_miou;  // one-word queries: "red", "cube", "ball"
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
      // The teacher's own 2D maps of the held-out images, upsampled to pixels (what the field distils).
      const DffConfig& resolved = static_cast<DffMethod&>(trainer->method()).dff_config();
      Teacher crops({teacher.options().dir, "crops", resolved.teacher_crop, resolved.teacher_crop_scales});
      std::vector<at::Tensor> teacher_pixels;  // per held-out view: [H*W,F]
      {
        const int64_t h = test.height(), w = test.width();
        auto ys = torch::arange(h, torch::kFloat) + 0.5f, xs = torch::arange(w, torch::kFloat) + 0.5f;
        auto grid = torch::meshgrid({ys, xs}, "ij");
        const at::Tensor xy = torch::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, 1);
        for (int64_t v = 0; v < test.size(); ++v) {
          const at::Tensor maps = crops.DenseFeatures(test.images[v]).unsqueeze(0);
          teacher_pixels.push_back(SampleFeatureMaps(maps, torch::zeros({h * w}, torch::kLong), xy, w, h));
        }
      }
      Mean scene_iou;
      double scene_worst = 1.0;
      std::string worst_name;
      std::printf("scene %llu (%zu objects, %lld steps, field PSNR %.2f dB):\n", static_cast<unsigned long long>(seed),
                  rq.scene.objects.size(), static_cast<long long>(trainer->progress().step),
                  summary["psnr_db"].get<double>());
      for (size_t k = 0; k < rq.scene.objects.size(); ++k) {
        const std::string& name = rq.scene.objects[k].name;
        const double iou = LabelIou(*model, TextSelection(teacher, name, {}), test, 2 + static_cast<int>(k));
        const double iou_scene = LabelIou(*model, TextSelection(teacher, name, names), test, 2 + static_cast<int>(k));
        scene_negatives_miou.Add(iou_scene);
        {
          const Selection query = TextSelection(teacher, name, {});
          at::Tensor masks = torch::zeros({0}, torch::kBool), truth = masks;
          for (int64_t v = 0; v < test.size(); ++v) {
            masks = torch::cat({masks, query.Mask(teacher_pixels[v], at::Tensor())});
            truth = torch::cat({truth, (test.labels[v] == 2 + static_cast<int>(k)).reshape(-1)});
          }
          teacher_miou.Add(MaskIou(masks, truth));
        }
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
        std::printf("  %-16s IoU %.3f (scene names as negatives %.3f)  [%s%s%s]%s\n", name.c_str(), iou, iou_scene,
                    d.same_colour ? " same-colour" : "",
                    d.same_shape ? " same-shape" : "", d.near_background ? " near-background" : "", extra.c_str());
      }
      // One-word queries the way people phrase them: a colour alone, a shape alone, a shape's synonym — against the
      // union of the objects they name, with the default negatives.
      std::map<std::string, std::vector<int>> by_colour, by_shape;
      for (size_t k = 0; k < rq.scene.objects.size(); ++k) {
        const std::string& name = rq.scene.objects[k].name;
        by_colour[name.substr(0, name.find(' '))].push_back(2 + static_cast<int>(k));
        by_shape[name.substr(name.find(' ') + 1)].push_back(2 + static_cast<int>(k));
      }
      auto word_iou = [&](const std::string& word, const std::vector<int>& labels) {
        const Selection query = TextSelection(teacher, word, {});
        at::Tensor masks = torch::zeros({0}, torch::kBool), truth = masks;
        for (int64_t v = 0; v < test.size(); ++v) {
          masks = torch::cat({masks, RenderSelection(*model, query, test.cameras[v]).mask.reshape(-1)});
          at::Tensor t = torch::zeros_like(test.labels[v], torch::kBool);
          for (int label : labels) t |= test.labels[v] == label;
          truth = torch::cat({truth, t.reshape(-1)});
        }
        return MaskIou(masks, truth);
      };
      for (const auto& [colour, labels] : by_colour) colour_word_miou.Add(word_iou(colour, labels));
      for (const auto& [shape, labels] : by_shape) {
        shape_word_miou.Add(word_iou(shape, labels));
        for (const auto& s : CaptionShapes()) {
          if (s.singular == shape && !s.synonym.empty()) synonym_miou.Add(word_iou(s.synonym, labels));
        }
      }
      std::printf("  mIoU %.3f, worst %.3f (%s)\n", scene_iou.Get(), scene_worst, worst_name.c_str());
      std::fflush(stdout);
      miou.Add(scene_iou.Get());
      worst.Add(scene_worst);
      psnr.Add(summary["psnr_db"].get<double>());
    }
    std::printf("background-coloured objects: depth MAE %.4f, PSNR %.2f dB on their pixels (alpha %d)\n",
                near_depth_mae.Get(), near_psnr.Get(), args.alpha);
    std::printf("object mIoU with the scene's own names as negatives: %.3f (default negatives: see miou)\n",
                scene_negatives_miou.Get());
    std::printf("object mIoU of the teacher's own 2D maps on the held-out images (no field): %.3f\n",
                teacher_miou.Get());
    std::printf("one-word queries (default negatives; IoU against every object the word names): colour %.3f, shape "
                "%.3f, shape synonym (ball / box / ring) %.3f\n",
                colour_word_miou.Get(), shape_word_miou.Get(), synonym_miou.Get());
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
