// Shared by the clipnerf test files: the tiny generator they train in seconds on one thread, and a tiny CLIP.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "models2d/clip.h"

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

// A random CLIP small enough for a test step: 16-px images in 8-px patches, one layer per tower, 16-d embeddings.
inline ClipConfig TinyClipConfig() {
  ClipConfig config;
  config.vision.hidden_size = 32, config.vision.intermediate_size = 64, config.vision.num_hidden_layers = 1;
  config.vision.num_attention_heads = 2, config.vision.image_size = 16, config.vision.patch_size = 8;
  config.text.vocab_size = 300, config.text.hidden_size = 32, config.text.intermediate_size = 64;
  config.text.num_hidden_layers = 1, config.text.num_attention_heads = 2, config.text.max_position_embeddings = 8;
  config.projection_dim = 16;
  return config;
}

}  // namespace nerfedit
