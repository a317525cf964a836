// Shared by the fuzz targets: the fuzzer's bytes as a file (the loaders take paths, as users give them), and the
// rule every target checks - outside data is either read or refused with a nerfedit::Error (which the CLI prints as
// one clear line); anything else escaping (a torch or std exception) or a crash is a finding.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "util/error.h"

namespace nerfedit::fuzz {

// A folder private to this fuzzing process (libFuzzer may run several workers).
// Removed when the process exits normally (a crashing input's artifact is kept by libFuzzer, not here).
inline const std::string& ScratchDir() {
  struct Scratch {
    std::string path;
    Scratch() : path(std::filesystem::temp_directory_path() / ("nerfedit_fuzz_" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~Scratch() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Scratch dir;
  return dir.path;
}

inline std::string WriteInput(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs f; a nerfedit::Error is the expected refusal of bad input.
template <typename F>
void ExpectReadOrRefused(F&& f) {
  try {
    f();
  } catch (const nerfedit::Error&) {
  }
}

}  // namespace nerfedit::fuzz
