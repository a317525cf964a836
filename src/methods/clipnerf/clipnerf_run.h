// CLIP-NeRF runs after training: reading one (config, box, cameras, instances) and loading its model, to render an
// instance (the mean code, or `render_instance`'s) or to edit codes (methods/clipnerf/clipnerf_edit.h).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "methods/clipnerf/clipnerf_config.h"
#include "methods/clipnerf/clipnerf_model.h"

namespace nerfedit {

struct ClipnerfRunInfo {
  std::string run_dir;
  ClipnerfConfig config;
  at::Tensor aabb;              // [2,3] f32
  std::vector<Camera> cameras;  // training cameras
  int64_t num_latents = 0;      // instances (codes)
  nlohmann::json run_json;
};

// Throws naming the method when run_dir is another method's run.
ClipnerfRunInfo ReadClipnerfRun(const std::string& run_dir);
std::shared_ptr<ClipnerfModel> LoadClipnerfModel(const ClipnerfRunInfo& info, const std::string& device);
// The run as a Renderable: the config's render_instance (-1: the mean code).
std::shared_ptr<ClipnerfInstance> LoadClipnerfRun(const std::string& run_dir, const std::string& device);

}  // namespace nerfedit
