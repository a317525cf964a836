#include "engine/trainer_config.h"

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

void TrainerConfig::Read(JsonReader& r) {
  r.Optional("steps", &steps)
      .Optional("time_budget_s", &time_budget_s)
      .Optional("eval_every", &eval_every)
      .Optional("eval_views", &eval_views)
      .Optional("checkpoint_every", &checkpoint_every)
      .Optional("seed", &seed)
      .Optional("device", &device);
}

void TrainerConfig::Write(nlohmann::json* j) const {
  (*j)["steps"] = steps;
  (*j)["time_budget_s"] = time_budget_s;
  (*j)["eval_every"] = eval_every;
  (*j)["eval_views"] = eval_views;
  (*j)["checkpoint_every"] = checkpoint_every;
  (*j)["seed"] = seed;
  (*j)["device"] = device;
}

void TrainerConfig::Check(const std::string& context) const {
  NE_CHECK(steps >= 1, context, ": steps must be >= 1, got ", steps);
  NE_CHECK(time_budget_s >= 0, context, ": time_budget_s must be >= 0, got ", time_budget_s);
  NE_CHECK(eval_every >= 0, context, ": eval_every must be >= 0 (0 = only at the end), got ", eval_every);
  NE_CHECK(eval_views >= 0, context, ": eval_views must be >= 0 (0 = all), got ", eval_views);
  NE_CHECK(checkpoint_every >= 0, context, ": checkpoint_every must be >= 0 (0 = only at the end), got ",
           checkpoint_every);
  NE_CHECK(device == "auto" || device == "cpu" || device == "cuda", context,
           ": device must be cpu, cuda or auto, got \"", device, "\"");
}

}  // namespace nerfedit
