// `train` and `dff train`: one option set for both pipelines (dff adds the teacher); `--resume` continues either
// kind of run (the run folder knows which it is).
#include <torch/torch.h>

#include <cstring>

#include "app/cli_util.h"
#include "app/commands.h"
#include "methods/dff/dff_trainer.h"
#include "methods/nerf/nerf_checkpoint.h"
#include "methods/nerf/nerf_trainer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {

namespace {

int TrainCommand(int argc, char** argv, bool dff) {
  CLI::App app{dff ? "Train a Distilled Feature Field: a radiance field plus a feature head distilled from a 2D "
                     "teacher (CLIP or DINO), for selection by text, image patch or click, and local edits."
                   : "Reconstruct a scene from posed images (transforms.json: Blender / nerfstudio / instant-ngp)."};
  app.name(dff ? "nerfedit dff train" : "nerfedit train");
  std::string data, out, config_file, field = "hash_grid", sampler, device, resume, teacher, teacher_mode;
  int64_t steps = 0, batch = 0, eval_every = -1, grid_resolution = 0;
  double time_budget = -1, lr = 0, step_size = 0, feature_weight = -1;
  int downscale = 0, test_every = -1;
  bool quiet = false, feature_grad_to_density = false;
  app.add_option("--data", data, "transforms.json or a folder holding one");
  app.add_option("--out", out, "run folder to create (config, checkpoints, eval)");
  app.add_option("--resume", resume, "continue the run in this folder from its checkpoint");
  app.add_option("--config", config_file, "JSON config (keys of NerfConfig; unknown keys are errors)");
  if (!dff) {
    app.add_option("--field", field, "hash_grid (Instant-NGP) or mlp (original NeRF)")
        ->check(CLI::IsMember({"hash_grid", "mlp"}));
  } else {
    app.add_option("--teacher", teacher, "CLIP or DINO ViT folder (default: nerfedit's own small CLIP, " +
                                             DefaultTeacherDir() + ")");
    app.add_option("--teacher-mode", teacher_mode,
                   "auto (crops for the small CLIP, else dense) | dense (MaskCLIP patch embeddings) | crops (LERF-style)")
        ->check(CLI::IsMember({"auto", "dense", "crops"}));
    app.add_option("--feature-weight", feature_weight, "lambda of the feature loss");
    app.add_flag("--feature-grad-to-density", feature_grad_to_density,
                 "let the feature loss shape the density too (default: stop-gradient)");
  }
  app.add_option("--sampler", sampler, "occupancy | stratified | hierarchical");
  app.add_option("--steps", steps, "training steps");
  app.add_option("--time-budget", time_budget, "stop after this many seconds of training (0 = none)");
  app.add_option("--batch-rays", batch, "rays per step");
  app.add_option("--lr", lr, "learning rate");
  app.add_option("--step-size", step_size, "ray-marching step (occupancy sampler; 0 = auto)");
  app.add_option("--grid-resolution", grid_resolution, "occupancy grid resolution");
  app.add_option("--downscale", downscale, "downscale images by this factor");
  app.add_option("--test-every", test_every, "hold out frames whose index is a multiple of this (0 = none)");
  app.add_option("--eval-every", eval_every, "steps between held-out evaluations (0 = end only)");
  app.add_option("--device", device, "cpu | cuda | auto");
  app.add_flag("--quiet", quiet, "no progress bar");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;

  nlohmann::json overrides = nlohmann::json::object();
  if (!data.empty()) overrides["data"] = data;
  if (!sampler.empty()) overrides["sampler"] = sampler;
  if (steps > 0) overrides["steps"] = steps;
  if (time_budget >= 0) overrides["time_budget_s"] = time_budget;
  if (batch > 0) overrides["batch_rays"] = batch;
  if (lr > 0) overrides["lr"] = lr;
  if (step_size > 0) overrides["step_size"] = step_size;
  if (grid_resolution > 0) overrides["grid_resolution"] = grid_resolution;
  if (downscale > 0) overrides["downscale"] = downscale;
  if (test_every >= 0) overrides["test_every"] = test_every;
  if (eval_every >= 0) overrides["eval_every"] = eval_every;
  if (!device.empty()) overrides["device"] = device;
  if (!teacher.empty()) overrides["teacher"] = teacher;
  if (!teacher_mode.empty()) overrides["teacher_mode"] = teacher_mode;
  if (feature_weight >= 0) overrides["feature_weight"] = feature_weight;
  if (feature_grad_to_density) overrides["feature_stop_grad"] = false;

  const TrainerOptions options{quiet, true};
  std::unique_ptr<NerfTrainer> trainer;
  std::string run_dir;
  if (!resume.empty()) {
    NE_CHECK(out.empty() || out == resume, "--resume continues a run in place: drop --out (or give the same folder)");
    run_dir = resume;
    const bool is_dff = ReadRunInfo(resume).config.field == "feature_field";
    trainer = is_dff ? ResumeDffTrainer(resume, overrides, options) : NerfTrainer::Resume(resume, overrides, options);
    std::fprintf(stderr, "resuming %s at step %lld\n", resume.c_str(), static_cast<long long>(trainer->progress().step));
  } else {
    NE_CHECK(!out.empty(), "--out RUN is required (the run folder to create)");
    NE_CHECK(!data.empty() || !config_file.empty(), "--data DIR is required");
    nlohmann::json merged = NerfConfig::ForField(field).ToJson();
    if (!config_file.empty()) {
      const nlohmann::json from_file = ReadJsonFile(config_file);  // named: items() of a temporary dangles
      for (auto& [k, v] : from_file.items()) merged[k] = v;
    }
    for (auto& [k, v] : overrides.items()) merged[k] = v;
    NerfConfig config = NerfConfig::FromJson(merged, config_file.empty() ? "command line" : config_file);
    run_dir = out;
    const double t0 = NowSeconds();
    trainer = dff ? MakeDffTrainer(config, out, options) : std::make_unique<NerfTrainer>(config, out, options);
    std::fprintf(stderr, "loaded %lld training and %lld held-out views (%lldx%lld) in %.1f s; field %s, %d threads\n",
                 static_cast<long long>(trainer->train_set().size()), static_cast<long long>(trainer->test_set().size()),
                 static_cast<long long>(trainer->train_set().width()), static_cast<long long>(trainer->train_set().height()),
                 NowSeconds() - t0, trainer->config().field.c_str(), ConfigureThreads());
  }
  EvalResult result = trainer->Train();
  const auto& p = trainer->progress();
  std::printf("trained %lld steps in %.1f s; held-out PSNR %.2f dB, SSIM %.4f", static_cast<long long>(p.step),
              p.train_seconds, result.psnr, result.ssim);
  if (result.depth_mae >= 0) std::printf(", depth MAE %.4f", result.depth_mae);
  std::printf("\nrun: %s (render with `nerfedit render %s --out DIR`)\n", run_dir.c_str(), run_dir.c_str());
  // One machine-readable line (benchmarks read it) and the same figures in RUN/train.json.
  nlohmann::json summary = {{"psnr_db", result.psnr}, {"ssim", result.ssim}, {"train_s", p.train_seconds},
                            {"steps", p.step}, {"peak_mb", PeakMemoryMb()}};
  if (result.depth_mae >= 0) summary["depth_mae"] = result.depth_mae;
  WriteTextAtomically(run_dir + "/train.json", summary.dump(1));
  std::printf("summary:");
  for (auto& [k, v] : summary.items()) std::printf(" %s=%s", k.c_str(), v.dump().c_str());
  std::printf("\n");
  return 0;
}

}  // namespace

int RunTrain(int argc, char** argv) { return TrainCommand(argc, argv, /*dff=*/false); }

int RunDff(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "train") == 0) return TrainCommand(argc - 1, argv + 1, /*dff=*/true);
  std::printf("usage: nerfedit dff train --data DIR --out RUN [--teacher DIR] [options]   (--help for options)\n"
              "then:  nerfedit select RUN --text \"red sphere\" --out masks/\n"
              "       nerfedit edit RUN --select \"red sphere\" --op delete --out RUN2\n");
  return argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) ? 0 : 1;
}

}  // namespace nerfedit
