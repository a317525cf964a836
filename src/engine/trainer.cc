#include "engine/trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/progress_bar.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {
std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted = true; }

// Restores the previous SIGINT handler when training ends, however it ends.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = false;
    previous_ = std::signal(SIGINT, OnInterrupt);
  }
  ~InterruptGuard() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = nullptr;
};
}  // namespace

void StepContext::ReduceGradients(const std::vector<at::Tensor>& parameters) const {
  if (reducer != nullptr && *reducer) (*reducer)(parameters);
}

void StepContext::CheckFinite(double loss, const std::string& what) const {
  NE_CHECK(std::isfinite(loss), "training loss ", what, " became NaN/inf (", loss, ") at step ", step,
           ": stopping; the last checkpoint is intact (try a lower learning rate)");
}

Trainer::Trainer(std::unique_ptr<Method> method, std::string run_dir, TrainerOptions options)
    : method_(std::move(method)), run_dir_(std::move(run_dir)), options_(options) {}

void Trainer::LoadCheckpoint() {
  progress_ = nerfedit::LoadCheckpoint(run_dir_ + "/checkpoint.pt", *method_, method_->Optimizers());
}

double Trainer::Progress() const {
  const TrainerConfig& c = method_->trainer_config();
  double p = static_cast<double>(progress_.step) / c.steps;
  if (c.time_budget_s > 0) p = std::max(p, progress_.train_seconds / c.time_budget_s);
  return std::min(p, 1.0);
}

bool Trainer::Done() const {
  const TrainerConfig& c = method_->trainer_config();
  return progress_.step >= c.steps || (c.time_budget_s > 0 && progress_.train_seconds >= c.time_budget_s) ||
         g_interrupted;
}

void Trainer::Save() { WriteCheckpoint(run_dir_ + "/checkpoint.pt", *method_, method_->Optimizers(), progress_); }

void Trainer::RecordEval(const Evaluation& evaluation) {
  nlohmann::json point = {{"step", progress_.step}, {"train_s", progress_.train_seconds}};
  for (auto& [k, v] : evaluation.curve_point.items()) point[k] = v;
  progress_.curve.push_back(point);
}

TrainResult Trainer::Train() {
  const TrainerConfig& config = method_->trainer_config();
  const std::string checkpoint = run_dir_ + "/checkpoint.pt";
  InterruptGuard interrupt_guard;
  // The bar counts what limits the run: seconds under a time budget, steps otherwise.
  const bool timed = config.time_budget_s > 0;
  std::unique_ptr<ProgressBar> bar;
  if (!options_.quiet) {
    bar = timed ? std::make_unique<ProgressBar>("train", static_cast<int64_t>(std::ceil(config.time_budget_s)), "s")
                : std::make_unique<ProgressBar>("train", config.steps, "steps");
  }
  double smoothed = -1;
  try {
    method_->SetTraining(true);
    while (!Done()) {
      const double t0 = NowSeconds();
      StepContext context{progress_.step, Progress(), &reducer_};
      std::vector<OptimizerSlot> slots = method_->Optimizers();
      for (auto& slot : slots) SetLearningRate(*slot.optimizer, slot.schedule.At(progress_.step, context.progress));
      const StepResult result = method_->Step(context);
      context.CheckFinite(result.loss, "");
      ++progress_.step;
      progress_.train_seconds += NowSeconds() - t0;
      smoothed = smoothed < 0 ? result.loss : 0.95 * smoothed + 0.05 * result.loss;
      const bool last = Done();
      if (config.eval_every > 0 && progress_.step % config.eval_every == 0 && !last) {
        method_->SetTraining(false);
        Evaluation evaluation = method_->Evaluate({config.eval_views, /*final=*/false, ""});
        method_->SetTraining(true);
        if (evaluation.valid) {
          RecordEval(evaluation);
          if (!options_.quiet) {
            std::fprintf(stderr, "%s  step %lld  %.1fs  %s\n", bar ? "\n" : "", static_cast<long long>(progress_.step),
                         progress_.train_seconds, evaluation.headline.c_str());
          }
        }
      }
      if (config.checkpoint_every > 0 && progress_.step % config.checkpoint_every == 0) Save();
      if (bar) {
        char metrics[160];
        if (result.loss_is_mse) {
          std::snprintf(metrics, sizeof(metrics), "loss %.5f  psnr %.2f", smoothed,
                        -10 * std::log10(std::max(smoothed, 1e-10)));
        } else {
          std::snprintf(metrics, sizeof(metrics), "loss %.5f", smoothed);
        }
        std::string text = metrics;
        text += timed ? "  step " + std::to_string(progress_.step) : "";
        if (!result.status.empty()) text += "  " + result.status;
        bar->Update(timed ? static_cast<int64_t>(progress_.train_seconds) : progress_.step, text);
      }
    }
  } catch (...) {
    if (!fs::exists(checkpoint)) {
      std::error_code ignored;
      fs::remove_all(run_dir_, ignored);  // nothing worth keeping: leave no partial run behind
    }
    throw;
  }
  if (bar) bar->Finish();
  Save();
  if (g_interrupted && !options_.quiet) {
    std::fprintf(stderr, "interrupted: checkpoint saved at step %lld; continue with --resume %s\n",
                 static_cast<long long>(progress_.step), run_dir_.c_str());
  }
  TrainResult result;
  method_->SetTraining(false);
  EvalRequest request{0, /*final=*/true, options_.save_eval_images ? run_dir_ + "/eval" : ""};
  result.evaluation = method_->Evaluate(request);
  if (result.evaluation.valid) {
    RecordEval(result.evaluation);
    Save();
    WriteTextAtomically(run_dir_ + "/eval.json", result.evaluation.report.dump(1));
  }
  WriteTextAtomically(run_dir_ + "/curve.json", progress_.curve.dump(1));
  result.summary = result.evaluation.summary;
  result.summary["train_s"] = progress_.train_seconds;
  result.summary["steps"] = progress_.step;
  result.summary["peak_mb"] = PeakMemoryMb();
  WriteTextAtomically(run_dir_ + "/train.json", result.summary.dump(1));
  return result;
}

std::unique_ptr<Trainer> StartRun(const std::string& run_dir, const std::function<std::unique_ptr<Method>()>& build,
                                  TrainerOptions options) {
  NE_CHECK(!run_dir.empty(), "no run folder given (--out RUN)");
  NE_CHECK(!fs::exists(run_dir) || (fs::is_directory(run_dir) && fs::is_empty(run_dir)), "run folder ", run_dir,
           " already exists and is not empty: choose another --out, or continue it with --resume");
  fs::create_directories(run_dir);
  try {
    std::unique_ptr<Method> method = build();
    WriteRunJson(run_dir, method->Name(), method->ConfigJson(), method->RunExtras());
    return std::make_unique<Trainer>(std::move(method), run_dir, options);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(run_dir, ignored);  // a method that failed to build (bad data, missing teacher) leaves nothing
    throw;
  }
}

std::unique_ptr<Trainer> ResumeRun(const std::string& run_dir, const std::function<std::unique_ptr<Method>()>& build,
                                   TrainerOptions options) {
  NE_CHECK(fs::exists(run_dir + "/checkpoint.pt"), run_dir, " has no checkpoint.pt to resume from");
  auto trainer = std::make_unique<Trainer>(build(), run_dir, options);
  trainer->LoadCheckpoint();
  Method& method = trainer->method();
  WriteRunJson(run_dir, method.Name(), method.ConfigJson(), method.RunExtras());
  return trainer;
}

nlohmann::json MergeConfig(nlohmann::json base, const nlohmann::json& overrides) {
  for (auto& [k, v] : overrides.items()) base[k] = v;
  return base;
}

}  // namespace nerfedit
