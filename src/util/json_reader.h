// Strict JSON → Options reading: every key must be consumed, so a misspelt key is an error, not a silent default.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <set>
#include <string>

#include "util/error.h"

namespace nerfedit {

using Json = nlohmann::json;

class JsonReader {
 public:
  // `context` names what is being read (a file path or an options struct) for error messages.
  JsonReader(const Json& json, std::string context);

  // Reads json[key] into *value when present; leaves *value (the default) untouched otherwise.
  template <typename T>
  JsonReader& Optional(const char* key, T* value) {
    used_.insert(key);
    auto it = json_.find(key);
    if (it == json_.end()) return *this;
    try {
      *value = it->template get<T>();
    } catch (const nlohmann::json::exception& e) {
      NE_FAIL(context_, ": key \"", key, "\" has the wrong type (", e.what(), "); got ", it->dump());
    }
    return *this;
  }

  // Like Optional, but the key must be present.
  template <typename T>
  JsonReader& Required(const char* key, T* value) {
    NE_CHECK(json_.contains(key), context_, ": missing required key \"", key, "\"");
    return Optional(key, value);
  }

  // A 3-vector key: exactly three numbers (nlohmann would silently drop extra elements).
  JsonReader& OptionalVec3(const char* key, std::array<float, 3>* value);
  JsonReader& RequiredVec3(const char* key, std::array<float, 3>* value);

  const Json& Sub(const char* key);  // json[key], which must exist; marks it used.

  // Throws naming every key that no Optional/Required call consumed.
  void Finish() const;

 private:
  const Json& json_;
  std::string context_;
  std::set<std::string> used_;
};

Json ReadJsonFile(const std::string& path);

// The shortest decimal that reads back as the same float, so JSON shows 0.78 rather than 0.7799999713897705.
double ShortFloat(float v);
Json Vec3Json(const std::array<float, 3>& v);  // [x, y, z] with ShortFloat  // Clear error for a missing file or a syntax error (with the position).

}  // namespace nerfedit
