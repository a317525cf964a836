// The web viewer's HTTP server: a static page plus a small JSON API over one trained scene (any Renderable).
//
//   GET  /api/info     {"run", "aabb":[[3],[3]], "image":{"width","height"}, "camera_count", "has_features",
//                       "max_pixels", "modes", "formats", "endpoints", "api_version",
//                       "styles": [names] (empty unless the scene renders under several styles: stylize runs),
//                       "style": the index selected (0 until /api/style switches it; null without styles)}
//   GET  /api/cameras  [{"index", "w", "h", "fl_x", "fl_y", "cx", "cy", "transform_matrix"}, ...]
//   GET  /api/status   {"waiting", "completed", "superseded", "clients"}
//   POST /api/render   {"pose": 4x4 world_from_cam (OpenGL axes) | "camera": index,
//                       "width", "height", "fov_x_degrees" | "intrinsics": {"fl_x","fl_y","cx","cy"},
//                       "mode": "rgb"|"depth"|"opacity", "format": "jpeg"|"png", "quality": 1..100,
//                       "client": "id", "request": sequence number}
//                      -> image bytes; headers X-Render-Ms, X-Resolution (WxH), X-Request, X-Depth-Near/Far.
//   POST /api/style    {"style": index | name} -> {"style": index, "name"}: later renders use that style (switched on
//                      the render thread). 400 an unknown name or index out of range, 404 a scene without styles.
// Errors are JSON {"error": "..."}: 400 bad request, 404 unknown path or camera, 405 wrong method, 409 superseded by
// a newer request of the same client, 413 resolution over max_pixels, 429 too many clients, 503 queue full/stopping.
//
// Renders run on ONE render thread behind a queue (render_queue.h); HTTP threads wait on futures. Later pipelines
// (feature-field selection and edits) add endpoints with AddPostEndpoint, run scene work through RunOnRenderThread,
// and publish an edited scene with SetScene. So does the prompt box of category (clipnerf) runs, category_session.h:
// POST /api/category, /api/category/instance {"instance"}, /api/category/edit {"prompt"} | {"reset": true}.
#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "app/viewer/render_queue.h"
#include "app/viewer/view_image.h"
#include "app/viewer/view_request.h"  // ApiError, ParseViewRequest, ParseApiBody
#include "render/renderable.h"

namespace nerfedit {

struct ViewerOptions {
  TORCH_ARG(std::string, host) = "127.0.0.1";
  TORCH_ARG(int, port) = 7007;  // 0 picks a free port (read it back with ViewerServer::port())
  TORCH_ARG(int64_t, max_pixels) = 1024 * 1024;
  TORCH_ARG(int, max_clients) = 8;
  TORCH_ARG(std::string, static_dir) = "";  // folder holding index.html; empty serves the API only
  TORCH_ARG(double, client_timeout_s) = 30;  // a client silent this long no longer counts against max_clients
};

// What an endpoint answers: JSON by default, or bytes with their content type.
struct ApiReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static ApiReply Json(const nlohmann::json& body, int status = 200);
};

// The result of a RunOnRenderThread future, with queue outcomes mapped to API errors: Superseded -> 409
// {"error":"superseded"}, QueueRejected -> 503, ApiError as thrown, any other exception -> 500.
template <typename T>
T AwaitRender(std::future<T>& future) {
  try {
    return future.get();
  } catch (const Superseded&) {
    throw ApiError(409, "superseded");
  } catch (const QueueRejected& e) {
    throw ApiError(503, e.what());
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw ApiError(500, std::string("render failed: ") + e.what());
  }
}

// Handles a POST with a parsed JSON object body. Throw ApiError for client errors (nerfedit::Error becomes 400).
using ApiHandler = std::function<ApiReply(const nlohmann::json& request)>;

class ViewerServer {
 public:
  ViewerServer(std::shared_ptr<Renderable> scene, std::string run_name, ViewerOptions options = {});
  ~ViewerServer();  // Stop()
  ViewerServer(const ViewerServer&) = delete;
  ViewerServer& operator=(const ViewerServer&) = delete;

  // Binds and starts serving on background threads; returns once the socket accepts connections.
  // Throws nerfedit::Error when the port cannot be bound or static_dir has no index.html.
  void Start();
  int port() const;  // the bound port (valid after Start)
  void Stop();       // fails queued renders with 503, finishes the running one, closes the socket. Idempotent.
  void Wait();       // blocks until Stop() (from another thread or a signal handler thread)

  // Extension points for the selection/edit panel; call AddPostEndpoint before Start().
  void AddPostEndpoint(const std::string& path, ApiHandler handler);
  template <typename T>
  std::future<T> RunOnRenderThread(const std::string& client, int64_t sequence, std::function<T()> work) {
    return queue().Submit<T>(client, sequence, std::move(work));
  }
  void SetScene(std::shared_ptr<Renderable> scene);  // later renders use it (e.g. the scene wrapped by an edit)
  std::shared_ptr<Renderable> scene() const;

 private:
  struct Impl;
  RenderQueue& queue();
  std::unique_ptr<Impl> impl_;
};

}  // namespace nerfedit
