#include "methods/clipnerf/clipnerf_judge.h"

#include <torch/torch.h>

#include <cmath>

#include "data/procedural_scene.h"
#include "util/error.h"

namespace nerfedit {

int ClassifyColour(const Hsv& c) {
  if (c.hue_deg < 0) return -1;
  const double h = c.hue_deg, s = c.saturation, v = c.value;
  // Bands fitted to exact renders of every vocabulary colour at every corner of the dataset's +-0.05 jitter, with
  // each of its leg colours (clipnerf_mapper_test): shading and legs put the mean foreground value at 0.3-0.7, so
  // the warm colours are told apart by value against saturation (brown darker, beige paler), not by hue.
  if (s < 0.15) return v >= 0.45 ? ChairColourIndex("white") : -1;
  const char* name = nullptr;
  if ((h >= 340 || h < 16) && s >= 0.6)
    name = "red";
  else if (h >= 340)
    name = nullptr;
  else if (h < 80)
    name = v < 0.47 && v - 0.5 * s < 0.2 ? (s >= 0.3 ? "brown" : nullptr)
                             : (s < 0.6 ? (h < 62 ? "beige" : nullptr) : (h < 40 ? "orange" : "yellow"));
  else if (s < 0.2)
    name = nullptr;
  else if (h < 190)
    name = "green";
  else if (h < 255)
    name = "blue";
  else
    name = "purple";
  return name == nullptr ? -1 : ChairColourIndex(name);
}

Camera JudgeSideCamera(int64_t size) { return ChairOrbitCamera(M_PI / 2, 10 * M_PI / 180, size); }
Camera JudgeFrontCamera(int64_t size) { return ChairOrbitCamera(0, 10 * M_PI / 180, size); }

double ChairShapeMeasure::Get(int attribute) const {
  switch (attribute) {
    case kBackAttr:
      return back_height;
    case kArmsAttr:
      return armrest_pixels;
    case kLegsAttr:
      return leg_length;
    case kSeatAttr:
      return seat_width;
  }
  NE_FAIL("chair shape measure: unknown attribute ", attribute);
}

ChairShapeMeasure MeasureChairShape(const at::Tensor& side_mask, const at::Tensor& front_mask) {
  NE_CHECK(side_mask.dim() == 2 && front_mask.dim() == 2, "chair shape measure: masks must be [H,W], got ",
           side_mask.sizes(), " and ", front_mask.sizes());
  ChairShapeMeasure m;
  const at::Tensor side = (side_mask > 0.5f).to(torch::kInt32).contiguous();
  const at::Tensor front = (front_mask > 0.5f).to(torch::kInt32).contiguous();
  if (side.sum().item<int64_t>() == 0 || front.sum().item<int64_t>() == 0) return m;
  const auto s = side.accessor<int32_t, 2>();
  const int64_t h = side.size(0), w = side.size(1);
  std::vector<int64_t> count(h, 0);
  int64_t top = -1, bottom = -1, widest = 0;
  for (int64_t r = 0; r < h; ++r) {
    for (int64_t c = 0; c < w; ++c) count[r] += s[r][c];
    if (count[r] > 0 && top < 0) top = r;
    if (count[r] > 0) bottom = r;
    widest = std::max(widest, count[r]);
  }
  // The seat's underside: the lowest row at least 60% as full as the fullest (rows below it are legs only).
  int64_t seat = bottom;
  while (seat > top && count[seat] < 0.6 * widest) --seat;
  m.back_height = static_cast<double>(seat - top);
  m.leg_length = static_cast<double>(bottom - seat);
  // The seat's column extent on its underside row, and which end is the back (the top row's side).
  int64_t c0 = w, c1 = -1;
  for (int64_t c = 0; c < w; ++c)
    if (s[seat][c]) c0 = std::min(c0, c), c1 = std::max(c1, c);
  double top_col = 0;
  int64_t top_n = 0;
  for (int64_t c = 0; c < w; ++c)
    if (s[top][c]) top_col += c, ++top_n;
  top_col /= std::max<int64_t>(top_n, 1);
  const bool back_at_low_columns = std::abs(top_col - c0) < std::abs(top_col - c1);
  const int64_t span = c1 - c0 + 1;
  const int64_t f0 = back_at_low_columns ? c1 - (45 * span) / 100 : c0;
  const int64_t f1 = back_at_low_columns ? c1 : c0 + (45 * span) / 100;
  // Per column of the seat's front 45% (the back's near edge, in perspective, reaches further forward): walk up through
  // the seat from its underside; whatever lies above the first gap is an armrest (the back is behind, leaning further
  // back; a column through an arm support has no gap).
  int64_t arm = 0;
  for (int64_t c = std::max<int64_t>(f0, 0); c <= std::min<int64_t>(f1, w - 1); ++c) {
    int64_t r = seat;
    while (r > seat - 3 && r > 0 && !s[r][c]) --r;  // the underside row is ragged (partly covered pixels)
    while (r >= 0 && s[r][c]) --r;
    for (; r >= 0; --r) arm += s[r][c];
  }
  m.armrest_pixels = static_cast<double>(arm);
  const auto f = front.accessor<int32_t, 2>();
  int64_t extent = 0;
  for (int64_t r = 0; r < front.size(0); ++r) {
    int64_t a = -1, b = -1;
    for (int64_t c = 0; c < front.size(1); ++c)
      if (f[r][c]) {
        if (a < 0) a = c;
        b = c;
      }
    if (a >= 0) extent = std::max(extent, b - a + 1);
  }
  m.seat_width = static_cast<double>(extent);
  return m;
}

bool ShapeEditSucceeded(int attribute, int direction, const ChairShapeMeasure& before, const ChairShapeMeasure& after) {
  NE_CHECK(direction == 1 || direction == -1, "shape edit: direction must be +1 or -1, got ", direction);
  const double b = before.Get(attribute), a = after.Get(attribute);
  if (b < 0 || a < 0) return false;
  if (attribute == kArmsAttr) return direction > 0 ? (a >= b + 20 && a >= 25) : (a <= b - 20 && a <= 10);
  const double margin = attribute == kLegsAttr ? 3 : 4;
  return direction * (a - b) >= margin;
}

ExactView RenderExactChair(const ChairParams& params, const Camera& camera) {
  const ProceduralRender r = RenderProcedural(MakeChair(params).scene, camera);
  return {(r.rgb + (1 - r.alpha.unsqueeze(-1))).clamp(0, 1), r.alpha};
}

}  // namespace nerfedit
