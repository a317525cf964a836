#include "fields/module_state.h"

#include <ATen/ATen.h>

#include <map>
#include <vector>

#include "util/error.h"

namespace nerfedit {

void LoadModuleState(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& what) {
  struct Expected {
    std::vector<int64_t> sizes;
    at::ScalarType dtype;
  };
  std::map<std::string, Expected> expected;
  for (const auto& item : module.named_parameters()) {
    expected[item.key()] = {item.value().sizes().vec(), item.value().scalar_type()};
  }
  for (const auto& item : module.named_buffers()) {
    expected[item.key()] = {item.value().sizes().vec(), item.value().scalar_type()};
  }
  module.load(archive);
  auto check = [&](const std::string& name, const at::Tensor& t) {
    const Expected& e = expected.at(name);
    NE_CHECK(t.sizes().vec() == e.sizes && t.scalar_type() == e.dtype, what, ": tensor \"", name, "\" is ", t.sizes(),
             " ", t.scalar_type(), " in the checkpoint but the run's config builds ", at::IntArrayRef(e.sizes), " ",
             e.dtype, " (the checkpoint is from another configuration)");
  };
  for (const auto& item : module.named_parameters()) check(item.key(), item.value());
  for (const auto& item : module.named_buffers()) check(item.key(), item.value());
}

void LoadModuleState(torch::nn::Module& module, torch::serialize::InputArchive& record, const std::string& key,
                     const std::string& what) {
  torch::serialize::InputArchive sub;
  record.read(key, sub);
  LoadModuleState(module, sub, what + " (" + key + ")");
}

}  // namespace nerfedit
