// What the Hugging Face model loaders (CLIP, ViT) share: reading config.json keys that HF omits when they equal its
// defaults, and the activations its configs name.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <string>

#include "util/error.h"

namespace nerfedit {

// Reads `key` into *value when present and not null; a value of the wrong type is an error naming the key.
template <typename T>
void ReadHfKeyIfPresent(const nlohmann::json& j, const char* key, T* value, const std::string& context) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    *value = it->template get<T>();
  } catch (const nlohmann::json::exception&) {
    NE_FAIL(context, ": key \"", key, "\" has the wrong type: ", it->dump());
  }
}

// hidden_act of a HF config: "quick_gelu" (CLIP) or "gelu" (ViT, DINO).
inline at::Tensor HfActivation(const at::Tensor& x, const std::string& act, const char* model) {
  if (act == "quick_gelu") return x * at::sigmoid(1.702 * x);
  if (act == "gelu") return at::gelu(x);
  NE_FAIL(model, ": unknown hidden_act \"", act, "\" (expected quick_gelu or gelu)");
}

}  // namespace nerfedit
