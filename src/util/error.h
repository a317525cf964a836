// nerfedit's one error type and the check macro that throws it.
#pragma once
#include <c10/util/StringUtil.h>

#include <stdexcept>
#include <string>

namespace nerfedit {

// Errors meant for the user: the message names the file/field and both values. No backtrace.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace nerfedit

// NE_CHECK(cond, "image ", path, " is ", w, "x", h): throws nerfedit::Error when cond is false.
#define NE_CHECK(cond, ...)                                  \
  do {                                                       \
    if (!(cond)) {                                           \
      throw ::nerfedit::Error(::c10::str(__VA_ARGS__));      \
    }                                                        \
  } while (0)

#define NE_FAIL(...) throw ::nerfedit::Error(::c10::str(__VA_ARGS__))
