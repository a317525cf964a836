// The viewer's prompt box for a category run of CLIP-NeRF (Wang 2022): show any instance (a row of the run's code
// table) and edit it by a text prompt in one forward pass through the run's CLIP mappers, z' = z + M(E(t)), as
// `nerfedit clipnerf edit` does (app/clipnerf_edit_command.cc). Endpoints, registered on a ViewerServer:
//
//   POST /api/category           {} -> {"instances": N, "instance": shown row (-1: the mean code the run opens with),
//                                "prompts": [mappers.json "prompts", else the default library], "has_mappers",
//                                "stacked": edits applied to the shown instance, "mappers_error" (without mappers)}
//   POST /api/category/instance  {"instance": k} -> shows row k, its edits cleared -> {"instance", "stacked": 0}
//   POST /api/category/edit      {"prompt": "a red chair"} -> the shown code edited (edits stack: each starts from
//                                the last) -> {"prompt", "edits": "shape"|"appearance", "edit_ms", "instance",
//                                "stacked"}; {"reset": true} -> the instance's own code -> {"reset", "instance",
//                                "stacked": 0}
// Errors: 400 a prompt outside the chair vocabulary (ParseEditPrompt's message), an instance out of range, a bad body;
// 409 a run without mappers (train them with `nerfedit clipnerf mappers RUN`) or a CLIP that cannot be loaded. A run
// of another method gets the same paths answering 404 "this run is not a category (clipnerf) run".
//
// The CLIP the mappers were trained with is loaded on the first edit (seconds). Codes, mappers and CLIP are only
// touched on the server's render thread (RunOnRenderThread), which publishes each new instance with SetScene.
#pragma once
#include <memory>
#include <string>

#include "render/renderable.h"

namespace nerfedit {

class ViewerServer;
struct ClipBundle;

class CategorySession {
 public:
  // Loads the run's model (device as LoadClipnerfRun's) and its mappers when trained; the CLIP waits for an edit.
  CategorySession(std::string run_dir, const std::string& device);
  // The same with `clip` in place of the CLIP recorded in mappers.json (tests; a CLIP already in memory).
  CategorySession(std::string run_dir, const std::string& device, ClipBundle clip);
  ~CategorySession();
  CategorySession(const CategorySession&) = delete;
  CategorySession& operator=(const CategorySession&) = delete;

  // Whether run_dir was made by the clipnerf method (throws naming the folder when it is no run).
  static bool Supports(const std::string& run_dir);

  // The instance the run opens with (its config's render_instance, else the mean code): serve this.
  std::shared_ptr<Renderable> scene() const;

  // Adds the endpoints above to `server` (before its Start()), which must serve scene(). The session must outlive the
  // server's Stop().
  void Register(ViewerServer& server);
  // For runs of other methods: the same paths, answering 404 "this run is not a category (clipnerf) run".
  static void RegisterUnavailable(ViewerServer& server);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nerfedit
