// Radiance fields conditioned on per-instance codes — the shared part of category methods: LOLNeRF's GLO latents
// and CLIP-NeRF's shape/appearance codes. One batch of rays may mix instances: every sample carries its own code
// (a renderer gathers codes[ray_indices] from the rays' instance codes).
#pragma once
#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "fields/field.h"

namespace nerfedit {

class ConditionalField : public torch::nn::Module {
 public:
  // positions [N,3] f32, directions [N,3] f32 unit, codes [N,C] f32 (C = code_dim()).
  virtual FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions, const at::Tensor& codes) = 0;
  virtual at::Tensor QueryDensity(const at::Tensor& positions, const at::Tensor& codes) = 0;  // [N] f32
  virtual int64_t code_dim() const = 0;
  virtual std::string Kind() const = 0;
  virtual nlohmann::json Config() const = 0;
  virtual at::Tensor Aabb() const = 0;  // [2,3] f32: density is zero outside
};

using ConditionalFieldPtr = std::shared_ptr<ConditionalField>;

// One instance of a conditional field: the field with its code fixed, as a plain Field, so the renderer, the viewer,
// edits and exporters work on a category model's instance exactly as on a scene.
class InstanceFieldImpl : public Field {
 public:
  // code: [C] f32 (detached: an instance is rendered, not trained, through this wrapper).
  InstanceFieldImpl(ConditionalFieldPtr field, const at::Tensor& code);

  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override;
  std::string Kind() const override { return "instance:" + field_->Kind(); }
  nlohmann::json Config() const override { return field_->Config(); }
  at::Tensor Aabb() const override { return field_->Aabb(); }
  const at::Tensor& code() const { return code_; }

 private:
  at::Tensor Codes(const at::Tensor& positions) const;  // the code repeated for every position: [N,C]

  ConditionalFieldPtr field_;
  at::Tensor code_;  // [C] f32 buffer "code"
};

}  // namespace nerfedit
