#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "data/procedural_scene.h"
#include "methods/nerf/nerf_checkpoint.h"
#include "methods/nerf/nerf_trainer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

// A small procedural dataset shared by the tests of this file (written once per process).
const std::string& TinyScene() {
  static testing::TempDir dir;
  static std::string path = [] {
    std::string p = dir / "scene";
    WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions().num_views(40).width(48).height(48), p);
    return p;
  }();
  return path;
}

NerfConfig SmallConfig(int64_t steps) {
  NerfConfig c;
  c.data = TinyScene();
  c.test_every = 8;
  c.steps = steps;
  c.batch_rays = 1024;
  c.eval_every = 0;
  c.checkpoint_every = 0;
  c.grid_resolution = 32;
  c.grid_warmup_steps = 64;
  c.field_config = {{"encoding", {{"log2_hashmap_size", 15}, {"max_resolution", 256}}}};
  c.device = "cpu";
  return c;
}

TEST(NerfPipeline, TrainsAboveWhatAnUntrainedFieldReaches) {
  testing::TempDir runs;
  NerfTrainer untrained(SmallConfig(1), runs / "untrained", {true, false});
  const double before = EvaluateViews(untrained.model(), untrained.test_set(), {}).psnr;
  NerfTrainer trainer(SmallConfig(300), runs / "run", {true, false});
  EvalResult result = trainer.Train();
  // An untrained field renders grey-ish fog (~10 dB on this scene); 300 steps (measured ~19 dB) must clearly beat it.
  EXPECT_LT(before, 14.0);
  EXPECT_GT(result.psnr, 17.0) << "untrained " << before;
  EXPECT_GT(result.depth_mae, 0.0);
  EXPECT_LT(result.depth_mae, 0.25);
  EXPECT_TRUE(fs::exists(runs / "run/checkpoint.pt"));
  EXPECT_TRUE(fs::exists(runs / "run/eval.json"));
}

TEST(NerfPipeline, CheckpointRoundTripAndResume) {
  testing::TempDir runs;
  NerfTrainer trainer(SmallConfig(40), runs / "run", {true, false});
  trainer.Train();
  auto loaded = LoadNerfRun(runs / "run", "cpu");
  const Camera& camera = trainer.test_set().cameras[0];
  trainer.model().field()->eval();
  auto a = trainer.model().Render(camera).rgb;
  auto b = loaded->Render(camera).rgb;
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  // Resume continues from step 40 to 60 with the optimiser state restored.
  auto resumed = NerfTrainer::Resume(runs / "run", {{"steps", 60}}, {true, false});
  EXPECT_EQ(resumed->progress().step, 40);
  resumed->Train();
  EXPECT_EQ(resumed->progress().step, 60);
}

TEST(NerfPipeline, BadRunsAndCheckpointsGiveClearErrors) {
  testing::TempDir runs;
  NerfTrainer trainer(SmallConfig(5), runs / "run", {true, false});
  trainer.Train();
  // Existing non-empty output folder is refused.
  EXPECT_THROW(NerfTrainer(SmallConfig(5), runs / "run", {true, false}), Error);
  // Truncated checkpoint.
  fs::copy(runs / "run", runs / "broken", fs::copy_options::recursive);
  fs::resize_file(runs / "broken/checkpoint.pt", 200);
  try {
    LoadNerfRun(runs / "broken", "cpu");
    FAIL() << "truncated checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.pt"), std::string::npos) << e.what();
  }
  // A run from another format version.
  fs::copy(runs / "run", runs / "old", fs::copy_options::recursive);
  auto info = nlohmann::json::parse(ReadTextFile(runs / "old/run.json"));
  info["format_version"] = 99;
  WriteTextAtomically(runs / "old/run.json", info.dump());
  EXPECT_THROW(LoadNerfRun(runs / "old", "cpu"), Error);
  EXPECT_THROW(LoadNerfRun(runs / "missing", "cpu"), Error);
  // Bad data leaves no run folder behind.
  NerfConfig bad = SmallConfig(5);
  bad.data = runs / "nowhere";
  EXPECT_THROW(NerfTrainer(bad, runs / "bad", {true, false}), Error);
  EXPECT_FALSE(fs::exists(runs / "bad"));
}

TEST(NerfPipeline, NanLossStopsWithAClearErrorAndKeepsTheCheckpoint) {
  testing::TempDir runs;
  NerfConfig config = SmallConfig(10);
  config.checkpoint_every = 5;
  NerfTrainer trainer(config, runs / "run", {true, false});
  trainer.Train();
  // Poison the weights: the next step's loss is NaN.
  auto resumed = NerfTrainer::Resume(runs / "run", {{"steps", 20}}, {true, false});
  {
    torch::NoGradGuard no_grad;
    for (auto& p : resumed->model().field()->parameters()) p.fill_(std::nan(""));
  }
  try {
    resumed->Train();
    FAIL() << "NaN loss not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(LoadNerfRun(runs / "run", "cpu"));
}

TEST(NerfConfig, JsonRoundTripAndUnknownKeys) {
  NerfConfig c = NerfConfig::ForField("mlp");
  c.steps = 123;
  NerfConfig back = NerfConfig::FromJson(c.ToJson());
  EXPECT_EQ(back.ToJson(), c.ToJson());
  auto j = c.ToJson();
  j["stpes"] = 5;
  EXPECT_THROW(NerfConfig::FromJson(j), Error);
}

}  // namespace
}  // namespace nerfedit
