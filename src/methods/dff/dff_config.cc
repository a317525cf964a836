#include "methods/dff/dff_config.h"

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

nlohmann::json DffConfig::ToJson() const {
  nlohmann::json j = nerf.ToJson();
  j["teacher"] = teacher;
  j["teacher_mode"] = teacher_mode;
  j["teacher_crop"] = teacher_crop;
  j["feature_weight"] = feature_weight;
  j["feature_stop_grad"] = feature_stop_grad;
  j["feature_ray_fraction"] = feature_ray_fraction;
  return j;
}

DffConfig DffConfig::FromJson(const nlohmann::json& j, const std::string& context) {
  DffConfig c;
  JsonReader r(j, context);
  c.nerf.Read(r);
  r.Optional("teacher", &c.teacher)
      .Optional("teacher_mode", &c.teacher_mode)
      .Optional("teacher_crop", &c.teacher_crop)
      .Optional("feature_weight", &c.feature_weight)
      .Optional("feature_stop_grad", &c.feature_stop_grad)
      .Optional("feature_ray_fraction", &c.feature_ray_fraction);
  r.Finish();
  c.Check(context);
  return c;
}

void DffConfig::Check(const std::string& context) const {
  nerf.Check(context);
  NE_CHECK(nerf.field == "feature_field", context, ": a dff run trains field \"feature_field\", got \"", nerf.field,
           "\"");
  NE_CHECK(nerf.sampler != "hierarchical", context,
           ": dff trains with the occupancy or stratified sampler, not \"hierarchical\"");
  NE_CHECK(teacher_mode == "auto" || teacher_mode == "dense" || teacher_mode == "crops", context,
           ": teacher_mode must be auto, dense or crops, got \"", teacher_mode, "\"");
  NE_CHECK(teacher_crop >= 8 && teacher_crop <= 1024, context, ": teacher_crop must be in [8, 1024] pixels, got ",
           teacher_crop);
  NE_CHECK(feature_ray_fraction > 0 && feature_ray_fraction <= 1, context,
           ": feature_ray_fraction must be in (0, 1], got ", feature_ray_fraction);
  NE_CHECK(feature_weight >= 0, context, ": feature_weight must be >= 0, got ", feature_weight);
}

}  // namespace nerfedit
