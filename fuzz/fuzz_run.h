// Shared by the run-folder fuzz targets (checkpoint, run_json): a real, tiny nerf run made once per fuzzing process
// by the same code `nerfedit nerf train` runs (StartRun + Trainer::Train): a 3-view 8x8 procedural dataset and a
// hash-grid field small enough that its checkpoint is a few KB, trained for 2 steps with the sparse Adam on the
// tables. Targets copy its run.json and checkpoint.pt and replace one of them with the fuzzer's bytes.
#pragma once
#include <filesystem>
#include <string>

#include "data/procedural_scene.h"
#include "engine/trainer.h"
#include "fuzz/fuzz_util.h"
#include "methods/nerf/nerf_method.h"

namespace nerfedit::fuzz {

struct TinyRun {
  std::string dir;  // run.json + checkpoint.pt
  NerfConfig config;
};

inline NerfConfig TinyNerfConfig(const std::string& data) {
  NerfConfig c;
  c.data = data;
  c.test_every = 0;
  c.batch_rays = 64;
  c.grid_resolution = 8;
  c.grid_warmup_steps = 1;
  c.grid_update_every = 1;
  c.sparse_adam = true;
  c.field_config = {
      {"hidden_dim", 8},
      {"geo_feat_dim", 3},
      {"color_hidden_dim", 8},
      {"color_num_hidden_layers", 1},
      {"sh_degree", 1},
      {"encoding", {{"num_levels", 2}, {"log2_hashmap_size", 6}, {"base_resolution", 4}, {"max_resolution", 8}}}};
  c.trainer.steps = 2;
  c.trainer.eval_every = 0;
  c.trainer.checkpoint_every = 0;
  c.trainer.device = "cpu";
  return c;
}

inline const TinyRun& TinyNerfRun() {
  static const TinyRun run = [] {
    namespace fs = std::filesystem;
    TinyRun r;
    const std::string data = ScratchDir() + "/tiny_scene";
    fs::remove_all(data);
    WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions().num_views(3).width(8).height(8).supersample(1),
                           data);
    r.config = TinyNerfConfig(data);
    r.dir = ScratchDir() + "/tiny_run";
    fs::remove_all(r.dir);
    TrainerOptions options;
    options.quiet = true;
    options.save_eval_images = false;
    StartRun(
        r.dir, [&] { return std::make_unique<NerfMethod>(r.config); }, options)
        ->Train();
    return r;
  }();
  return run;
}

// A fresh copy of the tiny run in ScratchDir()/name (what a target then damages).
inline std::string CopyOfTinyRun(const std::string& name) {
  namespace fs = std::filesystem;
  const std::string dir = ScratchDir() + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* file : {"run.json", "checkpoint.pt"}) {
    fs::copy_file(TinyNerfRun().dir + "/" + file, dir + "/" + file);
  }
  return dir;
}

}  // namespace nerfedit::fuzz
