#include "methods/clipnerf/clipnerf_run.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "engine/run_folder.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

ClipnerfRunInfo ReadClipnerfRun(const std::string& run_dir) {
  const RunHeader header = ReadRunJson(run_dir);
  const std::string path = run_dir + "/run.json";
  NE_CHECK(header.method == "clipnerf", run_dir, " was made by method \"", header.method, "\", not \"clipnerf\"");
  ClipnerfRunInfo info;
  info.run_dir = run_dir;
  info.run_json = header.json;
  info.config = ClipnerfConfig::FromJson(header.config, path + " config");
  CodedRunExtras extras = ReadCodedRunExtras(header.json, path, "clipnerf");
  info.aabb = extras.aabb;
  info.cameras = std::move(extras.cameras);
  info.num_latents = extras.num_codes;
  return info;
}

std::shared_ptr<ClipnerfModel> LoadClipnerfModel(const ClipnerfRunInfo& info, const std::string& device) {
  auto model = std::make_shared<ClipnerfModel>(info.config, info.aabb, info.num_latents, ParseDevice(device));
  const std::string path = info.run_dir + "/checkpoint.pt";
  LoadModelRecord(path, "clipnerf", "clipnerf model",
                  [&](torch::serialize::InputArchive& record) { model->LoadState(record); });
  model->SetTraining(false);
  return model;
}

std::shared_ptr<ClipnerfInstance> LoadClipnerfRun(const std::string& run_dir, const std::string& device) {
  const ClipnerfRunInfo info = ReadClipnerfRun(run_dir);
  auto model = LoadClipnerfModel(info, device);
  at::Tensor code;
  if (info.config.render_instance >= 0) {
    NE_CHECK(info.config.render_instance < info.num_latents, run_dir, ": render_instance ",
             info.config.render_instance, " is not one of the run's ", info.num_latents, " instances");
    code = model->codes()->codes[info.config.render_instance].detach();
  } else {
    code = model->codes()->Mean();
  }
  return std::make_shared<ClipnerfInstance>(model, code, info.cameras);
}

}  // namespace nerfedit
