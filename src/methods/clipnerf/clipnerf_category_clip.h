// The CLIP that CLIP-NeRF's mappers are trained with: any Hugging Face CLIP folder, or by default a small CLIP that
// nerfedit trains itself on procedural chairs (the small CLIP of models2d/small_clip.h knows procedural-scene
// objects, not chairs): renders of random chairs from the category's camera prior, captioned from their exact
// parameters — a colour word and bucketed shape attributes (tall/short back, armrests or none, long/short legs,
// wide/narrow seat) — learnt contrastively with the small CLIP's architecture and optimiser, cached apart from the
// default small CLIP (~/.cache/nerfedit/small_clip_chairs) so DFF's CLIP and figures are untouched.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/category_scene.h"
#include "models2d/clip.h"
#include "models2d/small_clip.h"

namespace nerfedit {

// The chair vocabulary. Colours: the category's palette (data/category_scene.cc RandomChairParams: brown, beige,
// red, blue, white, green) and three more the CLIP also learns (orange, yellow, purple).
struct ChairColour {
  std::string name;
  Rgb rgb;
};
const std::vector<ChairColour>& ChairColours();
int ChairColourIndex(const std::string& name);  // -1 when unknown

// Shape attributes, bucketed from the exact parameters: 0 / 1 as named below, -1 = in the middle band (unsaid).
enum ChairAttribute { kBackAttr = 0, kArmsAttr = 1, kLegsAttr = 2, kSeatAttr = 3 };
constexpr int kNumChairShapeAttributes = 4;
// Phrases of value 0 and 1 of each attribute: {"a short back", "a tall back"}, {"no armrests", "armrests"},
// {"short legs", "long legs"}, {"a narrow seat", "a wide seat"}.
const std::array<std::array<const char*, 2>, kNumChairShapeAttributes>& ChairAttributePhrases();
const std::array<const char*, kNumChairShapeAttributes>& ChairAttributeNames();  // back, armrests, legs, seat
std::array<int, kNumChairShapeAttributes> ChairShapeBuckets(const ChairParams& p);

// What a caption says: colour index or -1, and per attribute 0 / 1 or -1 (unsaid).
struct ChairCaption {
  int colour = -1;
  std::array<int, kNumChairShapeAttributes> shape{-1, -1, -1, -1};
  std::string Text() const;  // "a red chair with a tall back and armrests"; "a chair" when nothing is said
};

// Random chair parameters for CLIP training: the category's shapes (RandomChairParams) recoloured with a random
// vocabulary colour (seat, back, armrests; legs the same or dark), armrests half the time.
struct ChairClipSample {
  ChairParams params;
  int colour = 0;
};
ChairClipSample RandomChairClipSample(uint64_t seed);

// A camera of the chairs' rig (data/category_scene.h RigFor("chairs")) at `size` px; azimuth 0 on the front (+y).
Camera ChairOrbitCamera(double azimuth, double elevation, int64_t size);

struct ChairClipOptions {
  TORCH_ARG(int64_t, train_images) = 1536;  // the pool; refresh_per_step rows re-rendered each step
  TORCH_ARG(int64_t, held_out_images) = 400;
  TORCH_ARG(int64_t, refresh_per_step) = 8;
  TORCH_ARG(int64_t, batch_size) = 64;
  TORCH_ARG(int64_t, steps) = 3000;  // upper bound; the time budget usually ends training first
  TORCH_ARG(double, time_budget_seconds) = 420;  // 0 = steps alone
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(int, threads) = 1;
  TORCH_ARG(bool, progress) = true;
  // The ViT's input and patches. Measured (held-out zero-shot accuracy, ~7 min on 1 loaded thread): 64 px in 16 px
  // patches (16 tokens, the generator's render size) colour 0.98, back 0.84, legs 0.89, seat 0.89, armrests 0.50;
  // 40 px in 8 px patches (25 tokens, the small CLIP's; 5.5 min) colour 0.96, back 0.55, legs 0.90, seat 0.79,
  // armrests 0.48. Neither sees the armrests (bars of 1-2 px at 64 px) well enough to name them.
  TORCH_ARG(int64_t, image_size) = 64;
  TORCH_ARG(int64_t, patch_size) = 16;

 public:
  void Check() const;
  nlohmann::json ToJson() const;
  // The architecture: SmallClipOptions' widths and depths (ViT 4x128 on image_size / patch_size, text 2x128, 128-d
  // joint space), context 24.
  SmallClipOptions Architecture() const;
};

struct ChairClipResult {
  double colour_accuracy = 0;  // held-out zero-shot argmax over "a <colour> chair"
  std::array<double, kNumChairShapeAttributes> attribute_accuracy{};  // two-way over the attribute's phrases
  int64_t steps = 0;
  double train_seconds = 0;
  nlohmann::json ToJson() const;
};

// Trains, evaluates zero-shot on held-out chairs (their own seeds), saves the bundle to out_dir atomically (empty:
// no saving) with its provenance in small_clip_training.json.
ChairClipResult TrainChairClip(const ChairClipOptions& options, const std::string& out_dir,
                               ClipBundle* trained = nullptr);
// Zero-shot accuracies of any CLIP on `count` held-out chairs (seeds disjoint from training's).
ChairClipResult EvaluateChairClip(ClipBundle& bundle, int64_t count, uint64_t seed);

constexpr int kChairClipVocabularyVersion = 1;
std::string DefaultChairClipDir();  // $XDG_CACHE_HOME/nerfedit/small_clip_chairs, else ~/.cache/...
bool IsCurrentChairClip(const std::string& dir);
// dir empty: the default chair CLIP, trained first (TrainChairClip's defaults) when the cache lacks it; otherwise
// any Hugging Face CLIP folder (config.json, model.safetensors, vocab.json, merges.txt). The model is in eval mode.
ClipBundle LoadOrTrainEditClip(const std::string& dir, bool progress = true);

// CLIP image input from renders [B,H,W,3] in [0,1] (differentiable): bilinear resize to the CLIP's input, normalise.
at::Tensor ClipInputFromRenders(const ClipBundle& clip, const at::Tensor& images);
// Unit text embeddings [N,P] of prompts, without gradients.
at::Tensor EncodePrompts(ClipBundle& clip, const std::vector<std::string>& prompts);

}  // namespace nerfedit
