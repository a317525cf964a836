// The viewer's select-and-edit panel for a feature-field run (Distilled Feature Fields, Kobayashi 2022): select by
// text or by a click, delete / extract / recolour / move the selection, undo, and save the edited scene as a new
// run folder (the same edits.json `nerfedit edit` writes). Endpoints, registered on a ViewerServer:
//
//   POST /api/select         {"text": "red sphere"} or {"click": {"x", "y"}} (pixel of the view), plus the view
//                            fields of /api/render (pose | camera, width, height, ..., client, request). A text query
//                            without a view is measured in training camera 0 (at most 160 px wide).
//                            -> {"label", "coverage" (fraction of the view's pixels selected), "width", "height"};
//                            with "format": "png"|"jpeg" -> the view with the mask overlaid (X-Coverage header).
//   POST /api/select_render  the body of /api/render (mode rgb) -> that view with the current selection overlaid,
//                            same headers as /api/render plus X-Coverage. One render gives picture and mask.
//   POST /api/edit           {"op": "delete"|"extract"|"recolor"|"translate"|"text", "color": "#rrggbb" (recolor),
//                            "offset": [x,y,z] (translate), "prompt": "blue sphere" (text: a recolour fitted to the
//                            prompt under the run's teacher CLIP, methods/dff/text_recolor.h; seconds)}
//                            -> {"op", "edits", "message"}
//   POST /api/undo           {} -> {"undone", "edits", "message"}
//   POST /api/save           {"out": "folder"} (relative to the run's parent folder, or absolute inside it)
//                            -> {"saved": absolute path, "edits"}
// Errors: 409 "select something first" / "nothing to undo" / an existing non-empty output folder, 400 bad op or
// colour, 403 an output path outside the run's parent folder or with "..". A run without a feature field gets the
// same endpoints answering 404 "this run has no feature field".
//
// State (selection, edit list, teacher) is only touched on the server's render thread (RunOnRenderThread), which
// also renders the scene, so edits apply between renders and every later view shows them.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "edit/edit_list.h"
#include "edit/selection.h"
#include "methods/dff/teacher.h"
#include "methods/nerf/nerf_model.h"

namespace nerfedit {

class ViewerServer;

class EditSession {
 public:
  // model: the run loaded with LoadNerfRun(run_dir) (its own edits.json already applied: the session's edits stack
  // on top, and a save keeps both). The server must serve this same model.
  EditSession(std::shared_ptr<NerfModel> model, std::string run_dir);
  ~EditSession();
  EditSession(const EditSession&) = delete;
  EditSession& operator=(const EditSession&) = delete;

  // Whether `model` can be selected in (its field is a feature field).
  static bool Supports(const NerfModel& model);

  // Adds the endpoints above to `server` (before its Start()); max_pixels is the server's ViewerOptions::max_pixels
  // (views of /api/select and /api/select_render are held to it). The session must outlive the server's Stop().
  void Register(ViewerServer& server, int64_t max_pixels);
  // For runs without a feature field: the same paths, answering 404 "this run has no feature field".
  static void RegisterUnavailable(ViewerServer& server);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nerfedit
