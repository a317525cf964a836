#include "app/viewer/tiny_dff_run.h"

#include <torch/torch.h>

#include <filesystem>

#include "data/procedural_scene.h"
#include "engine/trainer.h"
#include "methods/dff/dff_method.h"
#include "models2d/small_clip.h"

namespace nerfedit {
namespace fs = std::filesystem;

std::string MakeTinyDffRun(const std::string& dir) {
  const std::string clip = dir + "/clip", scene = dir + "/scene", run = dir + "/run";
  fs::create_directories(dir);
  if (!fs::exists(clip + "/small_clip_training.json")) {
    // Colour words are learnt first, which is all the scene's queries ("red sphere" vs "blue box") need. By steps, not
    // seconds: on a loaded machine a 20-s budget gave a teacher that selected nothing.
    SmallClipOptions options;
    options.image_size(32).patch_size(8).vision_width(64).text_width(64).vision_layers(2).text_layers(2).heads(2)
        .projection_dim(64).batch_size(64).steps(150).time_budget_seconds(0).train_per_class(6)
        .held_out_per_class(1).supersample(1).lr(2e-3).warmup_steps(20).progress(false).seed(3)
        .scene_crops(0);  // as methods/dff/dff_test.cc: 150 steps (~20 s) are for the colour words
    TrainSmallClip(options, clip);
  }
  if (!fs::exists(scene)) {  // written atomically: present means complete
    WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions().num_views(40).width(48).height(48), scene);
  }
  if (!fs::exists(run + "/checkpoint.pt")) {
    fs::remove_all(run);
    // 400 steps: what methods/dff/dff_test.cc needs for "red sphere" (fewer steps select nothing).
    const DffConfig c = DffConfig::Tiny(scene, clip, 400);
    StartRun(run, [&] { return std::make_unique<DffMethod>(c, run, /*quiet=*/true); },
             {/*quiet=*/true, /*save_eval_images=*/false})
        ->Train();
  }
  return run;
}

}  // namespace nerfedit
