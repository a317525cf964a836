// A run folder holds run.json (format version, resolved config, scene box, training cameras) and checkpoint.pt
// (field weights, optimiser state, occupancy grid, progress). Both are written atomically (temp file + rename).
#pragma once
#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "methods/nerf/nerf_model.h"

namespace nerfedit {

constexpr int64_t kRunFormatVersion = 1;

struct TrainingProgress {
  int64_t step = 0;
  double train_seconds = 0;
  int64_t batch_rays = 0;
  nlohmann::json curve = nlohmann::json::array();  // [{step, train_s, psnr, ...}]
};

// run.json: written once when a run starts.
void WriteRunInfo(const std::string& run_dir, const NerfConfig& config, const at::Tensor& aabb,
                  const std::vector<Camera>& cameras);

struct RunInfo {
  NerfConfig config;
  at::Tensor aabb;               // [2,3]
  std::vector<Camera> cameras;   // training views
};
RunInfo ReadRunInfo(const std::string& run_dir);  // clear errors for a missing folder / other format version

void SaveCheckpoint(const std::string& path, NerfModel& model, torch::optim::Optimizer* optimizer,
                    const TrainingProgress& progress);
// Restores the model (and the optimiser when given); throws naming the file for unreadable or mismatched ones.
TrainingProgress LoadCheckpoint(const std::string& path, NerfModel& model, torch::optim::Optimizer* optimizer);

// A trained scene ready to render: run.json + checkpoint.pt. device: "cpu", "cuda" or "auto".
std::shared_ptr<NerfModel> LoadNerfRun(const std::string& run_dir, const std::string& device);

}  // namespace nerfedit
