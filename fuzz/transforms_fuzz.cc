// transforms.json (NeRF-synthetic / instant-ngp / nerfstudio conventions, nerfedit's extensions) and the dataset it
// names: the fuzzer's bytes are the JSON; the folder holds one small real image it may point at ("img.png").
#include <filesystem>

#include <torch/torch.h>

#include "data/category_scene.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nerfedit;
  static const std::string dir = [] {
    const std::string d = fuzz::ScratchDir() + "/dataset";
    std::filesystem::create_directories(d);
    SaveImage(d + "/img.png", torch::rand({4, 4, 3}));
    return d;
  }();
  fuzz::WriteInput("dataset/transforms.json", data, size);
  fuzz::ExpectReadOrRefused([&] { LoadTransformsDataset(dir); });
  fuzz::ExpectReadOrRefused([&] { LoadCategoryDataset(dir); });
  return 0;
}
