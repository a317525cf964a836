// CLIP-NeRF's CLIP mappers (Wang et al. 2022, Sec. 3.3): M_s and M_a, 2-layer MLPs (CLIP dim -> 256 -> code dim,
// ReLU) that turn a CLIP embedding E(t) of a prompt (or of an exemplar image) into offsets of the shape code z_s
// and the appearance code z_a; an edit is one forward pass: z' = z + M(E(t)), then render F(v, z').
// Training, with the generator frozen, over a prompt library, random codes and random cameras:
//   L = lambda_c * D_CLIP(F(v, M(E(t)) + z), t) + lambda_r * mean((M(E(t)) / sigma)^2),   D_CLIP = 1 - cos
// Deviation: the paper's adversarial term f(D(F(.))) needs a discriminator, which the GLO generator does not have;
// it is replaced by a code-norm regulariser on the offset, in units of the code table's per-dimension spread sigma
// (the edited code stays within the category's code distribution). Colour prompts go through M_a only, shape
// prompts through M_s only, as the paper. An optional cross-entropy over each prompt and its rivals in the library
// (contrast_weight; off by default) was measured worse on the bench (colour 0.64 vs 0.66, shape 0.52 vs 0.76: it
// pushed shape prompts off their attribute), so D_CLIP stays alone as the paper states.
// Mappers live in the run: RUN/mappers.pt + RUN/mappers.json.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "methods/clipnerf/clipnerf_category_clip.h"
#include "methods/clipnerf/clipnerf_model.h"

namespace nerfedit {

struct ClipMappersOptions {
  TORCH_ARG(int64_t, clip_dim) = 128;
  TORCH_ARG(int64_t, hidden) = 256;  // the paper's
  TORCH_ARG(int64_t, shape_dim) = 32;
  TORCH_ARG(int64_t, appearance_dim) = 32;
};

struct ClipMappersImpl : torch::nn::Module {
  explicit ClipMappersImpl(const ClipMappersOptions& options);
  at::Tensor Shape(const at::Tensor& embedding);       // [B,P] -> [B,S] offset of z_s
  at::Tensor Appearance(const at::Tensor& embedding);  // [B,P] -> [B,A] offset of z_a
  ClipMappersOptions options;
  torch::nn::Sequential shape_mapper{nullptr}, appearance_mapper{nullptr};
};
TORCH_MODULE(ClipMappers);

// A prompt of the library and what it asks for (what the judges check): a colour (index into ChairColours()) or a
// shape attribute (ChairAttribute) moved in `direction` (+1 towards the attribute's value 1, e.g. "a tall back").
struct EditPrompt {
  std::string text;
  bool shape = false;  // false: colour prompt (M_a); true: shape prompt (M_s)
  int colour = -1;
  int attribute = -1, direction = 0;
};
// 8 colour prompts ("a red chair", ... the palette's six and orange, purple) and 8 shape prompts (both ends of back
// height, armrests, leg length, seat width: "a chair with a tall back", ...).
std::vector<EditPrompt> DefaultPromptLibrary();
// What a text asks for, from the chair vocabulary: a colour word ("... red ...") or one attribute phrase; throws
// naming the text when it says neither or both.
EditPrompt ParseEditPrompt(const std::string& text);
// A prompt file: one prompt a line, blank lines and lines starting with '#' ignored. Throws for a missing or empty
// file and for a line ParseEditPrompt refuses (naming the line).
std::vector<EditPrompt> ReadPromptFile(const std::string& path);

struct MapperTrainOptions {
  TORCH_ARG(int64_t, steps) = 300;
  TORCH_ARG(int64_t, batch) = 8;         // (prompt, code, camera) samples per step
  TORCH_ARG(int64_t, render_size) = 32;  // renders are resized to the CLIP's input
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, clip_weight) = 1.0;   // lambda_c
  TORCH_ARG(double, norm_weight) = 1e-3;  // lambda_r (replaces the adversarial term, see above)
  // Weight of a cross-entropy over each prompt and its rivals (PromptRivals); 0: D_CLIP alone, as the paper.
  TORCH_ARG(double, contrast_weight) = 0.0;
  TORCH_ARG(double, logit_scale) = 100.0;  // the contrast's temperature: pass the CLIP's exp(logit_scale)
  TORCH_ARG(double, code_noise) = 0.25;   // codes = table codes + noise * sigma * N(0, I)
  TORCH_ARG(int64_t, held_out) = 80;      // the table's last instances: never a training code (edits are judged there)
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(bool, progress) = true;
};

struct MapperTrainReport {
  int64_t steps = 0;
  double first_loss = 0, final_loss = 0;  // mean D_CLIP of the first / last 20 steps
  double train_seconds = 0;
  nlohmann::json ToJson() const;
};

// A camera resized to size x size pixels (intrinsics scaled), for renders at the CLIP's scale.
Camera ResizedCamera(const Camera& camera, int64_t size);

// The codes' per-dimension spread over the table [S + A] (floored at 1e-3).
at::Tensor CodeSpread(ClipnerfModel& model);

// Differentiable renders [B,size,size,3] of codes [B, S+A], one camera each.
at::Tensor RenderCodes(ClipnerfModel& model, const std::vector<Camera>& cameras, const at::Tensor& codes);

// The edited codes [B, S+A]: codes + M_s(e) on the shape part (shape prompts) or + M_a(e) on the appearance part.
// embedding [B,P] or [1,P].
at::Tensor ApplyMappers(const ClipnerfModel& model, ClipMappers& mappers, const at::Tensor& codes,
                        const at::Tensor& embedding, const std::vector<bool>& shape);

// The image tower a mapper is trained against: renders [B,H,W,3] in [0,1] -> unit embeddings [B,P] (differentiable).
using ImageEmbedder = std::function<at::Tensor(const at::Tensor& images)>;
ImageEmbedder ClipImageEmbedder(ClipBundle& clip);  // ClipInputFromRenders, then the CLIP image tower

// Which prompts a prompt must beat, [K,K] bool, the diagonal true: for a colour prompt the library's other colour
// prompts, for a shape prompt the prompts of the same attribute and the other direction.
at::Tensor PromptRivals(const std::vector<EditPrompt>& prompts);
// The contrast term's inputs: every prompt's unit embedding [K,P], PromptRivals, and each sample's prompt row [B].
struct PromptContrast {
  at::Tensor embeddings, rivals, index;
};

// One optimisation step on a batch: codes [B, S+A], one camera and one prompt embedding (rows of e [B,P], unit
// length) each, shape[i] routes sample i through M_s (else M_a). Returns the batch's mean D_CLIP before the step.
double MapperStep(ClipnerfModel& model, ClipMappers& mappers, const ImageEmbedder& embed,
                  torch::optim::Optimizer& optimizer, const at::Tensor& e, const std::vector<bool>& shape,
                  const at::Tensor& codes, const std::vector<Camera>& cameras, const at::Tensor& spread,
                  const MapperTrainOptions& options, const PromptContrast* contrast = nullptr);
// The batch's mean D_CLIP without a step (same inputs as MapperStep).
double MapperDistance(ClipnerfModel& model, ClipMappers& mappers, const ImageEmbedder& embed, const at::Tensor& e,
                      const std::vector<bool>& shape, const at::Tensor& codes, const std::vector<Camera>& cameras);

// Trains mappers for `model` over prompts (their unit embeddings [K,P], rows in prompts' order) with cameras drawn
// from `cameras` (the run's training cameras: the dataset's pose prior) and codes from the table's first
// N - held_out instances (plus noise). The generator is frozen.
MapperTrainReport TrainMappers(ClipnerfModel& model, ClipMappers& mappers, const ImageEmbedder& embed,
                               const std::vector<EditPrompt>& prompts, const at::Tensor& prompt_embeddings,
                               const std::vector<Camera>& cameras, const MapperTrainOptions& options);

// RUN/mappers.pt + RUN/mappers.json ({format_version, kind "clipnerf_mappers", clip, options, prompts, report,
// held_out}), both written atomically.
void SaveMappers(const std::string& run_dir, ClipMappers& mappers, const nlohmann::json& info);
struct LoadedMappers {
  ClipMappers mappers{nullptr};
  nlohmann::json info;
};
// Throws "no mappers trained" when the run has none, and when their sizes do not fit the model.
LoadedMappers LoadMappers(const std::string& run_dir, const ClipnerfModel& model);

}  // namespace nerfedit
