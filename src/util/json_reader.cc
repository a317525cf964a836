#include "util/json_reader.h"

#include <fstream>
#include <sstream>

namespace nerfedit {

JsonReader::JsonReader(const Json& json, std::string context) : json_(json), context_(std::move(context)) {
  NE_CHECK(json_.is_object(), context_, ": expected a JSON object, got ", json_.type_name());
}

const Json& JsonReader::Sub(const char* key) {
  NE_CHECK(json_.contains(key), context_, ": missing required key \"", key, "\"");
  used_.insert(key);
  return json_.at(key);
}

void JsonReader::Finish() const {
  std::string unknown;
  for (auto it = json_.begin(); it != json_.end(); ++it) {
    if (!used_.count(it.key())) unknown += (unknown.empty() ? "\"" : ", \"") + it.key() + "\"";
  }
  NE_CHECK(unknown.empty(), context_, ": unknown key(s) ", unknown);
}

Json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  NE_CHECK(in.good(), "cannot open ", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return Json::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    NE_FAIL(path, ": malformed JSON: ", e.what());
  }
}

}  // namespace nerfedit
