#include "fields/field_registry.h"

#include "fields/feature_field.h"
#include "fields/hash_grid_field.h"
#include "fields/nerf_mlp_field.h"
#include "util/error.h"

namespace nerfedit {

FieldPtr MakeField(const std::string& kind, const nlohmann::json& config) {
  const nlohmann::json options = config.is_null() ? nlohmann::json::object() : config;
  if (kind == "hash_grid") return HashGridField(HashGridFieldOptions::FromJson(options)).ptr();
  if (kind == "mlp") return NerfMlpField(NerfMlpFieldOptions::FromJson(options)).ptr();
  if (kind == "feature_field") return FeatureField(FeatureFieldOptions::FromJson(options)).ptr();
  std::string known;
  for (const auto& k : RegisteredFieldKinds()) known += (known.empty() ? "" : ", ") + k;
  NE_FAIL("unknown field kind \"", kind, "\" (known: ", known, ")");
}

std::vector<std::string> RegisteredFieldKinds() { return {"hash_grid", "mlp", "feature_field"}; }

}  // namespace nerfedit
