// How well CLIP-NeRF's text edits work, judged without the CLIP that trained the mappers (methods/clipnerf/
// clipnerf_judge.h): each prompt of a library applied to held-out instances (the code table's last rows, never a
// mapper training code) whose exact parameters (category.json) or judged colour do not already satisfy it:
//   colour prompt  success when the edited render's mean foreground colour lands in the named colour's band
//   shape prompt   success when the named silhouette attribute moves the named way by a clear margin
// plus the disentanglement of the edits (silhouette IoU of colour edits, hue shift of shape edits), the feed-forward
// edit's time, one 128 px view's render time, and the Fréchet distance between the CLIP image embeddings of real
// images (the dataset's) and of the generator's renders of every instance from its training camera, before and
// after a random prompt of the library (the paper's FID table, in the embedding that is available).
#pragma once
#include <torch/arg.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/category_scene.h"
#include "methods/clipnerf/clipnerf_mapper.h"

namespace nerfedit {

struct EditEvalOptions {
  TORCH_ARG(int64_t, instances_per_prompt) = 24;
  TORCH_ARG(int64_t, held_out_from) = -1;  // first held-out instance (mappers.json's held_out_from); required
  TORCH_ARG(int64_t, judge_size) = 128;
  TORCH_ARG(bool, fd) = true;  // the Fréchet distances (renders every instance twice)
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(bool, progress) = true;
};

struct EditEvalReport {
  double colour_success = 0, shape_success = 0;
  double app_iou = 0;              // mean silhouette IoU (front + side judge views) after vs before, colour edits
  double shape_hue_shift_deg = 0;  // mean |hue after - hue before| of shape edits (instances with a hue)
  double edit_ms = 0;              // mean E(t) + mapper forward per edit
  double render_ms = 0;            // mean time of one judge_size x judge_size view
  double fd_before = -1, fd_after = -1;
  int64_t colour_edits = 0, shape_edits = 0;
  nlohmann::json per_prompt = nlohmann::json::array();
  nlohmann::json ToJson() const;
};

// category: the dataset's category.json (per-instance exact parameters); data: its training images (latent_index
// gives each instance's camera).
EditEvalReport EvaluateTextEdits(ClipnerfModel& model, ClipMappers& mappers, ClipBundle& clip,
                                 const std::vector<EditPrompt>& prompts, const nlohmann::json& category,
                                 const CategoryDataset& data, const EditEvalOptions& options);

}  // namespace nerfedit
