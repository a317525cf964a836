// What CLIP-NeRF's inversion and FD figures need from a CLIP: image embeddings of renders (differentiable, so a loss
// can reach the render) and the CLIP distance D_CLIP = 1 - cos. Renders are [N,H,W,3] in [0,1]; they are resized
// bilinearly to the vision tower's input (the paper's renders are CLIP's size already; ours are 32-64 px) and
// normalised with CLIP's mean/std.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "models2d/clip.h"
#include "models2d/small_clip.h"  // DefaultSmallClipDir

namespace nerfedit {

// images [N,H,W,3] f32 in [0,1] -> [N,P] L2-normalised image embeddings, in batches of `batch` (differentiable).
at::Tensor ClipImageEmbeddings(ClipModel& clip, const at::Tensor& images, int64_t batch = 64);
// D_CLIP(a, b) = 1 - cos(a, b) per row of a [N,P] and b [N,P] or [1,P] (rows L2-normalised or not) -> [N].
at::Tensor ClipDistance(const at::Tensor& a, const at::Tensor& b);
// The CLIP the clipnerf commands use by default: the small CLIP (DefaultSmallClipDir) — what `nerfedit clip train`
// writes.
inline std::string DefaultClipnerfClipDir() { return DefaultSmallClipDir(); }
// Loads a CLIP folder (config.json + model.safetensors) for embedding only: eval mode, no parameter gradients.
ClipModel LoadFrozenClip(const std::string& dir);

}  // namespace nerfedit
