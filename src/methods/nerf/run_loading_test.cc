// Loading damaged, mismatched and cyclic run folders: every input the run-folder fuzz targets found
// (fuzz/regressions/{checkpoint,run_json}/*), read as those targets read them, and the failures found by reading the
// loaders. Each must end in one nerfedit::Error naming the problem: no crash, no raw LibTorch exception.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "data/procedural_scene.h"
#include "edit/edit_list.h"
#include "engine/run_folder.h"
#include "engine/trainer.h"
#include "fuzz/fuzz_run.h"  // TinyNerfConfig: the fuzz targets' run, so their inputs reproduce here
#include "methods/nerf/nerf_method.h"
#include "methods/nerf/nerf_run.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

// The fuzz targets' tiny run (fuzz/fuzz_run.h), made once per process.
struct TinyRunFixture {
  testing::TempDir dir;
  std::string run;
  NerfConfig config;
  TinyRunFixture() {
    WriteProceduralDataset(DefaultScene(), ProceduralDatasetOptions().num_views(3).width(8).height(8).supersample(1),
                           dir / "scene");
    config = fuzz::TinyNerfConfig(dir / "scene");
    run = dir / "run";
    TrainerOptions options;
    options.quiet = true;
    options.save_eval_images = false;
    StartRun(
        run, [&] { return std::make_unique<NerfMethod>(config); }, options)
        ->Train();
  }
};

const TinyRunFixture& TinyRun() {
  static TinyRunFixture fixture;
  return fixture;
}

// A copy of the tiny run in `to`.
std::string CopyRun(const std::string& to) {
  fs::create_directories(to);
  for (const char* file : {"run.json", "checkpoint.pt"}) fs::copy_file(TinyRun().run + "/" + file, to + "/" + file);
  return to;
}

std::string Refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

// The message each regression's refusal must contain (what the fix guards).
const std::map<std::string, std::string> kExpected = {
    // torch::jit::ErrorReport (not a c10::Error) escaped OpenCheckpoint; now the damage is caught before LibTorch.
    {"checkpoint/torchscript_type_error.pt", "does not match the size and CRC32"},
    // LibTorch 1.13's TorchScript importer SEGV (ScriptTypeParser::parseClassConstant) on these bytes once their
    // CRCs are made consistent; as damage they never reach it.
    {"checkpoint/libtorch_segv_when_crafted.pt", "does not match the size and CRC32"},
    // Sparse Adam state with a row updated after the saved step: negative index into the decay table (UBSan).
    {"checkpoint/sparse_adam_future_row.pt", "outside [0,"},
    // nlohmann's static_cast of 1e30 to int64 (UBSan float-cast-overflow) in every strict config reader.
    {"run_json/seed_1e30.json", "\"seed\" must be a whole number"},
    // near passed Check() and made clamp_min throw a raw c10 error when rendering.
    {"run_json/near_1e300.json", "near must be in [0, 1e6]"},
    // Camera::FromJson's get<int64_t> of 1e300 (UBSan float-cast-overflow).
    {"run_json/camera_width_1e300.json", "camera \"w\" must be a whole number of pixels"},
};

TEST(RunLoading, EveryFuzzFoundInputIsRefusedClearly) {
  const fs::path root = fs::path(NERFEDIT_SOURCE_DIR) / "fuzz" / "regressions";
  int files = 0;
  for (const char* target : {"checkpoint", "run_json"}) {
    if (!fs::is_directory(root / target)) continue;
    for (const auto& input : fs::directory_iterator(root / target)) {
      const std::string name = std::string(target) + "/" + input.path().filename().string();
      SCOPED_TRACE(name);
      const auto expected = kExpected.find(name);
      ASSERT_NE(expected, kExpected.end()) << "add the message its refusal must contain to kExpected";
      testing::TempDir dir;
      const std::string run = CopyRun(dir / "run");
      const std::string file = std::string(target) == "checkpoint" ? "/checkpoint.pt" : "/run.json";
      fs::copy_file(input.path(), run + file, fs::copy_options::overwrite_existing);
      // As checkpoint_fuzz / run_json_fuzz read it: to render, and to resume.
      const std::string render = Refusal([&] {
        auto model = LoadNerfRun(run, "cpu");
        model->Render(model->TrainingCameras().front());
      });
      const std::string resume = Refusal([&] {
        NerfMethod method(TinyRun().config);
        LoadCheckpoint(run + "/checkpoint.pt", method, method.Optimizers());
        method.SetTraining(true);
        method.Step(StepContext{});
      });
      const std::string seen = render + " | " + resume;
      EXPECT_NE(seen.find(expected->second), std::string::npos) << seen;
      EXPECT_EQ(seen.find("(accepted) | (accepted)"), std::string::npos) << seen;
      ++files;
    }
  }
  EXPECT_EQ(files, static_cast<int>(kExpected.size()));
}

TEST(RunLoading, CheckpointOfAnotherFieldConfigurationIsRefused) {
  // run.json edited after training: the hash tables it builds (2^7 rows a level) are not the checkpoint's (2^6).
  // torch's Module::load would swap the smaller tables in, and the encoding kernel index past their end.
  testing::TempDir dir;
  const std::string run = CopyRun(dir / "run");
  nlohmann::json info = ReadJsonFile(run + "/run.json");
  info["config"]["field_config"]["encoding"]["log2_hashmap_size"] = 7;
  WriteTextAtomically(run + "/run.json", info.dump());
  const std::string refusal = Refusal([&] { LoadNerfRun(run, "cpu"); });
  EXPECT_NE(refusal.find("from another configuration"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("checkpoint.pt"), std::string::npos) << refusal;
}

TEST(RunLoading, ComposeCyclesAreRefusedNamingTheCycle) {
  testing::TempDir dir;
  const std::string a = CopyRun(dir / "a"), b = CopyRun(dir / "b");
  const nlohmann::json box_selection = {{"label", "all"},     {"kind", "feature"}, {"query", {1, 0}},
                                        {"temperature", 0.1}, {"threshold", 0.5},  {"box", {-1, -1, -1, 1, 1, 1}}};
  auto compose = [&](const std::string& run, const std::string& source) {
    EditList list;
    list.Push({{"op", "compose"},
               {"selection", box_selection},
               {"matrix", {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}},
               {"source_run", fs::absolute(source).string()}});
    list.Save(run + "/edits.json");
  };
  compose(a, a);  // a run composing itself used to recurse until the stack overflowed
  std::string refusal = Refusal([&] { LoadNerfRun(a, "cpu"); });
  EXPECT_NE(refusal.find("compose cycle"), std::string::npos) << refusal;
  compose(a, b);
  compose(b, a);  // a -> b -> a
  refusal = Refusal([&] { LoadNerfRun(a, "cpu"); });
  EXPECT_NE(refusal.find("compose cycle"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find(fs::weakly_canonical(b).string()), std::string::npos) << refusal;
  // The refusals unwound the chain of runs being loaded: the same runs load once the cycle is gone.
  fs::remove(a + "/edits.json");
  EXPECT_NO_THROW(LoadNerfRun(a, "cpu"));
  // b still composes a (no longer a cycle): it gets past the cycle guard and fails only later, at the selection, as
  // this tiny run has no feature field to select by.
  refusal = Refusal([&] { LoadNerfRun(b, "cpu"); });
  EXPECT_EQ(refusal.find("compose cycle"), std::string::npos) << refusal;
}

}  // namespace
}  // namespace nerfedit
