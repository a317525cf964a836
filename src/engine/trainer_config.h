// What every method's training shares and the engine's Trainer reads: limits, evaluation and checkpoint cadence,
// seed and device. A method's config embeds it (flat keys in the method's JSON: "steps", "time_budget_s", ...).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace nerfedit {

class JsonReader;

struct TrainerConfig {
  int64_t steps = 20000;            // stop after this many steps
  double time_budget_s = 0;         // and/or after this much training time (0 = no limit)
  int64_t eval_every = 500;         // steps between held-out evaluations (0 = only at the end)
  int64_t eval_views = 0;           // held-out views per periodic evaluation (0 = all)
  int64_t checkpoint_every = 2000;  // steps between checkpoints (0 = only at the end)
  int64_t seed = 0;
  std::string device = "auto";      // cpu | cuda | auto

  // Reads (and marks as used) the keys above from a method config's reader; writes them into a method's JSON.
  void Read(JsonReader& reader);
  void Write(nlohmann::json* json) const;
  // Throws naming `context`, the key and the value for anything out of range.
  void Check(const std::string& context) const;
};

}  // namespace nerfedit
