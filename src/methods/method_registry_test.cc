// Adding a method: the smallest complete one — a config with strict JSON and Check(), a model (one learnable colour),
// a training step, an evaluation, a checkpoint record and a Renderable — registered with one call, then trained,
// resumed and rendered through the same generic entry points the CLI uses (StartTraining, ResumeTraining,
// LoadRenderableRun). A real method puts these pieces in methods/<name>/ and its entry in method_registry.cc.
#include "methods/method_registry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

struct ColourConfig {
  std::vector<float> target{0.8f, 0.3f, 0.1f};  // the colour the noisy observations scatter around
  double noise = 0.1;
  double lr = 0.05;
  TrainerConfig trainer;

  nlohmann::json ToJson() const {
    nlohmann::json j = {{"target", target}, {"noise", noise}, {"lr", lr}};
    trainer.Write(&j);
    return j;
  }
  static ColourConfig FromJson(const nlohmann::json& j) {
    ColourConfig c;
    JsonReader r(j, "colour config");
    r.Optional("target", &c.target).Optional("noise", &c.noise).Optional("lr", &c.lr);
    c.trainer.Read(r);
    r.Finish();
    c.trainer.Check("colour config");
    NE_CHECK(c.target.size() == 3, "colour config: target needs 3 values");
    NE_CHECK(c.noise >= 0, "colour config: noise must be >= 0, got ", c.noise);
    return c;
  }
};

// Renders every pixel in the learnt colour.
class ColourScene : public Renderable {
 public:
  explicit ColourScene(at::Tensor colour) : colour_(std::move(colour)) {}
  RenderedView Render(const Camera& camera) override {
    RenderedView v;
    v.rgb = colour_.view({1, 1, 3}).expand({camera.height, camera.width, 3}).clone();
    v.depth = torch::zeros({camera.height, camera.width});
    v.opacity = torch::ones({camera.height, camera.width});
    return v;
  }
  std::vector<Camera> TrainingCameras() const override { return {}; }
  at::Tensor Aabb() const override { return torch::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).view({2, 3}); }

 private:
  at::Tensor colour_;
};

class ColourMethod : public Method {
 public:
  explicit ColourMethod(ColourConfig config) : config_(std::move(config)) {
    torch::manual_seed(config_.trainer.seed);
    colour_ = torch::full({3}, 0.5f).requires_grad_();
    adam_ = std::make_unique<torch::optim::Adam>(std::vector<at::Tensor>{colour_}, torch::optim::AdamOptions(1));
  }
  std::string Name() const override { return "colour"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const TrainerConfig& trainer_config() const override { return config_.trainer; }
  std::vector<OptimizerSlot> Optimizers() override { return {{"colour", adam_.get(), {config_.lr, 0.1, 0}}}; }
  void SetTraining(bool) override {}
  StepResult Step(const StepContext& context) override {
    auto observations = torch::tensor(config_.target) + config_.noise * torch::randn({64, 3});
    auto loss = (colour_ - observations).pow(2).mean();
    adam_->zero_grad();
    loss.backward();
    context.CheckFinite(loss.item<double>(), "");
    context.ReduceGradients({colour_});
    adam_->step();
    return {loss.item<double>(), true, ""};
  }
  Evaluation Evaluate(const EvalRequest&) override {
    Evaluation e;
    e.valid = true;
    const double error = (colour_ - torch::tensor(config_.target)).abs().max().item<double>();
    e.curve_point = {{"error", error}};
    e.report = {{"error", error}};
    e.summary = {{"error", error}};
    return e;
  }
  void SaveState(torch::serialize::OutputArchive& archive) override { archive.write("colour", colour_); }
  void LoadState(torch::serialize::InputArchive& archive) override {
    torch::NoGradGuard no_grad;
    at::Tensor c;
    archive.read("colour", c);
    colour_.copy_(c);
  }

 private:
  ColourConfig config_;
  at::Tensor colour_;
  std::unique_ptr<torch::optim::Adam> adam_;
};

// The colour record of a run's checkpoint, for rendering.
std::shared_ptr<Renderable> LoadColourRun(const std::string& run_dir, const std::string&) {
  torch::serialize::InputArchive checkpoint, model;
  OpenCheckpoint(run_dir + "/checkpoint.pt", "colour", &checkpoint);
  ReadModelRecord(checkpoint, run_dir + "/checkpoint.pt", &model);
  at::Tensor colour;
  model.read("colour", colour);
  return std::make_shared<ColourScene>(colour.detach());
}

void RegisterColourOnce() {
  static bool done = [] {
    MethodEntry e;
    e.name = "colour";
    e.summary = "fit one colour to noisy observations (the example method)";
    e.defaults = [](const nlohmann::json&) { return ColourConfig().ToJson(); };
    e.create = [](const nlohmann::json& config, const std::string&, const TrainerOptions&) {
      return std::make_unique<ColourMethod>(ColourConfig::FromJson(config));
    };
    e.load = LoadColourRun;
    RegisterMethod(e);  // the one registry line
    return true;
  }();
  (void)done;
}

TEST(MethodRegistry, AnExampleMethodTrainsResumesAndRendersThroughTheGenericPaths) {
  RegisterColourOnce();
  testing::TempDir dir;
  const std::string run = dir / "run";
  auto trainer = StartTraining("colour", {{"steps", 50}, {"eval_every", 0}}, run, {true, false});
  trainer->Train();
  EXPECT_EQ(ReadRunJson(run).method, "colour");
  auto resumed = ResumeTraining(run, {{"steps", 400}}, {true, false});
  EXPECT_EQ(resumed->progress().step, 50);
  const TrainResult result = resumed->Train();
  EXPECT_LT(result.summary["error"].get<double>(), 0.05);  // started 0.3 away from the target
  const RenderedView view = LoadRenderableRun(run, "cpu")->Render(Camera{4, 2, 1, 1, 2, 1, torch::eye(4)});
  EXPECT_NEAR(view.rgb[1][3][0].item<float>(), 0.8f, 0.05f);
  // A method's runs that are no radiance-field scene cannot be selected in or edited.
  EXPECT_THROW(LoadSceneRun(run, "cpu"), Error);
  // Unknown keys and unknown methods are errors that name them.
  try {
    StartTraining("colour", {{"nosie", 1}}, dir / "bad");
    FAIL() << "unknown key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nosie"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "bad"));
  EXPECT_THROW(FindMethod("colur"), Error);
  MethodEntry again = FindMethod("colour");
  EXPECT_THROW(RegisterMethod(again), Error) << "a name registered twice";
}

TEST(MethodRegistry, KnowsTheBuiltInMethods) {
  for (const char* name : {"nerf", "dff"}) {
    const MethodEntry& m = FindMethod(name);
    EXPECT_TRUE(m.create && m.load && m.load_scene && m.defaults) << name;
  }
  // Defaults round-trip through the methods' strict readers: the defaults contain no unknown keys.
  EXPECT_EQ(FindMethod("nerf").defaults({{"field", "mlp"}})["lr"], 5e-4);
  EXPECT_EQ(FindMethod("dff").defaults({})["field"], "feature_field");
}

}  // namespace
}  // namespace nerfedit
