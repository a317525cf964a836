#include "methods/nerf/nerf_run.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>

#include "edit/edit_list.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

NerfRunInfo ParseNerfRunInfo(const RunHeader& header, const NerfConfig& config) {
  const std::string path = "run.json of a " + header.method + " run";
  NerfRunInfo info;
  info.config = config;
  const auto aabb = header.json.find("aabb");
  NE_CHECK(aabb != header.json.end() && aabb->is_array() && aabb->size() == 6, path, ": \"aabb\" must hold 6 numbers");
  try {
    info.aabb = at::tensor(aabb->get<std::vector<float>>()).reshape({2, 3});
    const auto cameras = header.json.find("cameras");
    NE_CHECK(cameras != header.json.end() && cameras->is_array(), path, ": no \"cameras\" list");
    for (const auto& c : *cameras) info.cameras.push_back(Camera::FromJson(c));
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(path, ": malformed scene box or cameras: ", e.what());
  }
  return info;
}

std::shared_ptr<NerfModel> LoadNerfModel(const std::string& run_dir, const NerfRunInfo& info, const std::string& device,
                                         const FieldLoader& load_other) {
  auto model = std::make_shared<NerfModel>(info.config, info.aabb, info.cameras, ParseDevice(device));
  const std::string path = run_dir + "/checkpoint.pt";
  LoadModelRecord(path, "", "field (" + model->field()->Kind() + ")",
                  [&](torch::serialize::InputArchive& record) { model->LoadState(record); });
  model->field()->eval();
  const std::string edits_file = run_dir + "/edits.json";
  if (fs::exists(edits_file)) {
    EditList edits = EditList::Load(edits_file);
    if (!edits.edits.empty()) {
      torch::NoGradGuard no_grad;
      model->set_field(ApplyEdits(model->field(), edits, load_other));
      model->RebuildOccupancyGrid();  // an edit can move content into cells the trained grid marked empty
    }
  }
  return model;
}

std::shared_ptr<NerfModel> LoadNerfRun(const std::string& run_dir, const std::string& device) {
  const RunHeader header = ReadRunJson(run_dir);
  NE_CHECK(header.method == "nerf", run_dir, " was made by method \"", header.method, "\", not \"nerf\"");
  const NerfConfig config = NerfConfig::FromJson(header.config, run_dir + "/run.json config");
  return LoadNerfModel(run_dir, ParseNerfRunInfo(header, config), device,
                       [device](const std::string& other) { return LoadNerfRun(other, device)->field(); });
}

}  // namespace nerfedit
