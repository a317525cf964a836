// Everything the viewer's API reads from a request body, as pure functions of the body (and the scene's training
// cameras): the HTTP server (viewer_server.h) and the edit panel (edit_session.h) call them, and so does the fuzz
// target (fuzz/view_request_fuzz.cc) without a server. Each throws ApiError with the HTTP status and a message
// naming the field; nothing here touches a scene.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "app/viewer/view_image.h"
#include "render/camera.h"

namespace nerfedit {

// An API error with its HTTP status; handlers throw it, the server turns it into {"error": message}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// A POST body: a JSON object, else ApiError(400) ("malformed JSON: ..." or "request body must be a JSON object").
nlohmann::json ParseApiBody(const std::string& body);

// Builds the camera of a POST /api/render body (also the view of /api/select and /api/select_render).
// Throws ApiError (400/404/413) naming the field. `training` are the scene's cameras for {"camera": index}.
struct ViewRequest {
  Camera camera;
  ViewMode mode = ViewMode::kRgb;
  ImageFormat format = ImageFormat::kJpeg;
  int quality = 85;
  std::string client;
  int64_t sequence = 0;
};
ViewRequest ParseViewRequest(const nlohmann::json& body, const std::vector<Camera>& training, int64_t max_pixels);

// POST /api/select: {"text", "negatives"} or {"click": {"x", "y"}}, plus the view fields of /api/render. A text query
// without a view is measured in training camera 0 at most 160 px wide (an error when the scene has no cameras); a
// click must lie inside its view.
struct SelectRequest {
  std::string text;                                // empty for a click
  std::vector<std::string> negatives;              // with "text" only
  std::optional<std::pair<double, double>> click;  // pixel (x, y) in view.camera
  ViewRequest view;
  bool want_image = false;  // "format" given: answer with the view and the mask overlaid
};
SelectRequest ParseSelectRequest(const nlohmann::json& body, const std::vector<Camera>& training, int64_t max_pixels);

// POST /api/edit: {"op": "delete"|"extract"|"recolor"|"translate"|"text", "color": "#rrggbb", "offset": [x,y,z],
// "prompt": "blue sphere"}.
struct EditRequest {
  std::string op;
  std::array<float, 3> color{};   // recolor: target colour in [0,1]
  std::array<float, 3> offset{};  // translate: finite offset
  std::string prompt;             // text: what the selection should look like (at most kMaxPromptChars)
};
inline constexpr size_t kMaxPromptChars = 200;
EditRequest ParseEditRequest(const nlohmann::json& body);

// POST /api/save {"out": folder}: the folder an edited copy of run_dir goes to, relative to the run's parent folder or
// absolute inside it, without "..": 400 empty or NUL, 403 outside the parent folder, 409 the run itself or an
// existing non-empty path.
std::filesystem::path ParseSavePath(const nlohmann::json& body, const std::string& run_dir);

}  // namespace nerfedit
