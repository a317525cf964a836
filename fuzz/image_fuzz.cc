// PNG / JPEG / any image a dataset names (data/image_io.h over Debian's stb_image).
#include "data/image_io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nerfedit;
  const std::string path = fuzz::WriteInput("image", data, size);
  fuzz::ExpectReadOrRefused([&] { ReadImageInfo(path); });
  fuzz::ExpectReadOrRefused([&] { LoadImage(path); });
  fuzz::ExpectReadOrRefused([&] { LoadImagePremultiplied(path, 2); });
  fuzz::ExpectReadOrRefused([&] { LoadLabelImage(path); });
  return 0;
}
