// Hugging Face safetensors I/O: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then raw little-endian data.
// This is the format every pretrained 2D network (CLIP, DINO ViT, VGG) is loaded from and saved to.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <set>
#include <string>

namespace torch::nn {
class Module;
}

namespace nerfedit {

using TensorMap = std::map<std::string, at::Tensor>;

struct SafetensorsFile {
  TensorMap tensors;                            // CPU tensors in the file's dtype (f32, f16, bf16, i64, ...)
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
};

// Reads the whole file; throws naming the file and the tensor for any inconsistency (truncated file, header length
// beyond the file, offsets out of range, overlapping or leaving gaps, unknown dtype, shape/byte-count mismatch).
SafetensorsFile ReadSafetensors(const std::string& path);

// ReadSafetensors(path).tensors with every floating tensor (F16, BF16, F64) converted to f32.
TensorMap LoadSafetensors(const std::string& path);

// Writes tensors (any device; f32/f16/bf16/f64/i64/i32/u8/bool) in name order, atomically.
void SaveSafetensors(const std::string& path, const TensorMap& tensors,
                     const std::map<std::string, std::string>& metadata = {});

struct LoadStateDictOptions {
  // Maps a file's name to the module's name; an empty result drops the tensor (e.g. HF's unused position_ids).
  std::function<std::string(const std::string&)> rename;
};

// Copies every parameter and buffer of `module` from `tensors` by name (after options.rename). Throws, naming `source`,
// on a shape mismatch (the tensor and both shapes) and on missing or unexpected names (listing them all).
// Values are converted to each parameter's dtype and device.
void LoadStateDict(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                   const LoadStateDictOptions& options = {});

// Every parameter and buffer of `module` by its dotted name, detached, on the CPU.
TensorMap StateDict(const torch::nn::Module& module);

}  // namespace nerfedit
