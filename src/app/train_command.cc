// `train` (the nerf method) and `dff train`: one generic path over the method registry. Each method adds its own
// flags; `--resume RUN` continues any method's run (run.json says which made it).
#include <torch/torch.h>

#include <cstring>
#include <functional>

#include "app/cli_util.h"
#include "app/commands.h"
#include "app/train_command.h"
#include "engine/distributed.h"
#include "methods/dff/teacher.h"
#include "methods/method_registry.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {

int TrainCommand(int argc, char** argv, const std::string& method, const std::string& name,
                 const std::string& description, MethodFlags method_flags) {
  CLI::App app{description};
  app.name(name);
  std::string data, out, config_file, sampler, device, resume;
  int64_t steps = 0, batch = 0, eval_every = -1, grid_resolution = 0;
  double time_budget = -1, lr = 0, step_size = 0;
  int downscale = 0, test_every = -1;
  bool quiet = false, deterministic = false;
  int world_size = 1, rank = 0;
  std::string master = "127.0.0.1:29500";
  app.add_option("--data", data, "transforms.json or a folder holding one");
  app.add_option("--out", out, "run folder to create (config, checkpoints, eval)");
  app.add_option("--resume", resume, "continue the run in this folder from its checkpoint");
  app.add_option("--config", config_file, "JSON config (the method's keys; unknown keys are errors)");
  if (method_flags.add) method_flags.add(app);
  if (method_flags.sampling_flags) app.add_option("--sampler", sampler, "occupancy | stratified | hierarchical");
  app.add_option("--steps", steps, "training steps")->check(Positive());
  app.add_option("--time-budget", time_budget, "stop after this many seconds of training (0 = none)")
      ->check(NonNegative());
  app.add_option("--batch-rays", batch, "rays per step")->check(Positive());
  app.add_option("--lr", lr, "learning rate")->check(Positive());
  if (method_flags.sampling_flags) {
    app.add_option("--step-size", step_size, "ray-marching step (occupancy sampler; 0 = auto)")
        ->check(NonNegative());
    app.add_option("--grid-resolution", grid_resolution, "occupancy grid resolution")->check(Positive());
    app.add_option("--downscale", downscale, "downscale images by this factor")->check(Positive());
    app.add_option("--test-every", test_every, "hold out frames whose index is a multiple of this (0 = none)")
        ->check(NonNegative());
  }
  app.add_option("--eval-every", eval_every, "steps between held-out evaluations (0 = end only)")
      ->check(NonNegative());
  app.add_option("--device", device, "cpu | cuda | auto")->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  app.add_flag("--quiet", quiet, "no progress bar");
  app.add_flag("--deterministic", deterministic,
               "one thread, so that the run repeats bit for bit (seeds are fixed by the config's seed); give it "
               "again with --resume to continue the same way");
  app.add_option("--world-size", world_size, "data-parallel training: number of processes (each takes a slice of "
                 "every batch; gradients are averaged over torch c10d)");
  app.add_option("--rank", rank, "data-parallel: this process's rank, 0 to world-size - 1; rank 0 writes the run, "
                 "the others write nothing");
  app.add_option("--master", master, "data-parallel: ADDR:PORT where rank 0 hosts the rendezvous (default "
                 "127.0.0.1:29500)");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  if (deterministic) UseOneThread();

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
  if (method_flags.apply) method_flags.apply(&overrides);

  // Joins the other ranks first (blocks until all are there): every rank then builds the same method with the same
  // seed, and rank 0 alone writes the run.
  const ProcessGroupOptions group_options =
      ProcessGroupOptions().rank(rank).world_size(world_size).master(master).device(device.empty() ? "auto" : device);
  group_options.Check();
  ProcessGroup group(group_options);
  const bool silent = rank > 0;
  TrainerOptions options{quiet || silent, true};
  options.parallel = group.data_parallel();
  std::unique_ptr<Trainer> trainer;
  std::string run_dir;
  if (!resume.empty()) {
    NE_CHECK(out.empty() || out == resume, "--resume continues a run in place: drop --out (or give the same folder)");
    NE_CHECK(config_file.empty(), "--resume takes the run's own config: drop --config (flags still override keys)");
    run_dir = resume;
    trainer = ResumeTraining(resume, overrides, options);
    if (!silent) std::fprintf(stderr, "resuming %s (%s) at step %lld\n", resume.c_str(), trainer->method().Name().c_str(),
                 static_cast<long long>(trainer->progress().step));
  } else {
    NE_CHECK(!out.empty(), "--out RUN is required (the run folder to create)");
    NE_CHECK(!data.empty() || !config_file.empty(), "--data DIR is required");
    nlohmann::json user = nlohmann::json::object();
    if (!config_file.empty()) {
      const nlohmann::json from_file = ReadJsonFile(config_file);  // named: items() of a temporary dangles
      NE_CHECK(from_file.is_object(), config_file, ": expected a JSON object of config keys");
      for (auto& [k, v] : from_file.items()) user[k] = v;
    }
    for (auto& [k, v] : overrides.items()) user[k] = v;
    run_dir = out;
    const double t0 = NowSeconds();
    trainer = StartTraining(method, user, out, options);
    const int threads = ConfigureThreads();
    if (!silent) std::fprintf(stderr, "%s: built in %.1f s (%d threads)\n", method.c_str(), NowSeconds() - t0, threads);
  }
  if (world_size > 1 && !silent) {
    std::fprintf(stderr, "data-parallel: %d ranks over %s (%s); each takes 1/%d of every batch\n", world_size,
                 master.c_str(), group.backend().c_str(), world_size);
  }
  TrainResult result = trainer->Train();
  const auto& p = trainer->progress();
  if (silent) {
    std::fprintf(stderr, "rank %d: trained %lld steps in %.1f s (rank 0 writes the run)\n", rank,
                 static_cast<long long>(p.step), p.train_seconds);
    return 0;
  }
  std::printf("trained %lld steps in %.1f s", static_cast<long long>(p.step), p.train_seconds);
  if (!result.evaluation.headline.empty()) std::printf("; %s", result.evaluation.headline.c_str());
  std::printf("\nrun: %s (render with `nerfedit render %s --out DIR`)\n", run_dir.c_str(), run_dir.c_str());
  // One machine-readable line (benchmarks read it); the same figures are in RUN/train.json.
  std::printf("summary:");
  for (auto& [k, v] : result.summary.items()) std::printf(" %s=%s", k.c_str(), v.dump().c_str());
  std::printf("\n");
  return 0;
}

namespace {

MethodFlags NerfFlags() {
  auto field = std::make_shared<std::string>();
  return {[field](CLI::App& app) {
            app.add_option("--field", *field, "hash_grid (Instant-NGP) or mlp (original NeRF)")
                ->check(CLI::IsMember({"hash_grid", "mlp"}));
          },
          [field](nlohmann::json* j) {
            if (!field->empty()) (*j)["field"] = *field;
          }};
}

MethodFlags DffFlags() {
  struct Values {
    std::string teacher, teacher_mode;
    double feature_weight = -1;
    bool feature_grad_to_density = false;
  };
  auto v = std::make_shared<Values>();
  return {[v](CLI::App& app) {
            app.add_option("--teacher", v->teacher,
                           "CLIP or DINO ViT folder (default: nerfedit's own small CLIP, " + DefaultTeacherDir() + ")");
            app.add_option("--teacher-mode", v->teacher_mode,
                           "auto (crops for the small CLIP, else dense) | dense (MaskCLIP patch embeddings) | crops "
                           "(LERF-style)")
                ->check(CLI::IsMember({"auto", "dense", "crops"}));
            app.add_option("--feature-weight", v->feature_weight, "lambda of the feature loss")
                ->check(NonNegative());
            app.add_flag("--feature-grad-to-density", v->feature_grad_to_density,
                         "let the feature loss shape the density too (default: stop-gradient)");
          },
          [v](nlohmann::json* j) {
            if (!v->teacher.empty()) (*j)["teacher"] = v->teacher;
            if (!v->teacher_mode.empty()) (*j)["teacher_mode"] = v->teacher_mode;
            if (v->feature_weight >= 0) (*j)["feature_weight"] = v->feature_weight;
            if (v->feature_grad_to_density) (*j)["feature_stop_grad"] = false;
          }};
}

}  // namespace

int RunTrain(int argc, char** argv) {
  return TrainCommand(argc, argv, "nerf", "nerfedit train",
                      "Reconstruct a scene from posed images (transforms.json: Blender / nerfstudio / instant-ngp). "
                      "--resume continues a run of any method.",
                      NerfFlags());
}

int RunDff(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "train") == 0) {
    return TrainCommand(argc - 1, argv + 1, "dff", "nerfedit dff train",
                        "Train a Distilled Feature Field: a radiance field plus a feature head distilled from a 2D "
                        "teacher (CLIP or DINO), for selection by text, image patch or click, and local edits.",
                        DffFlags());
  }
  std::printf("usage: nerfedit dff train --data DIR --out RUN [--teacher DIR] [options]   (--help for options)\n"
              "then:  nerfedit select RUN --text \"red sphere\" --out masks/\n"
              "       nerfedit edit RUN --select \"red sphere\" --op delete --out RUN2\n");
  return argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) ? 0 : 1;
}

}  // namespace nerfedit
