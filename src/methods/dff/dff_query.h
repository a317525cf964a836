// Queries of a trained feature field (DFF Sec. 3.2): a text prompt, an exemplar image patch or a clicked pixel
// becomes an edit/Selection (a per-point probability of "selected"), and any view gets a rendered 2D mask.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "data/dataset.h"
#include "edit/selection.h"
#include "eval/image_metrics.h"  // MaskIou
#include "methods/dff/teacher.h"
#include "methods/nerf/nerf_model.h"

namespace nerfedit {

// LERF's canonical negatives ("object", "things", "stuff", "texture") for CLIPs with an open vocabulary.
const std::vector<std::string>& GenericNegatives();

// The canonical negatives of a query, in words the teacher knows. A real CLIP gets LERF's generic phrases. The small
// CLIP knows only its captions' words, so the query is read as (colour?, shape?) — synonyms included ("ball",
// "cube", "ring") — and the negatives are "ground" plus every other phrase of the same form: the other colours for
// "red", the other shapes for "cube", every other colour-shape pair for "red cube". A point is then selected when
// the query is its best description among the phrases the teacher could have given it. Unknown words fall back to
// the generic list.
std::vector<std::string> DefaultNegatives(const Teacher& teacher, const std::string& query);

// The other object names of a procedural dataset (objects.json beside its transforms.json), or empty.
std::vector<std::string> SceneObjectNames(const std::string& data);

// Text: softmax over {text, negatives} (negatives that equal the text are dropped). Empty negatives: the query's
// DefaultNegatives with LERF's pairwise relevancy (options.relevancy is set to "pairwise").
Selection TextSelection(const Teacher& teacher, const std::string& text, std::vector<std::string> negatives,
                        SelectionOptions options = {});
// Click: the feature the field renders at pixel (x, y) of `camera`.
Selection ClickSelection(NerfModel& model, const Camera& camera, double x, double y, SelectionOptions options = {});
// Image patch: the teacher's embedding of an exemplar crop [H,W,3].
Selection PatchSelection(const Teacher& teacher, const at::Tensor& crop, SelectionOptions options = {});

// Rendered selection of a view: per-pixel probability [H,W] from the rendered features (pixels the scene leaves
// empty get 0), and the hard mask (probability > threshold).
struct SelectionView {
  at::Tensor probability;  // [H,W] f32
  at::Tensor mask;         // [H,W] bool
  at::Tensor rgb;          // [H,W,3] the render itself, for overlays
};
SelectionView RenderSelection(NerfModel& model, const Selection& selection, const Camera& camera);

// Mean rendered colour and 3D centroid of the selected surface, from the masks of up to `max_views` training
// views (the source colour of a recolour and the pivot of a rotation).
struct SelectionStats {
  at::Tensor mean_rgb;  // [3]
  at::Tensor centroid;  // [3]
  int64_t pixels = 0;
};
SelectionStats MeasureSelection(NerfModel& model, const Selection& selection, int64_t max_views = 8);

// IoU of the selection's rendered masks against the pixels labelled `label` in every view of `views` (which must
// carry label maps: procedural data), pooled over the views.
double LabelIou(NerfModel& model, const Selection& selection, const Dataset& views, int label);

}  // namespace nerfedit
