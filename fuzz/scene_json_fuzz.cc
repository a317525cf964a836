// Procedural scene files (`nerfedit scene make --scene FILE`): read exactly as the CLI reads them.
#include "data/procedural_scene.h"
#include "fuzz/fuzz_util.h"
#include "util/json_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nerfedit;
  const std::string path = fuzz::WriteInput("scene.json", data, size);
  fuzz::ExpectReadOrRefused([&] { ProceduralScene::FromJson(ReadJsonFile(path)); });
  return 0;
}
