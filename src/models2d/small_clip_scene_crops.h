// Scene crops for the small CLIP: windows cut from multi-object procedural scenes the way the feature-field
// teacher cuts them (a square window centred on a pixel, LERF-style), captioned by what the centre pixel shows
// ("red sphere", "sphere", "red", or "ground"). Single-object caption images alone never show the teacher's
// situation — an object larger than the frame, neighbours at the border, ground between them — so a small CLIP
// trained only on them embeds scene crops poorly (measured: text mIoU 0.24 on the default scene).
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>

#include "data/procedural_scene.h"

namespace nerfedit {

struct SceneCropOptions {
  TORCH_ARG(int64_t, scene_image_size) = 128;  // the procedural dataset's default width
  TORCH_ARG(int64_t, crop) = 32;               // window in scene pixels (the teacher's default teacher_crop)
  TORCH_ARG(int64_t, crops_per_scene) = 16;
  TORCH_ARG(double, ground_fraction) = 0.25;   // windows centred on ground; the rest on objects (sky: never)
  TORCH_ARG(int, supersample) = 2;
  // Probability that a scene gives a second object the first one's colour (with another shape): same-colour
  // distractors that only the shape tells apart, the case a colour-only feature cannot select.
  TORCH_ARG(double, same_colour_pairs) = 0.0;

 public:
  void Check() const;
};

// A random scene of the default scene's family: 3-5 objects of random shape and caption colour (distinct
// shape-colour pairs), sizes between the caption images' "small" and "large", spread over the ground.
ProceduralScene RandomCaptionScene(uint64_t seed, double same_colour_pairs = 0.0);

struct SceneCropPool {
  at::Tensor images;  // [N,3,S,S] f32, normalised by ClipPreprocess
  at::Tensor shape;   // [N] i64 index into CaptionShapes(); -1 = ground
  at::Tensor colour;  // [N] i64 index into CaptionColours(); -1 = ground
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// `scenes` scenes, crops_per_scene windows each, resized to image_size. Deterministic per seed.
SceneCropPool RenderSceneCropPool(int64_t scenes, int64_t image_size, uint64_t seed, const SceneCropOptions& options);

// Re-renders the crops of scene slot `slot` (rows slot*crops_per_scene ...) from a new scene of seed `seed`.
void RerenderSceneSlot(SceneCropPool* pool, int64_t slot, uint64_t seed, const SceneCropOptions& options);

}  // namespace nerfedit
