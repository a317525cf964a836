#include "fields/conditional_field.h"

#include <ATen/ATen.h>

#include "util/error.h"

namespace nerfedit {

InstanceFieldImpl::InstanceFieldImpl(ConditionalFieldPtr field, const at::Tensor& code) : field_(std::move(field)) {
  NE_CHECK(field_ != nullptr, "instance field: no conditional field");
  NE_CHECK(code.dim() == 1 && code.size(0) == field_->code_dim(), "instance field: the code has shape ", code.sizes(),
           " but the ", field_->Kind(), " field takes ", field_->code_dim(), "-d codes");
  register_module("field", field_);
  code_ = register_buffer("code", code.detach().to(at::kFloat).clone());
}

at::Tensor InstanceFieldImpl::Codes(const at::Tensor& positions) const {
  return code_.to(positions.device()).unsqueeze(0).expand({positions.size(0), code_.size(0)});
}

FieldOutputs InstanceFieldImpl::Query(const at::Tensor& positions, const at::Tensor& directions) {
  return field_->Query(positions, directions, Codes(positions));
}

at::Tensor InstanceFieldImpl::QueryDensity(const at::Tensor& positions) {
  return field_->QueryDensity(positions, Codes(positions));
}

}  // namespace nerfedit
