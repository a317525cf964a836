// NumPy .npy read/write (v1.0, little-endian, C order) for float32 / int32 / uint8 tensors:
// exact depth maps and label maps go to disk in a format every tool reads.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace nerfedit {

void WriteNpy(const std::string& path, const at::Tensor& tensor);  // atomic; CPU, contiguous copy is made
at::Tensor ReadNpy(const std::string& path);                     // throws naming the file on any mismatch

}  // namespace nerfedit
