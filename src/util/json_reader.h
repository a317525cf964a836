// Strict JSON → Options reading: every key must be consumed, so a misspelt key is an error, not a silent default.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

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
    CheckIntegers<T>(*it, key);
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
  template <typename T>
  struct IsSequence : std::false_type {};
  template <typename U>
  struct IsSequence<std::vector<U>> : std::true_type {};
  template <typename U, size_t N>
  struct IsSequence<std::array<U, N>> : std::true_type {};

  // nlohmann turns a JSON number into an integer with static_cast: a float outside the type's range is undefined
  // behaviour (1e30 for an int64 key; UBSan float-cast-overflow, found by fuzzing run.json), and a fraction or a wider
  // integer is silently cut (3.7 -> 3, 2^40 -> 0 for an int). So integer keys, also inside arrays, must hold a whole
  // number the type can represent (1e4 is fine for an integer key).
  template <typename T>
  void CheckIntegers(const Json& v, const char* key) const {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (v.is_number()) CheckInteger(v, key, std::is_signed_v<T>, std::numeric_limits<T>::digits);
    } else if constexpr (IsSequence<T>::value) {
      if (v.is_array()) {
        for (const Json& element : v) CheckIntegers<typename T::value_type>(element, key);
      }
    }
  }
  // Throws unless the number v is a whole number in [-2^digits, 2^digits) (signed) or [0, 2^digits) (unsigned).
  void CheckInteger(const Json& v, const char* key, bool is_signed, int digits) const;

  const Json& json_;
  std::string context_;
  std::set<std::string> used_;
};

Json ReadJsonFile(const std::string& path);

// The shortest decimal that reads back as the same float, so JSON shows 0.78 rather than 0.7799999713897705.
double ShortFloat(float v);
Json Vec3Json(const std::array<float, 3>& v);  // [x, y, z] with ShortFloat  // Clear error for a missing file or a syntax error (with the position).

}  // namespace nerfedit
