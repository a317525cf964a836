// Helpers for tests: temporary directories and the optional shared data folder.
#pragma once
#include <filesystem>
#include <string>

#include "util/error.h"

namespace nerfedit::testing {

// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ../shared/data beside the checkout (or $NERFEDIT_SHARED_DATA); empty string when absent.
std::string SharedDataDir();

}  // namespace nerfedit::testing

namespace nerfedit {
// The nerfedit::Error message f() throws, or "(no error)".
template <typename F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace nerfedit

// Skips the current test with a reason when ../shared/data is absent.
#define NE_REQUIRE_SHARED_DATA(var)                                                          \
  const std::string var = ::nerfedit::testing::SharedDataDir();                              \
  if (var.empty()) GTEST_SKIP() << "../shared/data is absent: this test needs the real data"
