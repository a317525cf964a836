// A run folder: run.json (format version, method, resolved config, method extras) written when the run starts, and
// checkpoint.pt (format version, method, progress, the method's state, every optimizer's state), both replaced
// atomically. Readers refuse other versions and other methods with a message that names the file.
#pragma once
#include <torch/serialize/input-archive.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/method.h"
#include "render/camera.h"

namespace nerfedit {

// 2: run.json names the method that made the run; checkpoints hold "model" and "optimizer.<name>" records.
constexpr int64_t kRunFormatVersion = 2;

struct RunHeader {
  std::string method;
  nlohmann::json config;  // the method's resolved config
  nlohmann::json json;    // the whole run.json (extras included)
};

void WriteRunJson(const std::string& run_dir, const std::string& method, const nlohmann::json& config,
                  const nlohmann::json& extras);
RunHeader ReadRunJson(const std::string& run_dir);

struct TrainingProgress {
  int64_t step = 0;
  double train_seconds = 0;
  nlohmann::json curve = nlohmann::json::array();  // [{step, train_s, psnr, ...}]
};

// Writes the method's state and its optimizers' states with the progress, atomically.
void WriteCheckpoint(const std::string& path, Method& method, const std::vector<OptimizerSlot>& optimizers,
                     const TrainingProgress& progress);
// Opens a checkpoint written by `method` (empty: any): fills the archive and returns the progress. Clear errors for a
// missing, truncated, foreign or other-version file.
TrainingProgress OpenCheckpoint(const std::string& path, const std::string& method,
                                torch::serialize::InputArchive* archive);
// The method's own record of an opened checkpoint (what Method::SaveState wrote).
void ReadModelRecord(torch::serialize::InputArchive& checkpoint, const std::string& path,
                     torch::serialize::InputArchive* model);
// One of run.json's training cameras (Camera::FromJson), its errors naming path and index.
Camera ReadRunCamera(const nlohmann::json& camera, const std::string& path, size_t index);
// Throws naming path unless the scene box [2,3] is finite with min < max on every axis (rays, occupancy grids and
// samplers divide by its extent).
void CheckRunAabb(const at::Tensor& aabb, const std::string& path);

// What category runs (lolnerf, clipnerf) add to run.json: the object box, the training cameras, the number of codes.
struct CodedRunExtras {
  at::Tensor aabb;              // [2,3] f32
  std::vector<Camera> cameras;  // at least one
  int64_t num_codes = 0;        // "num_latents"
};
// Reads them from run_json (path names the file in errors, method the kind of run).
CodedRunExtras ReadCodedRunExtras(const nlohmann::json& run_json, const std::string& path, const std::string& method);

// Opens the checkpoint at path (written by `method`; empty: any) and hands its model record to `load`, for loading
// a run to render or edit: a record that does not fit the model built from the run's config (torch's errors, the
// model's own checks) becomes one clear error naming the checkpoint and `what` the run built.
void LoadModelRecord(const std::string& path, const std::string& method, const std::string& what,
                     const std::function<void(torch::serialize::InputArchive& record)>& load);
// Restores a method and its optimizers from a checkpoint (resume).
TrainingProgress LoadCheckpoint(const std::string& path, Method& method, const std::vector<OptimizerSlot>& optimizers);

}  // namespace nerfedit
