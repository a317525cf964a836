// The radiance-field interface every sampler, renderer, edit and exporter talks to.
// Torch's forward() is not virtual, so the shared interface is this abstract Module with typed outputs.
#pragma once
#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include <string>

namespace nerfedit {

struct FieldOutputs {
  at::Tensor density;   // [N] f32 >= 0: volume density sigma per unit world length
  at::Tensor rgb;       // [N,3] f32 in [0,1]
  at::Tensor features;  // [N,F] f32 semantic features; undefined unless the field has a feature head
};

class Field : public torch::nn::Module {
 public:
  // positions [N,3] f32 world coordinates; directions [N,3] f32 unit view directions (ray directions).
  virtual FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) = 0;
  // Density and colour for a render that shows no features: a field with a feature head skips it. Fields whose colour
  // depends on their features (edits select by them) keep the default: Query, features dropped.
  virtual FieldOutputs QueryColour(const at::Tensor& positions, const at::Tensor& directions) {
    FieldOutputs out = Query(positions, directions);
    out.features = at::Tensor();
    return out;
  }
  // Density only (occupancy-grid updates and proposal passes need no colour): [N] f32.
  virtual at::Tensor QueryDensity(const at::Tensor& positions) = 0;
  // "hash_grid", "mlp", ...: the registry name used by checkpoints.
  virtual std::string Kind() const = 0;
  // The resolved options, enough to rebuild the same field (stored in checkpoints).
  virtual nlohmann::json Config() const = 0;
  // Scene bounds [2,3] f32 (min row, max row) outside which density is zero.
  virtual at::Tensor Aabb() const = 0;
};

using FieldPtr = std::shared_ptr<Field>;

}  // namespace nerfedit
