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

std::vector<at::Tensor> Method::ReplicatedState() {
  std::vector<at::Tensor> tensors;
  for (const auto& slot : Optimizers()) {
    for (const auto& group : slot.optimizer->param_groups()) {
      for (const auto& p : group.params()) tensors.push_back(p);
    }
  }
  return tensors;
}

void StepContext::CheckFinite(double loss, const std::string& what) const {
  NE_CHECK(std::isfinite(loss), "training loss ", what, " became NaN/inf (", loss, ") at step ", step,
           ": stopping; the last checkpoint is intact (try a lower learning rate)");
}

Trainer::Trainer(std::unique_ptr<Method> method, std::string run_dir, TrainerOptions options)
    : method_(std::move(method)), run_dir_(std::move(run_dir)), options_(options) {
  const DataParallel& parallel = options_.parallel;
  NE_CHECK(parallel.world_size >= 1 && parallel.rank >= 0 && parallel.rank < parallel.world_size, "rank ",
           parallel.rank, " is out of range for world size ", parallel.world_size);
  NE_CHECK(!parallel.active() || parallel.collective != nullptr, "a data-parallel trainer (world size ",
           parallel.world_size, ") needs the process group's collectives");
  if (parallel.active()) {
    Collective* collective = parallel.collective;
    reducer_ = [collective](const std::vector<at::Tensor>& parameters) { collective->AverageGradients(parameters); };
  }
}

Trainer::~Trainer() {
  if (!scratch_dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(scratch_dir_, ignored);
  }
}

void Trainer::AgreeOnProgress(double step_seconds) {
  if (!options_.parallel.active()) {
    progress_.train_seconds += step_seconds;
    return;
  }
  at::Tensor values = torch::tensor({step_seconds, g_interrupted ? 1.0 : 0.0}, torch::kDouble);
  options_.parallel.collective->AllReduce(values, ReduceOp::kMax);
  progress_.train_seconds += values[0].item<double>();
  if (values[1].item<double>() > 0) g_interrupted = true;
}

void Trainer::CheckRanksAgree() {
  if (!options_.parallel.active()) return;
  // An exact fingerprint of each tensor's bits: integer sums do not depend on the order (or the thread count) of
  // the reduction, so equal tensors give equal fingerprints on every rank.
  const std::vector<at::Tensor> tensors = method_->ReplicatedState();
  std::vector<int64_t> prints;
  for (const auto& tensor : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous().reshape({-1});
    if (t.scalar_type() == at::kBool) t = t.to(at::kByte);
    at::Tensor words = t.nbytes() % 4 == 0 ? t.view(at::kInt).to(at::kLong) : t.view(at::kByte).to(at::kLong);
    const at::Tensor weights = torch::arange(words.numel(), torch::kLong).remainder(1009) + 1;
    prints.push_back(words.sum().item<int64_t>());
    prints.push_back((words * weights).sum().item<int64_t>());
  }
  at::Tensor high = torch::tensor(prints, torch::kLong), low = high.clone();
  options_.parallel.collective->AllReduce(high, ReduceOp::kMax);
  options_.parallel.collective->AllReduce(low, ReduceOp::kMin);
  for (size_t i = 0; i < tensors.size(); ++i) {
    NE_CHECK(high[2 * i].item<int64_t>() == low[2 * i].item<int64_t>() &&
                 high[2 * i + 1].item<int64_t>() == low[2 * i + 1].item<int64_t>(),
             "data-parallel ranks diverged by step ", progress_.step, ": replicated tensor ", i, " of ",
             tensors.size(), " (", tensors[i].sizes(), ") differs between ranks (a method drew per-rank random "
             "numbers outside a RankRandomScope, or adapted on per-rank statistics)");
  }
}

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

void Trainer::Save() {
  if (options_.parallel.active()) {
    method_->GatherForCheckpoint();
    CheckRanksAgree();
  }
  if (Writes()) WriteCheckpoint(run_dir_ + "/checkpoint.pt", *method_, method_->Optimizers(), progress_);
}

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
  if (!options_.quiet && Writes()) {
    bar = timed ? std::make_unique<ProgressBar>("train", static_cast<int64_t>(std::ceil(config.time_budget_s)), "s")
                : std::make_unique<ProgressBar>("train", config.steps, "steps");
  }
  double smoothed = -1;
  // Evaluation runs on rank 0 alone: whatever it draws from the random generators must not move rank 0's streams
  // away from the other ranks'.
  auto evaluate = [&](const EvalRequest& request) {
    RankRandomScope keep_streams(options_.parallel, config.seed, progress_.step, ParseDevice(config.device));
    return method_->Evaluate(request);
  };
  try {
    if (options_.parallel.active()) {
      // Every rank starts from rank 0's weights (equal anyway with the same seed or checkpoint; this makes it so).
      torch::NoGradGuard no_grad;
      options_.parallel.collective->Broadcast(method_->ReplicatedState());
    }
    method_->SetTraining(true);
    while (!Done()) {
      const double t0 = NowSeconds();
      StepContext context{progress_.step, Progress(), &reducer_};
      std::vector<OptimizerSlot> slots = method_->Optimizers();
      for (auto& slot : slots) SetLearningRate(*slot.optimizer, slot.schedule.At(progress_.step, context.progress));
      const StepResult result = method_->Step(context);
      context.CheckFinite(result.loss, "");
      ++progress_.step;
      AgreeOnProgress(NowSeconds() - t0);
      smoothed = smoothed < 0 ? result.loss : 0.95 * smoothed + 0.05 * result.loss;
      const bool last = Done();
      if (config.eval_every > 0 && progress_.step % config.eval_every == 0 && !last && Writes()) {
        method_->SetTraining(false);
        Evaluation evaluation = evaluate({config.eval_views, /*final=*/false, ""});
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
  if (!Writes()) {
    TrainResult result;  // the run is rank 0's: its evaluation and summary are there
    result.summary = {{"train_s", progress_.train_seconds}, {"steps", progress_.step}};
    return result;
  }
  if (g_interrupted && !options_.quiet) {
    std::fprintf(stderr, "interrupted: checkpoint saved at step %lld; continue with --resume %s\n",
                 static_cast<long long>(progress_.step), run_dir_.c_str());
  }
  TrainResult result;
  method_->SetTraining(false);
  EvalRequest request{0, /*final=*/true, options_.save_eval_images ? run_dir_ + "/eval" : ""};
  result.evaluation = evaluate(request);
  if (result.evaluation.valid) {
    RecordEval(result.evaluation);
    WriteCheckpoint(checkpoint, *method_, method_->Optimizers(), progress_);  // rank 0 only, no collectives now
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
  NE_CHECK(fs::exists(run_dir + "/run.json"), run_dir, " is not a nerfedit run (no run.json) to resume");
  if (options.parallel.rank == 0) RemoveStaleTemporaries(run_dir);  // what a killed writer left half-written
  auto trainer = std::make_unique<Trainer>(build(), run_dir, options);
  if (fs::exists(run_dir + "/checkpoint.pt")) {
    trainer->LoadCheckpoint();
  } else if (options.parallel.rank == 0) {
    // Killed before its first checkpoint: nothing was learnt that could be lost, so the run starts over in place.
    std::fprintf(stderr, "%s has no checkpoint yet (stopped before the first): training from step 0\n",
                 run_dir.c_str());
  }
  Method& method = trainer->method();
  // Every rank loads rank 0's checkpoint; rank 0 alone writes the run.
  if (options.parallel.rank == 0) WriteRunJson(run_dir, method.Name(), method.ConfigJson(), method.RunExtras());
  return trainer;
}

nlohmann::json MergeConfig(nlohmann::json base, const nlohmann::json& overrides) {
  for (auto& [k, v] : overrides.items()) base[k] = v;
  return base;
}

}  // namespace nerfedit
