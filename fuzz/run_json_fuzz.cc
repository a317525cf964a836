// run.json (the run folder's header: format version, method, the resolved config with the trainer's settings, and
// the method's extras - scene box, training cameras, number of codes), read by every command that opens a run
// (render, eval, edit, serve, --resume): the fuzzer's bytes replace the run.json of a real tiny run (fuzz_run.h)
// whose checkpoint stays valid. Read as the loaders read it: ReadRunJson, the nerf / dff config (strict JSON with
// the trainer's keys), the scene box and cameras (ParseNerfRunInfo), the category runs' extras (ReadCodedRunExtras),
// and a resume's config merge. When the config still builds the tiny run's field and grid, the model is loaded and
// one 4x4 view rendered, so sampler and render settings are exercised too; a config that builds a bigger model is
// legitimate and only slow, so it is parsed but not built.
// NERFEDIT_FUZZ_SEED_OUT=DIR writes the tiny run's own run.json there (how fuzz/corpus/run_json was made).
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "engine/run_folder.h"
#include "fuzz/fuzz_run.h"
#include "methods/dff/dff_config.h"
#include "methods/nerf/nerf_run.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  if (const char* out = std::getenv("NERFEDIT_FUZZ_SEED_OUT")) {
    std::filesystem::copy_file(nerfedit::fuzz::TinyNerfRun().dir + "/run.json", std::string(out) + "/tiny_nerf.json",
                               std::filesystem::copy_options::overwrite_existing);
  }
  return 0;
}

namespace {

using namespace nerfedit;

void LoadAndRender(const std::string& dir, const NerfRunInfo& info) {
  const NerfConfig& tiny = fuzz::TinyNerfRun().config;
  if (info.config.field != tiny.field || info.config.field_config != tiny.field_config ||
      info.config.grid_resolution != tiny.grid_resolution) {
    return;
  }
  auto model = LoadNerfModel(dir, info, "cpu", nullptr);
  model->Render(Camera::LookAt({0, -3, 1}, {0, 0, 0}, {0, 0, 1}, 4, 4, 0.8));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::CopyOfTinyRun("run_json_run");
  const std::string path = fuzz::WriteInput("run_json_run/run.json", data, size);
  fuzz::ExpectReadOrRefused([&] {
    const RunHeader header = ReadRunJson(dir);
    fuzz::ExpectReadOrRefused([&] { ReadCodedRunExtras(header.json, path, header.method); });
    fuzz::ExpectReadOrRefused([&] {
      NerfConfig::FromJson(MergeConfig(header.config, {{"steps", 3}}), "resumed config");
    });
    if (header.method == "dff") {
      const DffConfig config = DffConfig::FromJson(header.config, path + " config");
      ParseNerfRunInfo(header, config.nerf);
    } else {
      const NerfConfig config = NerfConfig::FromJson(header.config, path + " config");
      LoadAndRender(dir, ParseNerfRunInfo(header, config));
    }
  });
  return 0;
}
