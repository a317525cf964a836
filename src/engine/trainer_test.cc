// The Trainer on a method small enough to check exactly: fit y = a x + b to fixed points with two optimizers (Adam on
// a, SGD on b), so checkpoints must carry two optimizer states and resuming must reproduce the uninterrupted run.
#include "engine/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "engine/ray_data_manager.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

struct LineConfig {
  double lr_a = 0.05, lr_b = 0.05;
  bool poison_at_step_5 = false;  // the loss becomes NaN at step 5
  TrainerConfig trainer;

  nlohmann::json ToJson() const {
    nlohmann::json j = {{"lr_a", lr_a}, {"lr_b", lr_b}, {"poison_at_step_5", poison_at_step_5}};
    trainer.Write(&j);
    return j;
  }
};

class LineMethod : public Method {
 public:
  explicit LineMethod(LineConfig config) : config_(config) {
    a_ = torch::zeros({1}, torch::requires_grad());
    b_ = torch::zeros({1}, torch::requires_grad());
    adam_ = std::make_unique<torch::optim::Adam>(std::vector<at::Tensor>{a_}, torch::optim::AdamOptions(1));
    sgd_ = std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{b_}, torch::optim::SGDOptions(1).momentum(0.9));
    x_ = torch::linspace(-1, 1, 16);
    y_ = 2 * x_ - 0.5;
  }
  std::string Name() const override { return "line"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const TrainerConfig& trainer_config() const override { return config_.trainer; }
  std::vector<OptimizerSlot> Optimizers() override {
    return {{"a", adam_.get(), {config_.lr_a, 0.5, 2}}, {"b", sgd_.get(), {config_.lr_b, 1.0, 0}}};
  }
  void SetTraining(bool training) override { training_calls_ += training; }
  StepResult Step(const StepContext& context) override {
    last_lr_a_ = adam_->param_groups()[0].options().get_lr();
    auto loss = (a_ * x_ + b_ - y_).pow(2).mean();
    if (config_.poison_at_step_5 && context.step == 5) loss = loss * std::nan("");
    adam_->zero_grad();
    sgd_->zero_grad();
    loss.backward();
    context.CheckFinite(loss.item<double>(), "(line)");
    context.ReduceGradients({a_, b_});
    adam_->step();
    sgd_->step();
    return {loss.item<double>(), true, ""};
  }
  Evaluation Evaluate(const EvalRequest& request) override {
    ++evaluations_;
    Evaluation e;
    e.valid = true;
    const double error = std::abs(a_.item<double>() - 2) + std::abs(b_.item<double>() + 0.5);
    e.curve_point = {{"error", error}};
    e.report = {{"error", error}, {"final", request.final}};
    e.summary = {{"error", error}};
    e.headline = "error " + std::to_string(error);
    return e;
  }
  void SaveState(torch::serialize::OutputArchive& archive) override {
    archive.write("a", a_);
    archive.write("b", b_);
  }
  void LoadState(torch::serialize::InputArchive& archive) override {
    torch::NoGradGuard no_grad;
    at::Tensor a, b;
    archive.read("a", a);
    archive.read("b", b);
    a_.copy_(a);
    b_.copy_(b);
  }

  at::Tensor a_, b_;
  double last_lr_a_ = 0;
  int evaluations_ = 0, training_calls_ = 0;

 private:
  LineConfig config_;
  std::unique_ptr<torch::optim::Adam> adam_;
  std::unique_ptr<torch::optim::SGD> sgd_;
  at::Tensor x_, y_;
};

LineConfig Config(int64_t steps) {
  LineConfig c;
  c.trainer.steps = steps;
  c.trainer.eval_every = 10;
  c.trainer.checkpoint_every = 0;
  return c;
}

std::unique_ptr<Trainer> Start(const std::string& dir, LineConfig config) {
  return StartRun(dir, [&] { return std::make_unique<LineMethod>(config); }, {true, false});
}

LineMethod& Line(Trainer& t) { return static_cast<LineMethod&>(t.method()); }

TEST(Trainer, TrainsWritesTheRunFolderAndFollowsTheSchedule) {
  testing::TempDir dir;
  auto trainer = Start(dir / "run", Config(300));
  TrainResult result = trainer->Train();
  EXPECT_EQ(trainer->progress().step, 300);
  EXPECT_LT(result.summary["error"].get<double>(), 0.05);  // converged: a = 2, b = -0.5
  EXPECT_EQ(result.summary["steps"].get<int64_t>(), 300);
  EXPECT_GT(result.summary["train_s"].get<double>(), 0);
  for (const char* f : {"run.json", "checkpoint.pt", "curve.json", "eval.json", "train.json"}) {
    EXPECT_TRUE(fs::exists(dir / "run/" + std::string(f))) << f;
  }
  // Evaluations every 10 steps (not at the last step, which gets the final one): 29 + 1 curve points.
  const auto curve = ReadJsonFile(dir / "run/curve.json");
  EXPECT_EQ(curve.size(), 30u);
  EXPECT_EQ(curve[0]["step"], 10);
  EXPECT_TRUE(ReadJsonFile(dir / "run/eval.json")["final"].get<bool>());
  const RunHeader header = ReadRunJson(dir / "run");
  EXPECT_EQ(header.method, "line");
  EXPECT_EQ(header.config["steps"], 300);
  // The schedule reached its final factor: lr_a * 0.5 at the end.
  EXPECT_NEAR(Line(*trainer).last_lr_a_, 0.05 * std::pow(0.5, 299.0 / 300), 1e-6);
}

TEST(Trainer, ResumeContinuesWithANewLimit) {
  testing::TempDir dir;
  auto first = Start(dir / "run", Config(20));
  first->Train();
  auto resumed = ResumeRun(dir / "run", [] { return std::make_unique<LineMethod>(Config(300)); }, {true, false});
  EXPECT_EQ(resumed->progress().step, 20);
  TrainResult result = resumed->Train();
  EXPECT_EQ(resumed->progress().step, 300);
  EXPECT_LT(result.summary["error"].get<double>(), 0.05);
  EXPECT_EQ(ReadRunJson(dir / "run").config["steps"], 300);  // run.json records the new limit
  EXPECT_EQ(ReadJsonFile(dir / "run/curve.json")[0]["step"], 10);  // the curve of the first part is kept
}

TEST(Trainer, ResumeAfterACrashReproducesTheUninterruptedRunExactly) {
  testing::TempDir dir;
  LineConfig c = Config(30);
  c.trainer.checkpoint_every = 15;
  auto straight = Start(dir / "straight", c);
  straight->Train();
  // The same run crashing at step 20, after its checkpoint at 15: resuming must restore both optimizers' states
  // (Adam's moments, SGD's momentum) and give bit-identical weights.
  auto crashing = Start(dir / "crash", c);
  Trainer* raw = crashing.get();
  crashing->SetGradientReducer([raw](const std::vector<at::Tensor>&) {
    if (raw->progress().step == 20) throw Error("simulated crash");
  });
  EXPECT_THROW(crashing->Train(), Error);
  ASSERT_TRUE(fs::exists(dir / "crash/checkpoint.pt"));  // written at step 15 and kept
  auto resumed = ResumeRun(dir / "crash", [&] { return std::make_unique<LineMethod>(c); }, {true, false});
  EXPECT_EQ(resumed->progress().step, 15);
  resumed->Train();
  EXPECT_EQ(Line(*resumed).a_.item<float>(), Line(*straight).a_.item<float>());
  EXPECT_EQ(Line(*resumed).b_.item<float>(), Line(*straight).b_.item<float>());
}

TEST(Trainer, NanLossStopsClearlyAndANewRunLeavesNothing) {
  testing::TempDir dir;
  LineConfig c = Config(10);
  c.poison_at_step_5 = true;
  auto trainer = Start(dir / "run", c);
  try {
    trainer->Train();
    FAIL() << "NaN loss not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("step 5"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "run"));  // no checkpoint yet: no half-made run folder
}

TEST(Trainer, TimeBudgetStopsTheRun) {
  testing::TempDir dir;
  LineConfig c = Config(100000000);
  c.trainer.time_budget_s = 0.2;
  c.trainer.eval_every = 0;
  auto trainer = Start(dir / "run", c);
  trainer->Train();
  EXPECT_LT(trainer->progress().step, 100000000);
  EXPECT_GE(trainer->progress().train_seconds, 0.2);
  EXPECT_LT(trainer->progress().train_seconds, 2.0);
  EXPECT_EQ(Line(*trainer).evaluations_, 1);  // only the final one
}

TEST(Trainer, GradientReducerSeesEveryStep) {
  testing::TempDir dir;
  auto trainer = Start(dir / "run", Config(12));
  int calls = 0;
  trainer->SetGradientReducer([&](const std::vector<at::Tensor>& parameters) {
    ++calls;
    ASSERT_EQ(parameters.size(), 2u);
    EXPECT_TRUE(parameters[0].grad().defined());
  });
  trainer->Train();
  EXPECT_EQ(calls, 12);
}

TEST(Trainer, RunFoldersAreProtected) {
  testing::TempDir dir;
  Start(dir / "run", Config(3))->Train();
  EXPECT_THROW(Start(dir / "run", Config(3)), Error);  // an existing, non-empty folder is never overwritten
  // A method that fails to build (bad data, missing teacher) leaves no folder.
  EXPECT_THROW(StartRun(dir / "bad", []() -> std::unique_ptr<Method> { throw Error("no data"); }), Error);
  EXPECT_FALSE(fs::exists(dir / "bad"));
  // A checkpoint of another method, another version, or a truncated one is refused naming the file.
  fs::copy(dir / "run", dir / "trunc", fs::copy_options::recursive);
  fs::resize_file(dir / "trunc/checkpoint.pt", 100);
  try {
    ResumeRun(dir / "trunc", [] { return std::make_unique<LineMethod>(Config(5)); });
    FAIL() << "truncated checkpoint accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.pt"), std::string::npos) << e.what();
  }
  torch::serialize::InputArchive archive;
  EXPECT_THROW(OpenCheckpoint(dir / "run/checkpoint.pt", "nerf", &archive), Error);
  auto info = ReadJsonFile(dir / "run/run.json");
  info["format_version"] = 1;
  WriteTextAtomically(dir / "run/run.json", info.dump());
  EXPECT_THROW(ReadRunJson(dir / "run"), Error);
  EXPECT_THROW(ReadRunJson(dir / "missing"), Error);
}

TEST(TrainerConfig, ChecksRanges) {
  TrainerConfig c;
  EXPECT_NO_THROW(c.Check("t"));
  for (auto bad : {nlohmann::json{{"steps", 0}}, nlohmann::json{{"time_budget_s", -1}},
                   nlohmann::json{{"eval_every", -5}}, nlohmann::json{{"device", "tpu"}}}) {
    TrainerConfig t;
    JsonReader r(bad, "t");
    t.Read(r);
    EXPECT_THROW(t.Check("t"), Error) << bad.dump();
  }
  LrSchedule s{1.0, 0.1, 10};
  EXPECT_NEAR(s.At(0, 0), 0.1, 1e-12);
  EXPECT_NEAR(s.At(10, 0.5), std::sqrt(0.1), 1e-12);
  EXPECT_NEAR(s.At(1000, 1.0), 0.1, 1e-12);
  EXPECT_THROW((LrSchedule{0, 1, 0}.Check("s")), Error);
  EXPECT_THROW((LrSchedule{1, 2, 0}.Check("s")), Error);
}

TEST(RayDataManager, BatchesMatchTheirPixelsAndShards) {
  Dataset d;
  const int64_t n = 3, h = 4, w = 5;
  d.images = torch::rand({n, h, w, 3});
  for (int64_t i = 0; i < n; ++i) {
    d.cameras.push_back(Camera::LookAt({0.f, -3.f, 0.f}, {0.f, 0.f, 0.f}, {0.f, 0.f, 1.f}, w, h, 0.8));
  }
  RayDataManager data(d, {1, 1, 1}, true, torch::kCPU);
  PixelBatch b = data.SampleFrom(64, 1, 2);
  EXPECT_TRUE((b.camera == 1).all().item<bool>());
  for (int64_t r = 0; r < 64; ++r) {
    const int64_t x = static_cast<int64_t>(b.xy[r][0].item<float>()), y = static_cast<int64_t>(b.xy[r][1].item<float>());
    EXPECT_TRUE(torch::equal(b.target[r], d.images[1][y][x]));
  }
  EXPECT_EQ(b.background.dim(), 1);  // no alpha: the configured background, not random ones
  EXPECT_THROW(data.SampleFrom(8, 2, 5), Error);

  // 2 x 2 rays per pixel: each inside its own quarter of the pixel; the target stays one colour per pixel.
  RayDataManager quad(d, {1, 1, 1}, true, torch::kCPU, 2);
  PixelBatch q = quad.Sample(16);
  ASSERT_EQ(q.rays.size(), 64);
  ASSERT_EQ(q.target.size(0), 16);
  for (int64_t p = 0; p < 16; ++p) {
    const int64_t i = q.index[p].item<int64_t>() % (h * w);
    const float x0 = i % w, y0 = i / w;
    for (int64_t k = 0; k < 4; ++k) {
      const float dx = q.xy[4 * p + k][0].item<float>() - x0, dy = q.xy[4 * p + k][1].item<float>() - y0;
      EXPECT_TRUE(dx >= 0.5f * (k % 2) && dx < 0.5f * (k % 2) + 0.5f && dy >= 0.5f * (k / 2) && dy < 0.5f * (k / 2) + 0.5f)
          << "ray " << k << " of pixel " << p << " at " << dx << "," << dy;
    }
  }
  EXPECT_TRUE(torch::allclose(q.PixelMean(torch::arange(64, torch::kFloat).unsqueeze(1)).squeeze(1),
                              torch::arange(16, torch::kFloat) * 4 + 1.5f));
}

}  // namespace
}  // namespace nerfedit
