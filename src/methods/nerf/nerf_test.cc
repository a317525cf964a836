#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "data/procedural_scene.h"
#include "engine/trainer.h"
#include "methods/nerf/nerf_method.h"
#include "methods/nerf/nerf_run.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/test_util.h"
#include "methods/nerf/nerf_test_util.h"

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

NerfConfig SmallConfig(int64_t steps) { return SmallNerfConfig(TinyScene(), steps, /*test_every=*/8); }

std::unique_ptr<Trainer> Start(const NerfConfig& config, const std::string& run_dir) {
  return StartRun(run_dir, [&] { return std::make_unique<NerfMethod>(config); }, {/*quiet=*/true, false});
}

std::unique_ptr<Trainer> Resume(const std::string& run_dir, nlohmann::json overrides) {
  const RunHeader header = ReadRunJson(run_dir);
  const NerfConfig config = NerfConfig::FromJson(MergeConfig(header.config, overrides));
  return ResumeRun(run_dir, [&] { return std::make_unique<NerfMethod>(config); }, {true, false});
}

NerfMethod& Nerf(Trainer& t) { return static_cast<NerfMethod&>(t.method()); }

TEST(NerfPipeline, TrainsAboveWhatAnUntrainedFieldReaches) {
  testing::TempDir runs;
  NerfMethod untrained(SmallConfig(1));
  const double before = EvaluateViews(untrained.model(), untrained.test_set(), {}).psnr;
  auto trainer = Start(SmallConfig(300), runs / "run");
  const nlohmann::json result = trainer->Train().summary;
  // An untrained field renders grey-ish fog (~10 dB on this scene); 300 steps (measured ~19 dB) must clearly beat it.
  EXPECT_LT(before, 14.0);
  EXPECT_GT(result["psnr_db"].get<double>(), 17.0) << "untrained " << before;
  EXPECT_GT(result["depth_mae"].get<double>(), 0.0);
  EXPECT_LT(result["depth_mae"].get<double>(), 0.25);
  EXPECT_TRUE(fs::exists(runs / "run/checkpoint.pt"));
  EXPECT_TRUE(fs::exists(runs / "run/eval.json"));
}

TEST(NerfPipeline, CheckpointRoundTripAndResume) {
  testing::TempDir runs;
  auto trainer = Start(SmallConfig(40), runs / "run");
  trainer->Train();
  auto loaded = LoadNerfRun(runs / "run", "cpu");
  const Camera& camera = Nerf(*trainer).test_set().cameras[0];
  Nerf(*trainer).model().field()->eval();
  auto a = Nerf(*trainer).model().Render(camera).rgb;
  auto b = loaded->Render(camera).rgb;
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  // Resume continues from step 40 to 60 with the optimiser state and the adapted batch restored.
  auto resumed = Resume(runs / "run", {{"steps", 60}});
  EXPECT_EQ(resumed->progress().step, 40);
  EXPECT_EQ(Nerf(*resumed).batch_rays(), Nerf(*trainer).batch_rays());
  resumed->Train();
  EXPECT_EQ(resumed->progress().step, 60);
}

TEST(NerfPipeline, BadRunsAndCheckpointsGiveClearErrors) {
  testing::TempDir runs;
  Start(SmallConfig(5), runs / "run")->Train();
  // Existing non-empty output folder is refused.
  EXPECT_THROW(Start(SmallConfig(5), runs / "run"), Error);
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
  EXPECT_THROW(Start(bad, runs / "bad"), Error);
  EXPECT_FALSE(fs::exists(runs / "bad"));
  // A run of another method is refused by the nerf loader, naming the method.
  fs::copy(runs / "run", runs / "other", fs::copy_options::recursive);
  auto other = nlohmann::json::parse(ReadTextFile(runs / "other/run.json"));
  other["method"] = "lolnerf";
  WriteTextAtomically(runs / "other/run.json", other.dump());
  try {
    LoadNerfRun(runs / "other", "cpu");
    FAIL() << "a run of another method loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lolnerf"), std::string::npos) << e.what();
  }
}

TEST(NerfPipeline, NanLossStopsWithAClearErrorAndKeepsTheCheckpoint) {
  testing::TempDir runs;
  NerfConfig config = SmallConfig(10);
  config.trainer.checkpoint_every = 5;
  Start(config, runs / "run")->Train();
  // Poison the weights: the next step's loss is NaN.
  auto resumed = Resume(runs / "run", {{"steps", 20}});
  {
    torch::NoGradGuard no_grad;
    for (auto& p : Nerf(*resumed).model().field()->parameters()) p.fill_(std::nan(""));
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
  c.trainer.steps = 123;
  NerfConfig back = NerfConfig::FromJson(c.ToJson());
  EXPECT_EQ(back.ToJson(), c.ToJson());
  auto j = c.ToJson();
  j["stpes"] = 5;
  EXPECT_THROW(NerfConfig::FromJson(j), Error);
}

TEST(NerfConfig, CheckRejectsOutOfRangeValues) {
  // Each of these used to reach training: grid_update_every 0 died of SIGFPE, the others trained nonsense.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"grid_update_every", 0}, {"grid_resolution", 1}, {"batch_rays", 0}, {"lr", -1}, {"lr_final_factor", 0},
           {"downscale", 0}, {"test_every", -1}, {"sampler", "magic"}, {"steps", 0}, {"near", -1},
           {"background", nlohmann::json::array({1, 1})}, {"background", nlohmann::json::array({2, 0, 0})},
           {"time_budget_s", -5}, {"adam_eps", 0}, {"device", "gpu0"}}) {
    nlohmann::json j = NerfConfig().ToJson();
    j[key] = value;
    try {
      NerfConfig::FromJson(j, "cfg");
      ADD_FAILURE() << key << "=" << value.dump() << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  // Configs built in code are checked when a run is built from them.
  NerfConfig bad = SmallConfig(5);
  bad.grid_update_every = 0;
  EXPECT_THROW(NerfMethod{bad}, Error);
}

}  // namespace
}  // namespace nerfedit
