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
    for (const auto& c : *cameras) info.cameras.push_back(ReadRunCamera(c, path, info.cameras.size()));
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(path, ": malformed scene box or cameras: ", e.what());
  }
  CheckRunAabb(info.aabb, path);
  return info;
}

namespace {

// The runs this thread is loading, outermost first. A compose edit loads its source run, whose own edits.json may
// compose others: a run that reaches itself that way (edits.json files are user-editable, and `nerfedit edit` can
// compose a run into the one it came from) would recurse until the stack overflows, so it is refused by name.
class LoadingRuns {
 public:
  explicit LoadingRuns(const std::string& run_dir) {
    std::error_code error;
    fs::path key = fs::weakly_canonical(fs::absolute(run_dir), error);
    if (error) key = fs::absolute(run_dir).lexically_normal();
    for (const std::string& outer : Chain()) {
      if (outer != key.string()) continue;
      std::string cycle;
      bool in_cycle = false;
      for (const std::string& run : Chain()) {
        in_cycle = in_cycle || run == key.string();
        if (in_cycle) cycle += run + " -> ";
      }
      NE_FAIL("run ", run_dir, " composes itself through its edits.json (compose cycle: ", cycle, key.string(),
              "): remove the compose edit that closes the cycle");
    }
    Chain().push_back(key.string());
  }
  ~LoadingRuns() { Chain().pop_back(); }
  LoadingRuns(const LoadingRuns&) = delete;
  LoadingRuns& operator=(const LoadingRuns&) = delete;

 private:
  static std::vector<std::string>& Chain() {
    thread_local std::vector<std::string> chain;
    return chain;
  }
};

}  // namespace

std::shared_ptr<NerfModel> LoadNerfModel(const std::string& run_dir, const NerfRunInfo& info, const std::string& device,
                                         const FieldLoader& load_other) {
  const LoadingRuns loading(run_dir);
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
