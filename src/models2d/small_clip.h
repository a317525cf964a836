// A small CLIP that nerfedit trains itself (`nerfedit clip train`): a ViT and a text transformer learned
// contrastively (Radford 2021) on procedural image–caption pairs, saved in the Hugging Face CLIP layout so every
// pipeline loads it like any other CLIP.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include <array>
#include <cstdint>
#include <string>

#include "models2d/clip.h"
#include "models2d/small_clip_data.h"
#include "models2d/small_clip_scene_crops.h"

namespace nerfedit {

struct SmallClipOptions {
 public:
  // 5x5 patches of 8. Measured in 9 minutes on 2 cores: 32 px 0.781 zero-shot (shape 0.805), 40 px 0.831 (0.842).
  TORCH_ARG(int64_t, image_size) = 40;
  TORCH_ARG(int64_t, patch_size) = 8;
  TORCH_ARG(int64_t, vision_width) = 128;
  TORCH_ARG(int64_t, vision_layers) = 4;
  TORCH_ARG(int64_t, text_width) = 128;
  TORCH_ARG(int64_t, text_layers) = 2;  // captions are at most 6 words from a 40-word vocabulary
  TORCH_ARG(int64_t, heads) = 4;               // both towers
  TORCH_ARG(int64_t, context_length) = 16;
  TORCH_ARG(int64_t, projection_dim) = 128;
  TORCH_ARG(int64_t, steps) = 3000;            // upper bound; the time budget usually ends training first
  TORCH_ARG(double, time_budget_seconds) = 0;  // 0 = no limit (then `steps` alone sets the schedule)
  TORCH_ARG(int64_t, batch_size) = 64;         // distinct object classes per batch (<= the number of classes)
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, weight_decay) = 0.1;
  TORCH_ARG(int64_t, warmup_steps) = 100;
  TORCH_ARG(int64_t, train_per_class) = 48;    // pre-rendered training images per class
  TORCH_ARG(int64_t, held_out_per_class) = 4;  // held-out images per class (fresh viewpoints and placements)
  TORCH_ARG(int, supersample) = 2;
  // Random shifts of training images (they are also flipped). Measured in 9 minutes: shifts of up to 4 px 0.831
  // zero-shot (training accuracy 0.84: underfit), none 0.944 — the renders already vary placement and viewpoint.
  TORCH_ARG(int64_t, max_shift) = 0;
  TORCH_ARG(int64_t, refresh_per_step) = 8;    // training-pool images re-rendered from fresh viewpoints per step
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(bool, progress) = true;
  // Also contrast each image with the whole full-caption set (see TrainSmallClip).
  TORCH_ARG(bool, caption_set_negatives) = true;
  // Scene crops (small_clip_scene_crops.h) added to every batch; 0 trains on caption images alone.
  TORCH_ARG(int64_t, scene_crops) = 32;
  TORCH_ARG(int64_t, scene_pool) = 96;        // scenes in the crop pool; one is re-rendered per step
  TORCH_ARG(int64_t, scene_crop) = 32;        // window in scene pixels (match the teacher's teacher_crop)
  TORCH_ARG(int64_t, scene_image_size) = 128;  // scene render width (match the dataset's)
  TORCH_ARG(double, scene_same_colour_pairs) = 0.0;  // SceneCropOptions::same_colour_pairs
  TORCH_ARG(int, threads) = 2;                // BLAS threads while training: +15% steps on 2 cores (see TrainSmallClip)

 public:
  void Check() const;  // throws naming the field and its value
  nlohmann::json ToJson() const;
  static SmallClipOptions FromJson(const nlohmann::json& j);
  // The CLIP architecture for a tokenizer of vocab_size tokens whose end token is end_token.
  ClipConfig MakeClipConfig(int64_t vocab_size, int64_t end_token) const;
  SceneCropOptions SceneCropConfig() const;
};

struct SmallClipResult {
  double zero_shot_top1 = 0;     // held-out images, argmax over every full caption
  double train_seconds = 0;      // rendering + training + evaluation, wall clock
  double render_seconds = 0;     // pre-rendering the image pools
  int64_t steps = 0;
  double final_loss = 0;         // mean over the last 20 steps
  double final_batch_accuracy = 0;
  int64_t num_captions = 0;      // size of the zero-shot caption set
  int64_t num_held_out = 0;
  // Held-out attribute accuracy of the zero-shot prediction: shape, colour, size, count.
  std::array<double, 4> attribute_accuracy{};
  // Held-out scene crops, argmax over every "colour shape" caption and "ground" (what dff's teacher relies on).
  double scene_crop_top1 = 0;
  nlohmann::json ToJson() const;
};

// Trains, evaluates zero-shot on the held-out split and saves the bundle to out_dir atomically (written to a
// temporary sibling, then renamed over out_dir). An empty out_dir skips saving (tests).
// The caption vocabulary a small CLIP was trained on, recorded in its small_clip_training.json: 2 added "grey".
// A cached small CLIP from an older vocabulary cannot name what the current nerfedit asks for.
constexpr int kSmallClipVocabularyVersion = 2;
// Whether dir holds a small CLIP of the current vocabulary (false when it is absent, foreign or older).
bool IsCurrentSmallClip(const std::string& dir);
// Where the small CLIP is cached: $NERFEDIT_SMALL_CLIP, else the cache's small_clip (util/runtime.h CacheDir).
std::string DefaultSmallClipDir();

SmallClipResult TrainSmallClip(const SmallClipOptions& options, const std::string& out_dir,
                               ClipBundle* trained = nullptr);

// Zero-shot top-1 of `model` on pool images against the full caption set.
// attribute_accuracy (optional): how often the predicted caption has the right shape, colour, size, count.
double ZeroShotTop1(ClipModel model, const ClipTokenizer& tokenizer, int64_t context_length,
                    const CaptionedImagePool& pool, std::array<double, 4>* attribute_accuracy = nullptr);

// Top-1 of scene crops among every "colour shape" caption plus "ground".
double SceneCropTop1(ClipModel model, const ClipTokenizer& tokenizer, int64_t context_length,
                     const SceneCropPool& pool);

}  // namespace nerfedit
