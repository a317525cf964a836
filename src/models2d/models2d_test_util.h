// Shared by the models2d tests: fixture paths and the seeded-weights recipe of
// scripts/fixtures/make_models2d_fixtures.py (seeded_state_dict), which it must mirror exactly.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "models2d/safetensors.h"

namespace nerfedit::testing {

inline std::string Models2dFixture(const std::string& name) {
  return std::string(NERFEDIT_SOURCE_DIR) + "/tests/fixtures/models2d/" + name;
}

// In sorted name order, tensor i is manual_seed(seed + i); randn(shape) * scale: VGG convolutions He-scaled by
// fan-in (biases 0.01); transformers: layer-norm weights 1 + 0.1 randn, logit_scale 2.6592, the rest 0.02 randn.
inline TensorMap SeededStateDict(const TensorMap& like, int64_t seed, const std::string& kind) {
  TensorMap out;
  int64_t i = 0;
  for (const auto& [name, t] : like) {
    torch::manual_seed(seed + i++);
    at::Tensor r = torch::randn(t.sizes());
    auto ends_with = [&](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (kind == "vgg") {
      r = ends_with(".weight") ? r * std::sqrt(2.0 / (t.size(1) * t.size(2) * t.size(3))) : r * 0.01;
    } else if (name == "logit_scale") {
      r = torch::tensor(2.6592f);
    } else if ((name.find("norm") != std::string::npos || name.find("layrnorm") != std::string::npos) &&
               ends_with(".weight")) {
      r = 1.0 + 0.1 * r;
    } else {
      r = 0.02 * r;
    }
    out[name] = r;
  }
  return out;
}

inline double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

}  // namespace nerfedit::testing
