// Every method nerfedit can train, by name: how to build one from a config, how to load its runs. Adding a method is
// its own folder methods/<name>/ plus one line in method_registry.cc (and its CLI entry in app/).
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/method.h"
#include "engine/trainer.h"
#include "render/renderable.h"

namespace nerfedit {

class NerfModel;

struct MethodEntry {
  std::string name;     // "nerf", "dff", ...: the name in run.json
  std::string summary;  // one line for help texts
  // The method's default config as JSON, given the user's keys (nerf picks per-field defaults from "field").
  std::function<nlohmann::json(const nlohmann::json& user)> defaults;
  // Builds the method from a complete config (parsed strictly and checked) for a run in run_dir. options.quiet: no
  // log lines; options.parallel: this process's rank in a data-parallel run (a method shards its data by it).
  std::function<std::unique_ptr<Method>(const nlohmann::json& config, const std::string& run_dir,
                                        const TrainerOptions& options)>
      create;
  // A trained run, to render.
  std::function<std::shared_ptr<Renderable>(const std::string& run_dir, const std::string& device)> load;
  // A trained run as a radiance-field scene (select, edit, the viewer's edit panel); empty when the method's runs
  // are not one. The run's edits.json is applied.
  std::function<std::shared_ptr<NerfModel>(const std::string& run_dir, const std::string& device)> load_scene;
};

const std::deque<MethodEntry>& Methods();
// Throws listing the known names when `name` is none of them.
const MethodEntry& FindMethod(const std::string& name);
// Adds a method at run time (tests, plug-ins); throws when the name is taken.
void RegisterMethod(MethodEntry entry);

// A new run of `method` in run_dir: config = the method's defaults <- user (strict keys). In a data-parallel run
// (options.parallel) rank 0 makes run_dir; the other ranks build in a scratch folder of their own, removed with the
// trainer, and write nothing into run_dir.
std::unique_ptr<Trainer> StartTraining(const std::string& method, const nlohmann::json& user, const std::string& run_dir,
                                       TrainerOptions options = {});
// Continues run_dir (whatever method made it) with config overrides (e.g. a larger "steps"). Every rank of a
// data-parallel run reads run_dir (the same machine or a shared file system); rank 0 alone writes it.
std::unique_ptr<Trainer> ResumeTraining(const std::string& run_dir, const nlohmann::json& overrides,
                                        TrainerOptions options = {});

// Any method's run, to render (render, eval, serve, report).
std::shared_ptr<Renderable> LoadRenderableRun(const std::string& run_dir, const std::string& device);
// A run that is a radiance-field scene (select, edit); throws naming the method otherwise.
std::shared_ptr<NerfModel> LoadSceneRun(const std::string& run_dir, const std::string& device);

}  // namespace nerfedit
