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

std::vector<int64_t> ParseIndexList(const std::string& text, const std::string& flag) {
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

}  // namespace nerfedit
