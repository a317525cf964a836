// Code edits of a CLIP-NeRF generator — the groundwork of the text/image mappers (which add offsets to z_s and z_a):
// swapping or interpolating the shape code z_s or the appearance code z_a between instances, and measuring how
// disentangled the generator is against the procedural category's exact truth:
//   an appearance swap (z_s of A, z_a of B) should keep A's silhouette   -> IoU of the opacity masks, vs before and
//                                                                          vs A's exact mask
//   a shape swap (z_s of B, z_a of A) should keep A's colours            -> shift of the mean foreground hue, vs
//                                                                          before and vs A's exact image
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "data/category_scene.h"
#include "eval/image_metrics.h"  // MeanForegroundHue, HueDistanceDeg
#include "methods/clipnerf/clipnerf_model.h"

namespace nerfedit {

// [z_s | z_a] with z_s = (1 - shape_t) a_s + shape_t b_s and z_a = (1 - appearance_t) a_a + appearance_t b_a.
// a, b: [S + A] codes. t = 0 keeps a's part, 1 takes b's (a swap); other values interpolate (or extrapolate).
at::Tensor MixCodes(const ClipnerfModel& model, const at::Tensor& a, const at::Tensor& b, double shape_t,
                    double appearance_t);

// MeanForegroundHue and HueDistanceDeg (the code swaps' hue figures) are in eval/image_metrics.h.

struct DisentanglementOptions {
  TORCH_ARG(int64_t, pairs) = 20;            // (A, B) pairs of training images, A != B, drawn with `seed`
  TORCH_ARG(int64_t, seed) = 0;
  TORCH_ARG(double, min_saturation) = 0.15;  // A's with a greyer exact foreground are skipped for the hue figures
};

struct DisentanglementReport {
  int64_t pairs = 0, hue_pairs = 0;
  double app_swap_iou = 0;            // mean IoU(silhouette after an appearance swap, before)
  double app_swap_gt_iou = 0;         // mean IoU(silhouette after an appearance swap, A's exact mask)
  double before_gt_iou = 0;           // mean IoU(silhouette before, A's exact mask): the reconstruction's own error
  double shape_swap_hue_shift_deg = 0;     // mean |hue after a shape swap - hue before|
  double shape_swap_gt_hue_shift_deg = 0;  // mean |hue after a shape swap - hue of A's exact image|
  double app_swap_hue_change_deg = 0;      // mean |hue after an appearance swap - before|: the swap does something
  nlohmann::json per_pair = nlohmann::json::array();
  nlohmann::json ToJson() const;
};

// Renders every pair from A's training camera with the model's learnt codes: A, A with B's appearance, A with B's
// shape. data: the training data the model was trained on (images, masks, latent_index).
DisentanglementReport MeasureDisentanglement(ClipnerfModel& model, const CategoryDataset& data,
                                             const DisentanglementOptions& options = {});

}  // namespace nerfedit
