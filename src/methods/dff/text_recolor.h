// Local text edits of a scene (issue #15 item 5, the DFF x CLIP-NeRF integration): a region of a `dff` run selected
// by text, click or patch is recoloured so that its renders match a prompt ("a blue sphere") under a CLIP, and only
// that region changes. The edit is an "affine" recolour (edit/edit_ops.h: rgb' = clamp(M rgb + b)) fitted by
// CLIP-NeRF's loss D_CLIP = 1 - cos(E_image(render), E_text(prompt)) on crops of the selection in a few training
// views, plus a pull towards the identity map. Density, features and everything outside the selection are left
// exactly as they were: the fitted 12 numbers go into the run's edits.json like any other edit.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <string>
#include <vector>

#include "edit/edit_ops.h"
#include "edit/selection.h"
#include "methods/nerf/nerf_model.h"
#include "models2d/clip.h"

namespace nerfedit {

struct TextRecolorOptions {
  TORCH_ARG(int64_t, views) = 6;             // training views with the most selected pixels
  TORCH_ARG(int64_t, candidate_views) = 16;  // evenly spaced training views the views are chosen among
  TORCH_ARG(int64_t, steps) = 150;
  TORCH_ARG(double, lr) = 0.02;
  // Weight of |M - M0|^2 + |b|^2, M0 the start (the identity, or the hue scan's rotation): keeps the map close to
  // a hue rotation, so shading and texture survive.
  TORCH_ARG(double, identity_weight) = 0.02;
  TORCH_ARG(int64_t, min_pixels) = 16;  // a view needs this many selected pixels to be used
  // Other phrases the render must not read as (e.g. dff_query's DefaultNegatives of the prompt: the other colours of
  // the same shape). Non-empty adds a cross-entropy over {prompt, negatives} to D_CLIP - a deviation from CLIP-NeRF's
  // D_CLIP alone, whose 1 - cos under the small CLIP has minima at other colours (measured: "blue sphere" turned
  // the red sphere orange).
  TORCH_ARG(std::vector<std::string>, negatives) = {};
  TORCH_ARG(double, contrast_weight) = 1.0;
  // What CLIP is shown: a window of this share of the image width centred on the selection (a quarter: the small
  // CLIP's scene crops and dff's crops teacher), or with 0 the selection's bounding box plus a margin.
  TORCH_ARG(double, window_fraction) = 0.25;
  // Start the descent from the best of 12 hue rotations (a linear map about the grey axis) instead of the identity.
  TORCH_ARG(bool, hue_scan) = true;
  TORCH_ARG(bool, progress) = true;

 public:
  void Check() const;  // throws naming the option out of range
};

struct TextRecolorResult {
  RecolorOptions recolor;      // mode "affine", the fitted matrix and bias, the prompt
  double clip_loss_start = 0;  // mean D_CLIP over the chosen views before fitting
  double clip_loss_end = 0;    // and after
  double prompt_probability_start = 0, prompt_probability_end = 0;  // mean softmax of the prompt among negatives
  std::vector<int64_t> views;                                       // the training views used
};

// The prompt's words the small CLIP at clip_dir was never trained on (empty for other CLIPs, or when it knows them
// all): a small CLIP cannot read words outside its captions, so such prompts are refused rather than fitted.
std::vector<std::string> UnknownPromptWords(const std::string& clip_dir, const std::string& prompt);

// Fits the affine recolour of `selection` in `model` (a dff model: its field renders features) to `prompt` with
// `clip`. Throws when the selection covers fewer than min_pixels in every candidate view, or for a hierarchical
// sampler (its samples depend on a coarse pass the cache does not keep).
TextRecolorResult FitTextRecolor(NerfModel& model, const Selection& selection, const ClipBundle& clip,
                                 const std::string& prompt, const TextRecolorOptions& options = {});

}  // namespace nerfedit
