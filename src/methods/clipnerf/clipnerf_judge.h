// Judges of CLIP-NeRF's text/exemplar edits that did not train anything (so they cannot share the mappers' CLIP's
// blind spots): pixel statistics of renders from fixed cameras, calibrated against exact renders of procedural
// chairs of known parameters (clipnerf_mapper_test.cc).
//   colour: the mean foreground colour (foreground = opacity > 0.5) as HSV must land in the named colour's band —
//           a hue interval, and for the palette's browns/beige/white also saturation/value limits (brown, beige
//           and orange share hues; white has none): ClassifyColour.
//   shape:  attributes measured on the opacity silhouette, from a side camera (back height above the seat's
//           underside, leg length below it, armrest pixels above the seat's front half) and a front camera (seat
//           width = the widest row); an edit succeeds when the attribute moves the named way by a clear margin.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

#include "eval/image_metrics.h"
#include "methods/clipnerf/clipnerf_category_clip.h"
#include "render/camera.h"

namespace nerfedit {

// Mean of rgb [H,W,3] over pixels with mask [H,W] > 0.5, as HSV (eval/image_metrics.h).
using Hsv = ForegroundHue;
inline Hsv MeanForegroundHsv(const at::Tensor& rgb, const at::Tensor& mask) { return MeanForegroundHue(rgb, mask); }

// The colour a mean foreground colour names: an index into ChairColours(), or -1 (none: grey, black, a weak tint).
// The bands, calibrated on exact renders of every vocabulary colour (mean over the whole chair, legs of any colour
// included, shaded; clipnerf_mapper_test.cc): saturation < 0.12 and value >= 0.45 is white; otherwise by hue —
// [340,12) red, [12,48) the palette's browns: orange (saturation >= 0.68 and value >= 0.47), else brown
// (saturation >= 0.45), else beige (saturation >= 0.15); [48,80) yellow, [80,190) green, [190,255) blue, [255,340)
// purple (saturation >= 0.35 for red and yellow, 0.2 for the rest).
int ClassifyColour(const Hsv& c);

// The judge's cameras (the chairs' rig at `size` px): side = azimuth 90 deg, front = azimuth 0, both at 10 deg
// elevation (the low end of the training prior, where back, seat and legs separate in the silhouette).
Camera JudgeSideCamera(int64_t size = 128);
Camera JudgeFrontCamera(int64_t size = 128);

// Silhouette measurements in pixels of the judge cameras; -1 when the silhouette is empty.
struct ChairShapeMeasure {
  double back_height = -1;          // side: seat underside row - top row
  double leg_length = -1;           // side: bottom row - seat underside row
  double armrest_pixels = -1;       // side: pixels above the seat, separated from it, over its front 45%
  double seat_width = -1;           // front: widest row extent
  double Get(int attribute) const;  // by ChairAttribute
};
// side_mask, front_mask [H,W] opacity (> 0.5 is foreground) from JudgeSideCamera / JudgeFrontCamera.
ChairShapeMeasure MeasureChairShape(const at::Tensor& side_mask, const at::Tensor& front_mask);

// The clear margins (pixels at 128 px) an attribute must move by: back 4, legs 3, seat width 4, armrests 20 pixels
// (and, to add armrests, at least 25 after; to remove them, at most 10 after).
bool ShapeEditSucceeded(int attribute, int direction, const ChairShapeMeasure& before, const ChairShapeMeasure& after);

// Exact renders of a procedural chair from a judge camera: rgb over white and the coverage mask.
struct ExactView {
  at::Tensor rgb, mask;
};
ExactView RenderExactChair(const ChairParams& params, const Camera& camera);

}  // namespace nerfedit
