// The loop every method runs on: step and time limits, learning-rate schedules, a progress bar that counts what
// it shows (seconds under a time budget, steps otherwise), periodic held-out evaluation, atomic checkpoints and
// --resume (every optimizer's state), a checkpoint on Ctrl-C, a clear stop on a NaN loss, curve.json / eval.json and
// the `summary:` figures, and a hook for data-parallel gradient reduction.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "engine/method.h"
#include "engine/run_folder.h"

namespace nerfedit {

struct TrainerOptions {
  bool quiet = false;             // no progress bar, no log lines
  bool save_eval_images = true;   // the final evaluation writes its images into RUN/eval/
  // Data-parallel training: this process's rank and the collectives (engine/distributed.h). Rank 0 alone writes the
  // run (run.json, checkpoints, curve, evaluation); the other ranks train silently and write nothing.
  DataParallel parallel;
};

struct TrainResult {
  Evaluation evaluation;   // the final evaluation (valid = false without held-out data)
  nlohmann::json summary;  // the evaluation's summary figures + train_s, steps, peak_mb (also RUN/train.json)
};

class Trainer {
 public:
  // run_dir holds the run's run.json (StartRun / ResumeRun make trainers).
  Trainer(std::unique_ptr<Method> method, std::string run_dir, TrainerOptions options = {});

  // Restores the method, its optimizers and the progress from RUN/checkpoint.pt.
  void LoadCheckpoint();
  // Runs until the step limit or the time budget (or Ctrl-C); writes checkpoints, curve.json, eval.json and
  // train.json. On an error before the first checkpoint of a new run, removes the run folder.
  TrainResult Train();

  // Data-parallel training: called by the method (StepContext::ReduceGradients) between backward and step. Set
  // from options.parallel's collective when there is one (averaging over the ranks); tests set their own.
  void SetGradientReducer(GradientReducer reducer) { reducer_ = std::move(reducer); }
  // A folder removed with the trainer: where a rank other than 0 builds its method (caches it must not put into
  // rank 0's run folder).
  void RemoveOnExit(std::string scratch_dir) { scratch_dir_ = std::move(scratch_dir); }
  ~Trainer();

  Method& method() { return *method_; }
  const std::string& run_dir() const { return run_dir_; }
  const TrainingProgress& progress() const { return progress_; }

 private:
  double Progress() const;
  void Save();
  void RecordEval(const Evaluation& evaluation);
  bool Done() const;
  bool Writes() const { return options_.parallel.rank == 0; }
  // Data-parallel: every rank must take the same decisions (stop, evaluate, checkpoint): the step's time is the
  // slowest rank's and an interrupt on any rank stops all.
  void AgreeOnProgress(double step_seconds);
  // Data-parallel: throws when the ranks' replicated state (Method::ReplicatedState) differs.
  void CheckRanksAgree();

  std::unique_ptr<Method> method_;
  std::string run_dir_;
  TrainerOptions options_;
  TrainingProgress progress_;
  GradientReducer reducer_;
  std::string scratch_dir_;
};

// A new run in run_dir (which must not exist or be empty): `build` constructs the method (data loading may write
// caches into the folder); run.json is written when it succeeds, and the folder is removed when it throws.
std::unique_ptr<Trainer> StartRun(const std::string& run_dir, const std::function<std::unique_ptr<Method>()>& build,
                                  TrainerOptions options = {});
// Continues run_dir: `build` constructs the method from the stored config (with the caller's overrides), then its
// state is restored from the checkpoint; run.json is rewritten with the new config.
std::unique_ptr<Trainer> ResumeRun(const std::string& run_dir, const std::function<std::unique_ptr<Method>()>& build,
                                   TrainerOptions options = {});

// Merges overrides into a stored config (top-level keys replace).
nlohmann::json MergeConfig(nlohmann::json base, const nlohmann::json& overrides);

}  // namespace nerfedit
