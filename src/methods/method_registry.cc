#include "methods/method_registry.h"

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <mutex>

#include "methods/clipnerf/clipnerf_method.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "methods/dff/dff_method.h"
#include "methods/lolnerf/lolnerf_method.h"
#include "methods/lolnerf/lolnerf_run.h"
#include "methods/nerf/nerf_method.h"
#include "methods/nerf/nerf_run.h"
#include "methods/stylize/stylize_method.h"
#include "methods/stylize/stylize_run.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

FieldPtr LoadSceneField(const std::string& run_dir, const std::string& device) {
  return LoadSceneRun(run_dir, device)->field();
}

MethodEntry NerfEntry() {
  MethodEntry e;
  e.name = "nerf";
  e.summary = "reconstruct a scene from posed images (hash grid or NeRF MLP)";
  e.defaults = [](const nlohmann::json& user) {
    return NerfConfig::ForField(user.value("field", std::string("hash_grid"))).ToJson();
  };
  e.create = [](const nlohmann::json& config, const std::string&, const TrainerOptions& options) {
    return std::make_unique<NerfMethod>(NerfConfig::FromJson(config, "nerf config"), options.parallel);
  };
  e.load_scene = [](const std::string& run_dir, const std::string& device) {
    const RunHeader header = ReadRunJson(run_dir);
    const NerfConfig config = NerfConfig::FromJson(header.config, run_dir + "/run.json config");
    return LoadNerfModel(run_dir, ParseNerfRunInfo(header, config), device,
                         [device](const std::string& other) { return LoadSceneField(other, device); });
  };
  e.load = [load = e.load_scene](const std::string& run_dir, const std::string& device) {
    return std::shared_ptr<Renderable>(load(run_dir, device));
  };
  return e;
}

MethodEntry DffEntry() {
  MethodEntry e;
  e.name = "dff";
  e.summary = "distilled feature field: select by text / click / patch, then edit";
  e.defaults = [](const nlohmann::json&) { return DffConfig().ToJson(); };
  e.create = [](const nlohmann::json& config, const std::string& run_dir, const TrainerOptions& options) {
    return std::make_unique<DffMethod>(DffConfig::FromJson(config, "dff config"), run_dir, options.quiet,
                                       options.parallel);
  };
  e.load_scene = [](const std::string& run_dir, const std::string& device) {
    return LoadDffRun(run_dir, device, [device](const std::string& other) { return LoadSceneField(other, device); });
  };
  e.load = [load = e.load_scene](const std::string& run_dir, const std::string& device) {
    return std::shared_ptr<Renderable>(load(run_dir, device));
  };
  return e;
}

MethodEntry LolnerfEntry() {
  MethodEntry e;
  e.name = "lolnerf";
  e.summary = "LOLNeRF: a category model from one view per object (GLO latents, landmark poses, fg/bg)";
  e.defaults = [](const nlohmann::json& user) {
    return LolnerfConfig::ForField(user.value("field", std::string("hash_grid"))).ToJson();
  };
  e.create = [](const nlohmann::json& config, const std::string& run_dir, const TrainerOptions& options) {
    return std::make_unique<LolnerfMethod>(LolnerfConfig::FromJson(config, "lolnerf config"), run_dir,
                                           options.quiet, options.parallel);
  };
  e.load = [](const std::string& run_dir, const std::string& device) {
    return std::shared_ptr<Renderable>(LoadLolnerfRun(run_dir, device));
  };
  return e;
}

MethodEntry ClipnerfEntry() {
  MethodEntry e;
  e.name = "clipnerf";
  e.summary = "CLIP-NeRF: a category generator with separate shape and appearance codes (GLO on posed views)";
  e.defaults = [](const nlohmann::json& user) {
    return ClipnerfConfig::ForPreset(user.value("preset", std::string("cpu"))).ToJson();
  };
  e.create = [](const nlohmann::json& config, const std::string&, const TrainerOptions& options) {
    return std::make_unique<ClipnerfMethod>(ClipnerfConfig::FromJson(config, "clipnerf config"), options.quiet,
                                            options.parallel);
  };
  e.load = [](const std::string& run_dir, const std::string& device) {
    return std::shared_ptr<Renderable>(LoadClipnerfRun(run_dir, device));
  };
  return e;
}

MethodEntry StylizeEntry() {
  MethodEntry e;
  e.name = "stylize";
  e.summary = "StylizedNeRF: a trained nerf run restyled after style images (frozen density, 2D-3D mutual learning)";
  e.defaults = [](const nlohmann::json&) { return StylizeConfig::ForPreset("cpu").ToJson(); };
  e.create = [](const nlohmann::json& config, const std::string&, const TrainerOptions& options) {
    NE_CHECK(!options.parallel.active(), "stylize: data-parallel training is not supported");
    return std::make_unique<StylizeMethod>(StylizeConfig::FromJson(config, "stylize config"), options.quiet);
  };
  e.load = [](const std::string& run_dir, const std::string& device) {
    return std::shared_ptr<Renderable>(LoadStylizedRun(run_dir, device));
  };
  return e;
}

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

std::deque<MethodEntry>& MutableMethods() {
  // The registry: one line per method.
  static std::deque<MethodEntry> methods = {  // a deque: references stay valid as methods are added
      NerfEntry(),
      DffEntry(),
      LolnerfEntry(),
      ClipnerfEntry(),
      StylizeEntry(),
  };
  return methods;
}

}  // namespace

const std::deque<MethodEntry>& Methods() { return MutableMethods(); }

const MethodEntry& FindMethod(const std::string& name) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  std::string known;
  for (const auto& m : MutableMethods()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  NE_FAIL("unknown method \"", name, "\" (known: ", known, ")");
}

void RegisterMethod(MethodEntry entry) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (const auto& m : MutableMethods()) NE_CHECK(m.name != entry.name, "method \"", entry.name, "\" is already registered");
  NE_CHECK(entry.defaults && entry.create && entry.load, "method \"", entry.name,
           "\" needs defaults, create and load functions");
  MutableMethods().push_back(std::move(entry));
}

std::unique_ptr<Trainer> StartTraining(const std::string& method, const nlohmann::json& user, const std::string& run_dir,
                                       TrainerOptions options) {
  const MethodEntry& entry = FindMethod(method);
  NE_CHECK(user.is_object(), method, " config: expected a JSON object");
  const nlohmann::json config = MergeConfig(entry.defaults(user), user);
  if (options.parallel.rank > 0) {
    // The run folder is rank 0's (possibly on another machine); this rank's method keeps its caches in a scratch
    // folder of its own.
    const std::string scratch = (fs::temp_directory_path() / ("nerfedit-rank" + std::to_string(options.parallel.rank) +
                                                             "-" + std::to_string(::getpid())))
                                    .string();
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
    auto trainer = StartRun(scratch, [&] { return entry.create(config, scratch, options); }, options);
    trainer->RemoveOnExit(scratch);
    return trainer;
  }
  return StartRun(run_dir, [&] { return entry.create(config, run_dir, options); }, options);
}

std::unique_ptr<Trainer> ResumeTraining(const std::string& run_dir, const nlohmann::json& overrides,
                                        TrainerOptions options) {
  const RunHeader header = ReadRunJson(run_dir);
  const MethodEntry& entry = FindMethod(header.method);
  const nlohmann::json config = MergeConfig(header.config, overrides);
  return ResumeRun(run_dir, [&] { return entry.create(config, run_dir, options); }, options);
}

std::shared_ptr<Renderable> LoadRenderableRun(const std::string& run_dir, const std::string& device) {
  const RunHeader header = ReadRunJson(run_dir);
  return FindMethod(header.method).load(run_dir, device);
}

std::shared_ptr<NerfModel> LoadSceneRun(const std::string& run_dir, const std::string& device) {
  const RunHeader header = ReadRunJson(run_dir);
  const MethodEntry& entry = FindMethod(header.method);
  NE_CHECK(entry.load_scene != nullptr, run_dir, " is a ", header.method,
           " run, not a radiance-field scene: select and edit work on nerf and dff runs");
  return entry.load_scene(run_dir, device);
}

}  // namespace nerfedit
