// Shared by the clipnerf test files: the tiny generator they train in seconds on one thread.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace nerfedit {

// A clipnerf user config on `data` with the tiny generator (8 + 8 codes, a 3 x 32 trunk, T 32 wide, 16 samples, no
// evaluation or checkpoints during training); `extra`'s keys are added or replace these (steps, objective, ...).
inline nlohmann::json TinyClipnerfConfig(const std::string& data,
                                         const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json config = {
      {"data", data},       {"shape_code_dim", 8}, {"appearance_code_dim", 8}, {"position_frequencies", 4},
      {"deform_width", 32}, {"hidden_dim", 32},    {"num_layers", 3},          {"color_width", 16},
      {"num_samples", 16},  {"eval_every", 0},     {"checkpoint_every", 0}};
  config.update(extra);
  return config;
}

}  // namespace nerfedit
