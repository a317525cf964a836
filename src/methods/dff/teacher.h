// The 2D teacher of Distilled Feature Fields: per-pixel features of a training image from a pretrained network,
// plus embeddings of text and exemplar crops in the same space for queries. Any CLIP folder (joint image-text
// space, so text queries work) or DINO ViT folder (click / patch queries only) via models2d/.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace nerfedit {

struct TeacherOptions {
  std::string dir;              // CLIP or ViT folder (config.json + model.safetensors [+ vocab.json, merges.txt])
  std::string mode = "dense";   // CLIP: "dense" (MaskCLIP patch embeddings) or "crops" (LERF-style crop embeddings)
  int64_t crop = 32;            // "crops": window size in pixels
  // "crops": window sizes as multiples of `crop`, all centred on the same grid (a quarter of `crop` apart); a
  // point's feature is the normalised mean of its windows' embeddings (LERF's scale pyramid, averaged because DFF
  // distils one feature per point where LERF keeps the scale as an input).
  std::vector<double> crop_scales = {1.0};
};

class Teacher {
 public:
  explicit Teacher(TeacherOptions options);
  ~Teacher();
  Teacher(Teacher&&) noexcept;

  const TeacherOptions& options() const { return options_; }
  int64_t feature_dim() const;
  bool has_text() const;  // CLIP yes, DINO no
  // nerfedit's own small CLIP: its text side knows only the procedural captions' words (dff_query's
  // DefaultNegatives draws the canonical negatives from them).
  bool is_small_clip() const;
  std::string Describe() const;  // "clip dense 128-d (DIR)"

  // image [H,W,3] f32 in [0,1] -> [h,w,F] f32 per-patch features (h,w: the teacher's feature grid for this image).
  at::Tensor DenseFeatures(const at::Tensor& image) const;
  at::Tensor EmbedTexts(const std::vector<std::string>& texts) const;  // [K,F] L2-normalised (CLIP only)
  at::Tensor EmbedImage(const at::Tensor& image) const;                // [F] L2-normalised: an exemplar crop

 private:
  struct Model;
  TeacherOptions options_;
  std::unique_ptr<Model> model_;
};

// The small CLIP nerfedit trains itself, the default teacher on a fresh machine: $NERFEDIT_SMALL_CLIP, else
// $XDG_CACHE_HOME/nerfedit/small_clip (~/.cache/nerfedit/small_clip).
std::string DefaultTeacherDir();

// Teacher features of every image [N,H,W,3] -> [N,h,w,F] f32, computed once and cached in cache_file (.npy);
// a cache written for another teacher or image set (cache_file + ".json" records which) is recomputed.
at::Tensor ComputeTeacherFeatures(const Teacher& teacher, const at::Tensor& images, const std::string& cache_file,
                                  bool progress = true);

// Bilinear lookup of per-image feature maps at pixel positions: features [N,h,w,F], camera [R] i64, xy [R,2]
// pixel coordinates in an image of size width x height -> [R,F]. Patch centres sit at ((j + 0.5) * W / w).
at::Tensor SampleFeatureMaps(const at::Tensor& features, const at::Tensor& camera, const at::Tensor& xy, int64_t width,
                             int64_t height);

}  // namespace nerfedit
