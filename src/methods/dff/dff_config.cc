#include "methods/dff/dff_config.h"

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

nlohmann::json DffConfig::ToJson() const {
  nlohmann::json j = nerf.ToJson();
  j["teacher"] = teacher;
  j["teacher_mode"] = teacher_mode;
  j["teacher_crop"] = teacher_crop;
  j["teacher_crop_scales"] = teacher_crop_scales;
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
      .Optional("teacher_crop_scales", &c.teacher_crop_scales)
      .Optional("feature_weight", &c.feature_weight)
      .Optional("feature_stop_grad", &c.feature_stop_grad)
      .Optional("feature_ray_fraction", &c.feature_ray_fraction);
  r.Finish();
  c.Check(context);
  return c;
}

DffConfig DffConfig::Tiny(const std::string& data, const std::string& teacher, int64_t steps) {
  DffConfig c;
  c.nerf.data = data;
  c.teacher = teacher;
  c.nerf.test_every = 8;
  c.nerf.trainer.steps = steps;
  c.nerf.batch_rays = 1024;
  c.nerf.target_samples_per_step = 0;
  c.nerf.trainer.eval_every = 0;
  c.nerf.trainer.checkpoint_every = 0;
  c.nerf.grid_resolution = 32;
  c.nerf.grid_warmup_steps = 64;
  c.nerf.field_config = {{"radiance", {{"encoding", {{"log2_hashmap_size", 15}, {"max_resolution", 256}}}}},
                         {"feature_encoding", {{"log2_hashmap_size", 14}, {"num_levels", 8}}}};
  c.nerf.trainer.device = "cpu";
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
  NE_CHECK(teacher_crop == 0 || (teacher_crop >= 8 && teacher_crop <= 1024), context,
           ": teacher_crop must be 0 (a quarter of the image width) or in [8, 1024] pixels, got ", teacher_crop);
  NE_CHECK(!teacher_crop_scales.empty() && teacher_crop_scales.size() <= 8, context,
           ": teacher_crop_scales must hold 1 to 8 scales, got ", teacher_crop_scales.size());
  for (double s : teacher_crop_scales) {
    NE_CHECK(std::isfinite(s) && s >= 0.25 && s <= 4, context, ": teacher_crop_scales must be in [0.25, 4], got ", s);
  }
  NE_CHECK(feature_ray_fraction > 0 && feature_ray_fraction <= 1, context,
           ": feature_ray_fraction must be in (0, 1], got ", feature_ray_fraction);
  NE_CHECK(feature_weight >= 0, context, ": feature_weight must be >= 0, got ", feature_weight);
}

}  // namespace nerfedit
