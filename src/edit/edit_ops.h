// Edits as field wrappers (DFF, Sec. 4 "Editing"): each takes a feature field and a selection and is itself a
// Field, so the renderer, occupancy grid, viewer and exporters draw edited scenes without knowing about edits.
// Selection is per point and uses the base field's (view-independent) features; QueryDensity applies the edit too,
// because the occupancy grid is built from it.
#pragma once
#include <torch/arg.h>

#include <array>
#include <string>
#include <vector>

#include "edit/selection.h"
#include "fields/field.h"

namespace nerfedit {

// A similarity transform x -> s R x + t (rotation R, uniform scale s > 0, translation t), as a 4x4 row-major matrix.
class Transform {
 public:
  Transform() = default;  // identity
  // Throws (naming `context`) unless the matrix is s*R with R a proper rotation, and the last row is 0 0 0 1.
  static Transform FromMatrix(const std::vector<double>& row_major16, const std::string& context = "transform");
  // Scales by `scale`, then rotates by `rotate_degrees` about `rotate_axis`, both about `pivot` (e.g. the selection's
  // centroid), then translates by `translate`.
  static Transform Make(std::array<double, 3> translate, std::array<double, 3> rotate_axis = {0, 0, 1},
                        double rotate_degrees = 0, double scale = 1, std::array<double, 3> pivot = {0, 0, 0});

  const std::vector<double>& matrix() const { return matrix_; }  // 16 values, row-major
  double scale() const { return scale_; }
  at::Tensor Apply(const at::Tensor& points) const;           // [N,3] -> s R x + t (points' dtype/device)
  at::Tensor ApplyInverse(const at::Tensor& points) const;    // [N,3] -> R^T (x - t) / s
  at::Tensor RotateInverse(const at::Tensor& directions) const;  // [N,3] -> R^T d
  at::Tensor TransformAabb(const at::Tensor& aabb) const;     // [2,3] -> [2,3] bounds of the 8 moved corners

 private:
  std::vector<double> matrix_{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  double scale_ = 1;
};

struct RecolorOptions {
  // "color": rgb' = target * lum(rgb) / lum(source), clamped to [0,1] (keeps the shading; lum = Rec. 709).
  // "hue": rotates the hue by `degrees` keeping HSV saturation and value.
  // "affine": rgb' = clamp(matrix rgb + bias, 0, 1) (a 3x3 colour map fitted to a text prompt: dff/text_recolor.h).
  TORCH_ARG(std::string, mode) = "color";
  TORCH_ARG(std::vector<float>, target) = {1, 0, 0};
  TORCH_ARG(std::vector<float>, source) = {0.5f, 0.5f, 0.5f};  // the selection's mean colour (the caller estimates it)
  TORCH_ARG(double, degrees) = 0;
  TORCH_ARG(std::vector<float>, matrix) = {1, 0, 0, 0, 1, 0, 0, 0, 1};  // "affine": 3x3 row-major
  TORCH_ARG(std::vector<float>, bias) = {0, 0, 0};                      // "affine"
  TORCH_ARG(std::string, prompt) = "";  // "affine": the text it was fitted to (kept in the edit list; not used)

 public:
  void Check(const std::string& context) const;
  // Edit-list keys: {"mode": "color", "target": [r,g,b], "source": [r,g,b]}, {"mode": "hue", "degrees": d} or
  // {"mode": "affine", "matrix": [9], "bias": [3], "prompt": "..." (optional)}.
  void AddToJson(nlohmann::json* edit) const;
};

// The "affine" recolour: clamp(rgb matrix^T + bias, 0, 1) for rgb [N,3], matrix [3,3], bias [3]; differentiable in
// matrix and bias (dff/text_recolor fits them through this very function).
at::Tensor AffineRecolor(const at::Tensor& rgb, const at::Tensor& matrix, const at::Tensor& bias);

// "#rrggbb" -> {r,g,b} in [0,1] (a recolour's target as users type it); throws naming `what` and the text otherwise.
std::array<float, 3> ParseHexColor(const std::string& text, const std::string& what);

// Rec. 709 luminance [N] of rgb [N,3]; RGB <-> HSV on [N,3] in [0,1] (h in [0,1)).
at::Tensor Luminance(const at::Tensor& rgb);
at::Tensor RgbToHsv(const at::Tensor& rgb);
at::Tensor HsvToRgb(const at::Tensor& hsv);

// Shared plumbing: holds the base field (registered as submodule "base", so .to(device) and eval() reach it),
// forwards Aabb, reports Kind() "edited" and Config() = this edit's edit-list entry.
class EditedField : public Field {
 public:
  EditedField(FieldPtr base, std::string op);
  std::string Kind() const override { return "edited"; }
  at::Tensor Aabb() const override { return base_->Aabb(); }
  const FieldPtr& base() const { return base_; }
  const std::string& op() const { return op_; }

 protected:
  // Base outputs at `positions` with features checked present (selection needs them).
  FieldOutputs QueryWithFeatures(Field& field, const at::Tensor& positions, const at::Tensor& directions) const;
  // Directions for density-only queries: features and density are view-independent, any unit vector will do.
  static at::Tensor DummyDirections(const at::Tensor& positions);

  FieldPtr base_;
  std::string op_;
};

// Density 0 where selected (op "delete") or where not selected (op "extract"); colour and features untouched.
class MaskField : public EditedField {
 public:
  MaskField(FieldPtr base, Selection selection, bool keep_selected);
  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override;
  nlohmann::json Config() const override;
  const Selection& selection() const { return selection_; }

 private:
  at::Tensor Keep(const FieldOutputs& out, const at::Tensor& positions) const;  // [N] bool
  Selection selection_;
  bool keep_selected_;
};

class DeleteField : public MaskField {
 public:
  DeleteField(FieldPtr base, Selection selection) : MaskField(std::move(base), std::move(selection), false) {}
};

class ExtractField : public MaskField {
 public:
  ExtractField(FieldPtr base, Selection selection) : MaskField(std::move(base), std::move(selection), true) {}
};

// New colour where selected (hard mask: crisp edges); density and features untouched.
class RecolorField : public EditedField {
 public:
  RecolorField(FieldPtr base, Selection selection, RecolorOptions options);
  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override { return base_->QueryDensity(positions); }
  nlohmann::json Config() const override;

 private:
  Selection selection_;
  RecolorOptions options_;
};

// Moves the selected region by `transform`. At x, with y = T^-1 x: if y is selected the base at y is returned
// (directions rotated by R^T, density divided by s); else if x is selected its density is 0 (the region left);
// else the base at x.
class TransformField : public EditedField {
 public:
  TransformField(FieldPtr base, Selection selection, Transform transform);
  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override;
  nlohmann::json Config() const override;
  at::Tensor Aabb() const override;  // base aabb united with the moved base aabb (conservative)

 private:
  Selection selection_;
  Transform transform_;
};

// Inserts the selected region of another scene, placed by `transform`: density = d_base + d_inserted, rgb the
// density-weighted mix, features from whichever density dominates. Both fields must share the feature dimension.
class ComposeField : public EditedField {
 public:
  // source_run only labels the edit-list entry (Config()); the field `other` is what is drawn.
  ComposeField(FieldPtr base, FieldPtr other, Selection other_selection, Transform transform, std::string source_run = "");
  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override;
  nlohmann::json Config() const override;
  at::Tensor Aabb() const override;  // base aabb united with the moved aabb of `other`

 private:
  // The inserted region at world positions: its outputs at T^-1 x, density already 0 outside the selection and
  // divided by s.
  FieldOutputs Inserted(const at::Tensor& positions, const at::Tensor& directions);
  FieldPtr other_;
  Selection selection_;
  Transform transform_;
  std::string source_run_;
};

// Mean colour of the selected region, density-weighted over `num_samples` uniform points of the field's aabb: a
// cheap default `source` for RecolorOptions when no rendered estimate is at hand. Throws if nothing is selected.
std::array<float, 3> MeanSelectedColor(Field& field, const Selection& selection, int64_t num_samples = 1 << 16);

}  // namespace nerfedit
