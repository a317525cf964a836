// The generic training command over the method registry: `nerfedit train`, `dff train` and `lolnerf train` are it
// with their method's own flags. Common flags: --data --out --resume --config --steps --time-budget --batch-rays --lr
// --eval-every --device --quiet and the data-parallel --world-size --rank --master.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace nerfedit {

// Flags of one method: added to the parser, then turned into config keys.
struct MethodFlags {
  std::function<void(CLI::App&)> add;
  std::function<void(nlohmann::json*)> apply;
  // The radiance-field sampling flags (--sampler --step-size --grid-resolution --downscale --test-every): methods
  // whose configs have those keys.
  bool sampling_flags = true;
};

int TrainCommand(int argc, char** argv, const std::string& method, const std::string& name,
                 const std::string& description, MethodFlags method_flags);

}  // namespace nerfedit
