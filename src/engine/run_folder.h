// A run folder: run.json (format version, method, resolved config, method extras) written when the run starts, and
// checkpoint.pt (format version, method, progress, the method's state, every optimizer's state), both replaced
// atomically. Readers refuse other versions and other methods with a message that names the file.
#pragma once
#include <torch/serialize/input-archive.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "engine/method.h"

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
// Restores a method and its optimizers from a checkpoint (resume).
TrainingProgress LoadCheckpoint(const std::string& path, Method& method, const std::vector<OptimizerSlot>& optimizers);

}  // namespace nerfedit
