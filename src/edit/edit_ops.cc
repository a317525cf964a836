#include "edit/edit_ops.h"

#include <torch/torch.h>

#include <cctype>
#include <cmath>

#include "util/error.h"

namespace nerfedit {

namespace {

// [N] bool: points inside an aabb [2,3].
at::Tensor Inside(const at::Tensor& points, const at::Tensor& aabb) {
  at::Tensor box = aabb.to(points.options());
  return ((points >= box[0]) & (points <= box[1])).all(1);
}

at::Tensor UnionAabb(const at::Tensor& a, const at::Tensor& b) {
  return torch::stack({torch::minimum(a[0], b[0].to(a.options())), torch::maximum(a[1], b[1].to(a.options()))});
}

// Two co-located media add their densities; colour is the density-weighted mix (what compositing the two separately
// at one sample would give), features come from whichever density dominates.
FieldOutputs Combine(const FieldOutputs& a, const FieldOutputs& b) {
  FieldOutputs out;
  out.density = a.density + b.density;
  at::Tensor w = torch::where(out.density > 0, a.density / out.density.clamp_min(1e-12), torch::ones_like(a.density));
  out.rgb = w.unsqueeze(1) * a.rgb + (1 - w).unsqueeze(1) * b.rgb;
  if (a.features.defined() && b.features.defined()) {
    NE_CHECK(a.features.size(1) == b.features.size(1), "compose: the scenes' feature dimensions differ (",
             a.features.size(1), " vs ", b.features.size(1), ")");
    out.features = torch::where((a.density >= b.density).unsqueeze(1), a.features, b.features);
  } else {
    out.features = a.features;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Transform

Transform Transform::FromMatrix(const std::vector<double>& m, const std::string& context) {
  NE_CHECK(m.size() == 16, context, ": matrix has ", m.size(), " values, expected 16 (4x4 row-major)");
  for (double v : m) NE_CHECK(std::isfinite(v), context, ": matrix has a non-finite value");
  NE_CHECK(std::abs(m[12]) < 1e-6 && std::abs(m[13]) < 1e-6 && std::abs(m[14]) < 1e-6 && std::abs(m[15] - 1) < 1e-6,
           context, ": matrix last row is ", m[12], " ", m[13], " ", m[14], " ", m[15], ", expected 0 0 0 1");
  at::Tensor linear = torch::tensor(m, torch::kDouble).view({4, 4}).slice(0, 0, 3).slice(1, 0, 3);
  const double det = linear.det().item<double>();
  NE_CHECK(det > 0, context, ": matrix has determinant ", det, " (a reflection or degenerate); expected s*R with s > 0");
  const double s = std::cbrt(det);
  at::Tensor r = linear / s;
  const double err = (r.t().matmul(r) - torch::eye(3, torch::kDouble)).abs().max().item<double>();
  NE_CHECK(err < 1e-4, context, ": matrix is not a rotation times a uniform scale (|R^T R - I| = ", err, ")");
  Transform t;
  t.matrix_ = m;
  t.scale_ = s;
  return t;
}

Transform Transform::Make(std::array<double, 3> translate, std::array<double, 3> axis, double degrees, double scale,
                          std::array<double, 3> pivot) {
  NE_CHECK(std::isfinite(scale) && scale > 0, "transform: scale must be > 0, got ", scale);
  at::Tensor rotation = torch::eye(3, torch::kDouble);
  if (degrees != 0) {
    at::Tensor a = torch::tensor({axis[0], axis[1], axis[2]}, torch::kDouble);
    const double norm = a.norm().item<double>();
    NE_CHECK(norm > 0, "transform: the rotation axis is zero");
    a = a / norm;
    const double angle = degrees * M_PI / 180.0;
    at::Tensor k = torch::zeros({3, 3}, torch::kDouble);
    k[0][1] = -a[2]; k[0][2] = a[1]; k[1][0] = a[2]; k[1][2] = -a[0]; k[2][0] = -a[1]; k[2][1] = a[0];
    rotation = rotation + std::sin(angle) * k + (1 - std::cos(angle)) * k.matmul(k);  // Rodrigues
  }
  at::Tensor linear = scale * rotation;
  at::Tensor p = torch::tensor({pivot[0], pivot[1], pivot[2]}, torch::kDouble);
  at::Tensor t = torch::tensor({translate[0], translate[1], translate[2]}, torch::kDouble) + p - linear.matmul(p);
  std::vector<double> m(16, 0.0);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) m[r * 4 + c] = linear[r][c].item<double>();
    m[r * 4 + 3] = t[r].item<double>();
  }
  m[15] = 1;
  return FromMatrix(m);
}

at::Tensor Transform::Apply(const at::Tensor& points) const {
  at::Tensor m = torch::tensor(matrix_, torch::kDouble).view({4, 4}).to(points.options());
  return points.matmul(m.slice(0, 0, 3).slice(1, 0, 3).t()) + m.slice(0, 0, 3).select(1, 3);
}

at::Tensor Transform::ApplyInverse(const at::Tensor& points) const {
  at::Tensor m = torch::tensor(matrix_, torch::kDouble).view({4, 4});
  at::Tensor rotation = (m.slice(0, 0, 3).slice(1, 0, 3) / scale_).to(points.options());
  at::Tensor t = m.slice(0, 0, 3).select(1, 3).to(points.options());
  return (points - t).matmul(rotation) / scale_;  // row vectors: (R^T v)^T = v^T R
}

at::Tensor Transform::RotateInverse(const at::Tensor& directions) const {
  at::Tensor m = torch::tensor(matrix_, torch::kDouble).view({4, 4});
  return directions.matmul((m.slice(0, 0, 3).slice(1, 0, 3) / scale_).to(directions.options()));
}

at::Tensor Transform::TransformAabb(const at::Tensor& aabb) const {
  std::vector<at::Tensor> corners;
  for (int i = 0; i < 8; ++i) {
    corners.push_back(torch::stack({aabb[(i >> 0) & 1][0], aabb[(i >> 1) & 1][1], aabb[(i >> 2) & 1][2]}));
  }
  at::Tensor moved = Apply(torch::stack(corners));
  return torch::stack({std::get<0>(moved.min(0)), std::get<0>(moved.max(0))});
}

// ---------------------------------------------------------------------------------------------------------------
// Colour

void RecolorOptions::Check(const std::string& context) const {
  auto check_rgb = [&](const std::vector<float>& c, const char* key) {
    NE_CHECK(c.size() == 3, context, ": key \"", key, "\" has ", c.size(), " values, expected 3 (r,g,b)");
    for (float v : c) NE_CHECK(v >= 0 && v <= 1, context, ": key \"", key, "\" value ", v, " is outside [0, 1]");
  };
  if (mode_ == "color") {
    check_rgb(target_, "target");
    check_rgb(source_, "source");
    const double lum = 0.2126 * source_[0] + 0.7152 * source_[1] + 0.0722 * source_[2];
    NE_CHECK(lum > 1e-4, context, ": key \"source\" is black (luminance ", lum, "); the luminance ratio is undefined");
  } else if (mode_ == "hue") {
    NE_CHECK(std::isfinite(degrees_), context, ": key \"degrees\" is not finite");
  } else if (mode_ == "affine") {
    // The bound only refuses absurd maps (a fitted one stays within a few units: colours live in [0, 1]).
    auto check_values = [&](const std::vector<float>& values, size_t count, const char* key) {
      NE_CHECK(values.size() == count, context, ": key \"", key, "\" has ", values.size(), " values, expected ", count);
      for (float v : values) {
        NE_CHECK(std::isfinite(v) && std::abs(v) <= 100, context, ": key \"", key, "\" value ", v,
                 " is not finite or outside [-100, 100]");
      }
    };
    check_values(matrix_, 9, "matrix");
    check_values(bias_, 3, "bias");
  } else {
    NE_FAIL(context, ": key \"mode\" is \"", mode_, "\", expected \"color\", \"hue\" or \"affine\"");
  }
}

void RecolorOptions::AddToJson(nlohmann::json* edit) const {
  (*edit)["mode"] = mode_;
  if (mode_ == "color") {
    (*edit)["target"] = target_;
    (*edit)["source"] = source_;
  } else if (mode_ == "affine") {
    (*edit)["matrix"] = matrix_;
    (*edit)["bias"] = bias_;
    if (!prompt_.empty()) (*edit)["prompt"] = prompt_;
  } else {
    (*edit)["degrees"] = degrees_;
  }
}

at::Tensor AffineRecolor(const at::Tensor& rgb, const at::Tensor& matrix, const at::Tensor& bias) {
  return (rgb.matmul(matrix.t()) + bias).clamp(0, 1);
}

std::array<float, 3> ParseHexColor(const std::string& text, const std::string& what) {
  bool ok = text.size() == 7 && text[0] == '#';
  for (size_t i = 1; ok && i < text.size(); ++i) ok = std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
  NE_CHECK(ok, what, " must be a colour #rrggbb, got \"", text, "\"");
  std::array<float, 3> rgb{};
  for (int i = 0; i < 3; ++i) rgb[i] = std::stoi(text.substr(1 + 2 * i, 2), nullptr, 16) / 255.0f;
  return rgb;
}

at::Tensor Luminance(const at::Tensor& rgb) {
  return 0.2126 * rgb.select(1, 0) + 0.7152 * rgb.select(1, 1) + 0.0722 * rgb.select(1, 2);
}

at::Tensor RgbToHsv(const at::Tensor& rgb) {
  at::Tensor r = rgb.select(1, 0), g = rgb.select(1, 1), b = rgb.select(1, 2);
  at::Tensor maxc = std::get<0>(rgb.max(1)), minc = std::get<0>(rgb.min(1));
  at::Tensor delta = maxc - minc, safe = delta.clamp_min(1e-12);
  at::Tensor h = torch::where(maxc == r, (g - b) / safe,
                              torch::where(maxc == g, 2 + (b - r) / safe, 4 + (r - g) / safe));
  h = torch::where(delta > 0, torch::remainder(h / 6, 1.0), torch::zeros_like(h));
  at::Tensor s = torch::where(maxc > 0, delta / maxc.clamp_min(1e-12), torch::zeros_like(maxc));
  return torch::stack({h, s, maxc}, 1);
}

at::Tensor HsvToRgb(const at::Tensor& hsv) {
  at::Tensor h = hsv.select(1, 0), s = hsv.select(1, 1), v = hsv.select(1, 2);
  // f(n) = v - v s max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6, for n = 5, 3, 1 (r, g, b).
  auto channel = [&](double n) {
    at::Tensor k = torch::remainder(n + 6 * h, 6.0);
    return v - v * s * torch::clamp(torch::minimum(k, 4 - k), 0, 1);
  };
  return torch::stack({channel(5), channel(3), channel(1)}, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Wrappers

EditedField::EditedField(FieldPtr base, std::string op) : base_(std::move(base)), op_(std::move(op)) {
  NE_CHECK(base_ != nullptr, op_, " edit: the base field is null");
  register_module("base", base_);
}

FieldOutputs EditedField::QueryWithFeatures(Field& field, const at::Tensor& positions,
                                            const at::Tensor& directions) const {
  FieldOutputs out = field.Query(positions, directions);
  NE_CHECK(out.features.defined(), op_, " edit: the field (kind \"", field.Kind(),
           "\") returns no features; selections need a feature field (train it with `nerfedit dff train`)");
  return out;
}

at::Tensor EditedField::DummyDirections(const at::Tensor& positions) {
  at::Tensor d = torch::zeros_like(positions);
  d.select(1, 2).fill_(1);
  return d;
}

MaskField::MaskField(FieldPtr base, Selection selection, bool keep_selected)
    : EditedField(std::move(base), keep_selected ? "extract" : "delete"),
      selection_(std::move(selection)),
      keep_selected_(keep_selected) {}

at::Tensor MaskField::Keep(const FieldOutputs& out, const at::Tensor& positions) const {
  at::Tensor selected = selection_.Mask(out.features, positions);
  return keep_selected_ ? selected : selected.logical_not();
}

FieldOutputs MaskField::Query(const at::Tensor& positions, const at::Tensor& directions) {
  FieldOutputs out = QueryWithFeatures(*base_, positions, directions);
  out.density = torch::where(Keep(out, positions), out.density, torch::zeros_like(out.density));
  return out;
}

at::Tensor MaskField::QueryDensity(const at::Tensor& positions) {
  return Query(positions, DummyDirections(positions)).density;
}

nlohmann::json MaskField::Config() const { return {{"op", op_}, {"selection", selection_.ToJson()}}; }

RecolorField::RecolorField(FieldPtr base, Selection selection, RecolorOptions options)
    : EditedField(std::move(base), "recolor"), selection_(std::move(selection)), options_(std::move(options)) {
  options_.Check("recolor edit");
}

FieldOutputs RecolorField::Query(const at::Tensor& positions, const at::Tensor& directions) {
  FieldOutputs out = QueryWithFeatures(*base_, positions, directions);
  at::Tensor recolored;
  if (options_.mode() == "color") {
    const auto& src = options_.source();
    const double source_lum = 0.2126 * src[0] + 0.7152 * src[1] + 0.0722 * src[2];
    at::Tensor target = torch::tensor(options_.target()).to(out.rgb.options());
    recolored = (target * (Luminance(out.rgb) / source_lum).unsqueeze(1)).clamp(0, 1);
  } else if (options_.mode() == "affine") {
    recolored = AffineRecolor(out.rgb, torch::tensor(options_.matrix()).view({3, 3}).to(out.rgb.options()),
                              torch::tensor(options_.bias()).to(out.rgb.options()));
  } else {
    at::Tensor hsv = RgbToHsv(out.rgb);
    at::Tensor h = torch::remainder(hsv.select(1, 0) + options_.degrees() / 360.0, 1.0);
    recolored = HsvToRgb(torch::stack({h, hsv.select(1, 1), hsv.select(1, 2)}, 1));
  }
  out.rgb = torch::where(selection_.Mask(out.features, positions).unsqueeze(1), recolored, out.rgb);
  return out;
}

nlohmann::json RecolorField::Config() const {
  nlohmann::json j = {{"op", "recolor"}, {"selection", selection_.ToJson()}};
  options_.AddToJson(&j);
  return j;
}

TransformField::TransformField(FieldPtr base, Selection selection, Transform transform)
    : EditedField(std::move(base), "transform"), selection_(std::move(selection)), transform_(std::move(transform)) {}

FieldOutputs TransformField::Query(const at::Tensor& positions, const at::Tensor& directions) {
  const at::Tensor y = transform_.ApplyInverse(positions);
  FieldOutputs moved = QueryWithFeatures(*base_, y, transform_.RotateInverse(directions));
  FieldOutputs here = QueryWithFeatures(*base_, positions, directions);
  // Outside the base aabb the features are meaningless: nothing there can have been selected.
  at::Tensor from = selection_.Mask(moved.features, y) & Inside(y, base_->Aabb());
  at::Tensor left = selection_.Mask(here.features, positions);
  // Density per unit length divided by s keeps the region's optical thickness (and so its look) under scaling.
  moved.density = torch::where(from, moved.density / transform_.scale(), torch::zeros_like(moved.density));
  here.density = torch::where(left, torch::zeros_like(here.density), here.density);
  // The moved region is added to what remains at x rather than replacing it, so the selection's empty space
  // (density ~0, possibly "selected") cannot carve holes at the destination; where x is empty this is exactly
  // "base at T^-1 x".
  return Combine(here, moved);
}

at::Tensor TransformField::QueryDensity(const at::Tensor& positions) {
  return Query(positions, DummyDirections(positions)).density;
}

nlohmann::json TransformField::Config() const {
  return {{"op", "transform"}, {"selection", selection_.ToJson()}, {"matrix", transform_.matrix()}};
}

at::Tensor TransformField::Aabb() const {
  at::Tensor aabb = base_->Aabb();
  return UnionAabb(aabb, transform_.TransformAabb(aabb));
}

ComposeField::ComposeField(FieldPtr base, FieldPtr other, Selection other_selection, Transform transform,
                           std::string source_run)
    : EditedField(std::move(base), "compose"),
      other_(std::move(other)),
      selection_(std::move(other_selection)),
      transform_(std::move(transform)),
      source_run_(std::move(source_run)) {
  NE_CHECK(other_ != nullptr, "compose edit: the inserted field is null");
  register_module("other", other_);
}

FieldOutputs ComposeField::Inserted(const at::Tensor& positions, const at::Tensor& directions) {
  const at::Tensor y = transform_.ApplyInverse(positions);
  FieldOutputs out = QueryWithFeatures(*other_, y, transform_.RotateInverse(directions));
  at::Tensor selected = selection_.Mask(out.features, y) & Inside(y, other_->Aabb());
  out.density = torch::where(selected, out.density / transform_.scale(), torch::zeros_like(out.density));
  return out;
}

FieldOutputs ComposeField::Query(const at::Tensor& positions, const at::Tensor& directions) {
  return Combine(base_->Query(positions, directions), Inserted(positions, directions));
}

at::Tensor ComposeField::QueryDensity(const at::Tensor& positions) {
  return base_->QueryDensity(positions) + Inserted(positions, DummyDirections(positions)).density;
}

nlohmann::json ComposeField::Config() const {
  nlohmann::json j = {{"op", "compose"}, {"selection", selection_.ToJson()}, {"matrix", transform_.matrix()}};
  if (!source_run_.empty()) j["source_run"] = source_run_;
  return j;
}

at::Tensor ComposeField::Aabb() const {
  return UnionAabb(base_->Aabb(), transform_.TransformAabb(other_->Aabb()));
}

std::array<float, 3> MeanSelectedColor(Field& field, const Selection& selection, int64_t num_samples) {
  torch::NoGradGuard no_grad;
  at::Tensor aabb = field.Aabb();
  at::Tensor x = aabb[0] + (aabb[1] - aabb[0]) * torch::rand({num_samples, 3}, aabb.options());
  at::Tensor d = torch::zeros_like(x);
  d.select(1, 2).fill_(1);
  FieldOutputs out = field.Query(x, d);
  NE_CHECK(out.features.defined(), "MeanSelectedColor: the field (kind \"", field.Kind(), "\") returns no features");
  at::Tensor w = out.density * selection.Mask(out.features, x).to(out.density.scalar_type());
  const double total = w.sum().item<double>();
  NE_CHECK(total > 0, "MeanSelectedColor: the selection \"", selection.label(), "\" covers no dense point in ",
           num_samples, " samples");
  at::Tensor mean = (out.rgb * w.unsqueeze(1)).sum(0).cpu() / total;
  return {mean[0].item<float>(), mean[1].item<float>(), mean[2].item<float>()};
}

}  // namespace nerfedit
