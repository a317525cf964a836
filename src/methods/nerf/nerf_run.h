// Loading a trained radiance-field run (nerf, or a method built on it) for rendering, evaluation, selection and
// edits: run.json's config, scene box and training cameras, the checkpoint's model record, and the run's own
// edits.json (an edited run is the trained field wrapped by its edits).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/run_folder.h"
#include "fields/field.h"
#include "methods/nerf/nerf_config.h"
#include "methods/nerf/nerf_model.h"

namespace nerfedit {

struct NerfRunInfo {
  NerfConfig config;             // the radiance-field part of the run's config
  at::Tensor aabb;               // [2,3] f32
  std::vector<Camera> cameras;   // training views
};

// The scene box and training cameras of run.json (written by NerfMethod::RunExtras), with `config`.
NerfRunInfo ParseNerfRunInfo(const RunHeader& header, const NerfConfig& config);

// Loads another run's field (the `compose` edit inserts one); empty: compose edits are refused.
using FieldLoader = std::function<FieldPtr(const std::string& run_dir)>;

// The model of a radiance-field run: weights and occupancy grid from RUN/checkpoint.pt, then RUN/edits.json applied.
std::shared_ptr<NerfModel> LoadNerfModel(const std::string& run_dir, const NerfRunInfo& info, const std::string& device,
                                         const FieldLoader& load_other);

// A run made by the `nerf` method. device: "cpu", "cuda" or "auto".
std::shared_ptr<NerfModel> LoadNerfRun(const std::string& run_dir, const std::string& device);

}  // namespace nerfedit
