// Hugging Face safetensors (CLIP, DINO, VGG weights): header JSON, dtypes, shapes and data offsets.
#include "fuzz/fuzz_util.h"
#include "models2d/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nerfedit::fuzz::WriteInput("weights.safetensors", data, size);
  nerfedit::fuzz::ExpectReadOrRefused([&] { nerfedit::LoadSafetensors(path); });
  return 0;
}
