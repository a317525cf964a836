// Loading a module's weights from a checkpoint record without letting the record change the module's shapes.
//
// torch::nn::Module::load replaces every parameter and buffer with the tensor it reads (Tensor::set_), whatever that
// tensor's shape and dtype: a checkpoint of another configuration (run.json's field options edited after training,
// a record from another run) would leave, say, a hash table smaller than the options the CPU kernel indexes it by.
#pragma once
#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>

#include <string>

namespace nerfedit {

// module.load(archive), then a nerfedit::Error naming `what`, the tensor and both shapes/dtypes unless every parameter
// and buffer kept the shape and dtype the module was built with. On error the module's weights are undefined: build
// it again before use.
void LoadModuleState(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& what);

// The same for the sub-record `key` of `record` (a checkpoint that holds several modules).
void LoadModuleState(torch::nn::Module& module, torch::serialize::InputArchive& record, const std::string& key,
                     const std::string& what);

}  // namespace nerfedit
