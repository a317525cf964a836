// Building edit-list entries from a selection and writing edited run folders: shared by `nerfedit edit` (the CLI)
// and the web viewer's edit panel (app/viewer/edit_session.h), so both write the same edits.json.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "edit/edit_ops.h"  // ParseHexColor
#include "edit/selection.h"
#include "methods/dff/dff_query.h"
#include "methods/nerf/nerf_model.h"

namespace nerfedit {

// 4x4 row-major translation matrix (the "matrix" of a transform edit).
std::vector<float> TranslationMatrix(const std::array<float, 3>& offset);

// {"op": "recolor", "mode": "color", "target", "source"}: the source colour is the selection's mean rendered colour
// over up to `max_views` training views (MeasureSelection), so the recolour keeps the object's shading.
nlohmann::json MakeRecolorEdit(NerfModel& model, const Selection& selection, const std::array<float, 3>& target,
                               int64_t max_views = 8);

// The view with the selection mask blended in magenta: [H,W,3] f32 in [0,1].
at::Tensor SelectionOverlay(const SelectionView& view);

// Writes the edited run `to`: a copy of run.json, checkpoint.pt and edits.json of `from` with `new_edits` appended
// to its edit list, then checks that it loads. `to` must not exist or be empty; on any failure it is removed.
void WriteEditedRun(const std::string& from, const std::string& to, const std::vector<nlohmann::json>& new_edits,
                    const std::string& device);

}  // namespace nerfedit
