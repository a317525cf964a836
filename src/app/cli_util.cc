#include "app/cli_util.h"

#include <sstream>

#include "util/error.h"

namespace nerfedit {

int ParseCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return -1;
}

CLI::Validator Positive() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "\"" + input + "\" is not a number";
        return value > 0 ? std::string() : "must be > 0, got " + input;
      },
      "POSITIVE");
}

CLI::Validator NonNegative() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "\"" + input + "\" is not a number";
        return value >= 0 ? std::string() : "must be >= 0, got " + input;
      },
      "NON-NEGATIVE");
}

std::vector<int64_t> ParseIndexList(const std::string& text, const std::string& flag) {
  NE_CHECK(!text.empty(), flag, ": expected a list of integers like 0,3,7, got nothing");
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      NE_CHECK(used == item.size(), "");
    } catch (...) {
      NE_FAIL(flag, ": \"", item, "\" is not an integer (expected a list like 0,3,7)");
    }
  }
  return out;
}

std::vector<float> ParseFloatList(const std::string& text, const std::string& flag) {
  std::vector<float> out;
  for (const std::string& item : SplitList(text)) {
    try {
      size_t used = 0;
      out.push_back(std::stof(item, &used));
      NE_CHECK(used == item.size(), "");
    } catch (...) {
      NE_FAIL(flag, ": \"", item, "\" is not a number (expected a list like 0.5,-1,2)");
    }
  }
  NE_CHECK(!out.empty(), flag, ": expected a list of numbers like 0.5,-1,2, got \"", text, "\"");
  return out;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
  }
  return out;
}

}  // namespace nerfedit
