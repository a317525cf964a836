#include "util/json_reader.h"

#include <cmath>
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

void JsonReader::CheckInteger(const Json& v, const char* key, bool is_signed, int digits) const {
  bool ok = false;
  if (v.is_number_unsigned()) {
    ok = digits >= 64 || v.get<uint64_t>() < (uint64_t{1} << digits);
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    ok = i < 0 ? is_signed && (digits >= 63 || i >= -(int64_t{1} << digits))
               : digits >= 63 || i < (int64_t{1} << digits);
  } else {
    const double d = v.get<double>(), limit = std::ldexp(1.0, digits);
    ok = std::isfinite(d) && d == std::floor(d) && d < limit && d >= (is_signed ? -limit : 0.0);
  }
  NE_CHECK(ok, context_, ": key \"", key, "\" must be a whole number", is_signed ? "" : " >= 0", " below 2^", digits,
           ", got ", v.dump());
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
