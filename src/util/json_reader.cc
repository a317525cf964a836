#include "util/json_reader.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace nerfedit {

JsonReader::JsonReader(const Json& json, std::string context) : json_(json), context_(std::move(context)) {
  NE_CHECK(json_.is_object(), context_, ": expected a JSON object, got ", json_.type_name());
}

JsonReader& JsonReader::OptionalVec3(const char* key, std::array<float, 3>* value) {
  if (json_.contains(key)) {
    const Json& v = json_.at(key);
    NE_CHECK(v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() && v[2].is_number(), context_,
             ": \"", key, "\" must be 3 numbers, got ", v.dump());
  }
  return Optional(key, value);
}

JsonReader& JsonReader::RequiredVec3(const char* key, std::array<float, 3>* value) {
  NE_CHECK(json_.contains(key), context_, ": missing required key \"", key, "\"");
  return OptionalVec3(key, value);
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

double ShortFloat(float v) {
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    if (std::strtof(buf, nullptr) == v) return std::strtod(buf, nullptr);
  }
  return v;
}

Json Vec3Json(const std::array<float, 3>& v) { return {ShortFloat(v[0]), ShortFloat(v[1]), ShortFloat(v[2])}; }

Json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  NE_CHECK(in.good(), "cannot open ", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return Json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999 (fuzzed)
    NE_FAIL(path, ": malformed JSON: ", e.what());
  }
}

}  // namespace nerfedit
