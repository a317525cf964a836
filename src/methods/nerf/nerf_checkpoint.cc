#include "methods/nerf/nerf_checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>

#include "edit/edit_list.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

void WriteRunInfo(const std::string& run_dir, const NerfConfig& config, const at::Tensor& aabb,
                  const std::vector<Camera>& cameras) {
  nlohmann::json cams = nlohmann::json::array();
  for (const auto& c : cameras) cams.push_back(c.ToJson());
  auto a = aabb.to(at::kCPU, at::kFloat).reshape(-1).contiguous();
  nlohmann::json info = {{"format_version", kRunFormatVersion},
                         {"method", "nerf"},
                         {"config", config.ToJson()},
                         {"aabb", std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + 6)},
                         {"cameras", cams}};
  WriteTextAtomically(run_dir + "/run.json", info.dump(1));
}

RunInfo ReadRunInfo(const std::string& run_dir) {
  NE_CHECK(fs::is_directory(run_dir), "run folder ", run_dir, " does not exist");
  const std::string path = run_dir + "/run.json";
  NE_CHECK(fs::exists(path), run_dir, " is not a nerfedit run (no run.json)");
  nlohmann::json j = ReadJsonFile(path);
  int64_t version = -1;
  std::string method;
  std::vector<float> aabb;
  nlohmann::json config, cameras;
  JsonReader r(j, path);
  r.Required("format_version", &version);
  NE_CHECK(version == kRunFormatVersion, path, " has format version ", version, " but this nerfedit reads version ",
           kRunFormatVersion, ": retrain or use the matching nerfedit release");
  r.Required("method", &method).Required("aabb", &aabb).Required("config", &config).Required("cameras", &cameras);
  r.Finish();
  NE_CHECK(method == "nerf", path, ": method is \"", method, "\", expected \"nerf\"");
  NE_CHECK(aabb.size() == 6, path, ": aabb must have 6 values, got ", aabb.size());
  RunInfo info;
  info.config = NerfConfig::FromJson(config, path + " config");
  info.aabb = at::tensor(aabb).reshape({2, 3});
  for (const auto& c : cameras) info.cameras.push_back(Camera::FromJson(c));
  return info;
}

void SaveCheckpoint(const std::string& path, NerfModel& model, torch::optim::Optimizer* optimizer,
                    const TrainingProgress& progress) {
  torch::serialize::OutputArchive archive;
  nlohmann::json meta = {{"format_version", kRunFormatVersion},
                         {"field_kind", model.field()->Kind()},
                         {"field_config", model.field()->Config()},
                         {"step", progress.step},
                         {"train_seconds", progress.train_seconds},
                         {"batch_rays", progress.batch_rays},
                         {"curve", progress.curve}};
  archive.write("meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive field_archive;
  model.field()->save(field_archive);
  archive.write("field", field_archive);
  archive.write("grid_density", model.grid().density(), /*is_buffer=*/true);
  archive.write("grid_occupied", model.grid().occupied(), /*is_buffer=*/true);
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  WriteAtomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

TrainingProgress LoadCheckpoint(const std::string& path, NerfModel& model, torch::optim::Optimizer* optimizer) {
  NE_CHECK(fs::exists(path), "checkpoint ", path, " does not exist");
  torch::serialize::InputArchive archive;
  nlohmann::json meta;
  try {
    archive.load_from(path);
    c10::IValue meta_value;
    NE_CHECK(archive.try_read("meta", meta_value) && meta_value.isString(), path,
             " is not a nerfedit checkpoint (no meta record)");
    meta = nlohmann::json::parse(meta_value.toStringRef());
  } catch (const c10::Error& e) {
    NE_FAIL("checkpoint ", path, " is unreadable (truncated or not a nerfedit checkpoint): ",
            std::string(e.what_without_backtrace()).substr(0, 200));
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL("checkpoint ", path, " has a corrupt meta record: ", e.what());
  }
  const int64_t version = meta.value("format_version", int64_t{-1});
  NE_CHECK(version == kRunFormatVersion, "checkpoint ", path, " has format version ", version,
           " but this nerfedit reads version ", kRunFormatVersion);
  const std::string kind = meta.value("field_kind", std::string());
  NE_CHECK(kind == model.field()->Kind(), "checkpoint ", path, " holds a \"", kind, "\" field but the run config builds \"",
           model.field()->Kind(), "\"");
  try {
    torch::serialize::InputArchive field_archive;
    archive.read("field", field_archive);
    model.field()->load(field_archive);
    torch::Tensor density, occupied;
    archive.read("grid_density", density, /*is_buffer=*/true);
    archive.read("grid_occupied", occupied, /*is_buffer=*/true);
    model.grid().LoadState(density, occupied);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
  } catch (const c10::Error& e) {
    NE_FAIL("checkpoint ", path, " does not match the run's field (", kind, "): ",
            std::string(e.what_without_backtrace()).substr(0, 300));
  }
  model.field()->to(model.device());
  TrainingProgress progress;
  progress.step = meta.value("step", int64_t{0});
  progress.train_seconds = meta.value("train_seconds", 0.0);
  progress.batch_rays = meta.value("batch_rays", int64_t{0});
  progress.curve = meta.value("curve", nlohmann::json::array());
  return progress;
}

std::shared_ptr<NerfModel> LoadNerfRun(const std::string& run_dir, const std::string& device) {
  RunInfo info = ReadRunInfo(run_dir);
  auto model = std::make_shared<NerfModel>(info.config, info.aabb, info.cameras, ParseDevice(device));
  LoadCheckpoint(run_dir + "/checkpoint.pt", *model, nullptr);
  model->field()->eval();
  // An edited run (`nerfedit edit`) is the trained field wrapped by the edits of RUN/edits.json.
  const std::string edits_file = run_dir + "/edits.json";
  if (fs::exists(edits_file)) {
    EditList edits = EditList::Load(edits_file);
    if (!edits.edits.empty()) {
      auto load_run = [&device](const std::string& other) { return LoadNerfRun(other, device)->field(); };
      torch::NoGradGuard no_grad;
      model->SetField(ApplyEdits(model->field(), edits, load_run));
    }
  }
  return model;
}

}  // namespace nerfedit

#include "methods/nerf/nerf_run.h"

namespace nerfedit {

std::shared_ptr<Renderable> LoadRenderableRun(const std::string& run_dir, const std::string& device) {
  return LoadNerfRun(run_dir, device);
}

}  // namespace nerfedit
