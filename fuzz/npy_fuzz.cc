// .npy arrays (teacher feature caches, exported depth): util/npy.h.
#include "fuzz/fuzz_util.h"
#include "util/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nerfedit::fuzz::WriteInput("array.npy", data, size);
  nerfedit::fuzz::ExpectReadOrRefused([&] { nerfedit::ReadNpy(path); });
  return 0;
}
