// Builds a field from its registry name and JSON options; checkpoints store Kind() and Config() to rebuild it.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "fields/field.h"

namespace nerfedit {

// kind: "hash_grid" (HashGridFieldOptions) or "mlp" (NerfMlpFieldOptions). Unknown kinds and unknown option keys
// throw nerfedit::Error naming them. An empty JSON object (or null) gives the defaults.
FieldPtr MakeField(const std::string& kind, const nlohmann::json& config);

// Every kind MakeField accepts (the generic field test runs each through the same checks).
std::vector<std::string> RegisteredFieldKinds();

}  // namespace nerfedit
