#include "util/test_util.h"

#include <cstdlib>
#include <random>

namespace nerfedit::testing {

TempDir::TempDir() {
  std::random_device rd;
  path_ = (std::filesystem::temp_directory_path() / ("nerfedit_test_" + std::to_string(rd()))).string();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string SharedDataDir() {
  std::string candidates[2];
  if (const char* env = std::getenv("NERFEDIT_SHARED_DATA")) candidates[0] = env;
#ifdef NERFEDIT_SOURCE_DIR
  candidates[1] = std::string(NERFEDIT_SOURCE_DIR) + "/../shared/data";
#endif
  for (const auto& c : candidates) {
    if (!c.empty() && std::filesystem::exists(c + "/README.md")) return std::filesystem::canonical(c).string();
  }
  return "";
}

}  // namespace nerfedit::testing
