#include "app/viewer/viewer_server.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {
namespace fs = std::filesystem;
using Json = nlohmann::json;

ApiReply ApiReply::Json(const nlohmann::json& body, int status) {
  ApiReply reply;
  reply.status = status;
  reply.body = body.dump();
  return reply;
}

namespace {

ApiReply ErrorReply(int status, const std::string& message) { return ApiReply::Json({{"error", message}}, status); }

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

const char* StaticContentType(const fs::path& path) {
  static const std::map<std::string, const char*> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
      {".png", "image/png"},                 {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},               {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"}};
  auto it = types.find(path.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

// Resolves a URL path inside `root` (canonical). Refuses "..", absolute paths, and symlinks that lead outside.
ApiReply ServeStatic(const fs::path& root, const std::string& url_path) {
  if (root.empty()) return ErrorReply(404, "this server has no static folder; the API is under /api/");
  std::string rel = url_path.empty() ? "" : url_path.substr(1);  // httplib has already percent-decoded the path
  if (rel.empty() || rel.back() == '/') rel += "index.html";
  if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos) {
    return ErrorReply(400, "path has a NUL or backslash");
  }
  if (rel.front() == '/') return ErrorReply(403, "absolute paths are not served");
  std::stringstream segments(rel);
  for (std::string segment; std::getline(segments, segment, '/');) {
    if (segment == "..") return ErrorReply(403, "path leaves the static folder: " + url_path);
  }
  std::error_code error;
  fs::path resolved = fs::canonical(root / rel, error);
  if (error) return ErrorReply(404, "no such file: " + url_path);
  const std::string inside = root.string() + "/";
  if (resolved.string().compare(0, inside.size(), inside) != 0) {
    return ErrorReply(403, "path leaves the static folder: " + url_path);
  }
  if (!fs::is_regular_file(resolved, error)) return ErrorReply(404, "not a file: " + url_path);
  std::ifstream in(resolved, std::ios::binary);
  if (!in) return ErrorReply(404, "cannot read: " + url_path);
  ApiReply reply;
  reply.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  reply.content_type = StaticContentType(resolved);
  reply.headers.push_back({"Cache-Control", "no-cache"});
  return reply;
}

const char* GenericMessage(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "unknown path";
    case 405: return "method not allowed";
    case 413: return "request body too large";
    case 414: return "URI too long";
    default: return status >= 500 ? "internal server error" : "request failed";
  }
}

struct TimedView {
  RenderedView view;
  double render_ms = 0;
};

}  // namespace

struct ViewerServer::Impl {
  int listen_socket = -1;  // the bound socket, seen by httplib's socket-options hook
  Impl(std::shared_ptr<Renderable> scene_in, std::string run_in, ViewerOptions options_in)
      : run_name(std::move(run_in)),
        options(std::move(options_in)),
        queue(2 * std::max(1, options.max_clients())),  // room for every client's one waiting job, and anonymous ones
        scene(std::move(scene_in)) {}

  const std::string run_name;
  const ViewerOptions options;
  RenderQueue queue;
  httplib::Server http;
  std::thread listen_thread;
  int port = -1;
  fs::path static_root;
  std::vector<std::pair<std::string, ApiHandler>> post_endpoints;
  std::vector<Camera> cameras;  // cached at Start: the API never calls the scene off the render thread
  Json info;
  // The style last selected through /api/style, reported by /api/info so that a reloaded page shows it (stylize runs
  // load with style 0).
  std::atomic<int64_t> selected_style{0};

  mutable std::mutex scene_mutex;
  std::shared_ptr<Renderable> scene;

  std::mutex clients_mutex;
  std::map<std::string, double> client_last_seen;

  std::mutex stop_mutex;  // serialises Stop() callers (the destructor and a signal thread, say)
  std::mutex state_mutex;
  std::condition_variable stopped_cv;
  bool started = false, stopped = false;

  std::shared_ptr<Renderable> CurrentScene() const {
    std::lock_guard<std::mutex> lock(scene_mutex);
    return scene;
  }

  // Counts `client` as active; refuses a new one when max_clients others spoke within client_timeout_s.
  void AdmitClient(const std::string& client) {
    const double now = NowSeconds();
    std::lock_guard<std::mutex> lock(clients_mutex);
    for (auto it = client_last_seen.begin(); it != client_last_seen.end();) {
      it = now - it->second > options.client_timeout_s() ? client_last_seen.erase(it) : std::next(it);
    }
    if (client_last_seen.count(client) == 0 && static_cast<int>(client_last_seen.size()) >= options.max_clients()) {
      throw ApiError(429, "too many clients: " + std::to_string(client_last_seen.size()) +
                              " are active (max_clients " + std::to_string(options.max_clients()) +
                              "); retry once one has been idle for " + Fixed(options.client_timeout_s(), 0) + " s");
    }
    client_last_seen[client] = now;
  }

  ApiReply Render(const Json& body) {
    ViewRequest request = ParseViewRequest(body, cameras, options.max_pixels());
    if (!request.client.empty()) AdmitClient(request.client);
    auto future = queue.Submit<TimedView>(request.client, request.sequence, [this, camera = request.camera] {
      auto current = CurrentScene();  // read at run time, so a SetScene between queueing and rendering is seen
      const double start = NowSeconds();
      TimedView out{current->RenderColour(camera), 0};  // the render API's pictures show no features
      out.render_ms = (NowSeconds() - start) * 1e3;
      return out;
    });
    TimedView result = AwaitRender(future);
    // Conversion and encoding run here, on the HTTP thread, so the render thread is free for the next view.
    const double encode_start = NowSeconds();
    DepthRange range;
    at::Tensor image;
    try {
      image = ViewToImage(result.view, request.mode, &range);
    } catch (const Error& e) {
      throw ApiError(500, std::string("the scene returned a bad view: ") + e.what());
    }
    if (image.size(0) != request.camera.height || image.size(1) != request.camera.width) {
      throw ApiError(500, "the scene rendered " + std::to_string(image.size(1)) + "x" + std::to_string(image.size(0)) +
                              " for a " + std::to_string(request.camera.width) + "x" +
                              std::to_string(request.camera.height) + " camera");
    }
    ApiReply reply;
    reply.body = EncodeImage(image, request.format, request.quality);
    reply.content_type = ContentType(request.format);
    reply.headers = {{"X-Render-Ms", Fixed(result.render_ms, 2)},
                     {"X-Encode-Ms", Fixed((NowSeconds() - encode_start) * 1e3, 2)},
                     {"X-Resolution", std::to_string(request.camera.width) + "x" + std::to_string(request.camera.height)},
                     {"X-Request", std::to_string(request.sequence)},
                     {"Cache-Control", "no-store"}};
    if (request.mode == ViewMode::kDepth) {
      reply.headers.push_back({"X-Depth-Near", Fixed(range.near, 4)});
      reply.headers.push_back({"X-Depth-Far", Fixed(range.far, 4)});
    }
    return reply;
  }

  // POST /api/style {"style": index | name}: the scene's names are read on the render thread, where the switch happens,
  // so a scene published by SetScene meanwhile is the one switched.
  ApiReply Style(const Json& body) {
    for (const auto& [key, value] : body.items()) {
      if (key == "style") continue;
      throw ApiError(400,
                     "/api/style: unknown field \"" + key.substr(0, 100) + "\" (it takes {\"style\": index or name})");
    }
    if (!body.contains("style")) {
      throw ApiError(400, "/api/style needs \"style\": an index or a name from /api/info \"styles\"");
    }
    const Json style = body["style"];
    if (!style.is_number_integer() && !style.is_string()) {
      throw ApiError(
          400, "/api/style: \"style\" must be an integer index or a style name, got " + style.dump().substr(0, 100));
    }
    auto future = queue.Submit<Json>("", 0, [this, style] {
      auto current = CurrentScene();
      const std::vector<std::string> names = current->StyleNames();
      if (names.empty()) throw ApiError(404, "this run has no styles (a `nerfedit stylize train` run has)");
      const int64_t count = static_cast<int64_t>(names.size());
      auto listed = [&] {
        std::string list;
        for (const auto& name : names) list += (list.empty() ? "\"" : ", \"") + name + "\"";
        return list;
      };
      int64_t index = -1;
      if (style.is_string()) {
        const std::string name = style.get<std::string>();
        auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
          throw ApiError(400, "unknown style \"" + name.substr(0, 100) + "\": the run's styles are " + listed());
        }
        index = it - names.begin();
      } else {
        // Unsigned first: a huge positive number must not wrap to a valid index.
        const bool in_range = style.is_number_unsigned() ? style.get<uint64_t>() < static_cast<uint64_t>(count)
                                                         : style.get<int64_t>() >= 0 && style.get<int64_t>() < count;
        if (!in_range) {
          throw ApiError(400, "style " + style.dump() + " is out of range: the run has " + std::to_string(count) +
                                  " styles (0.." + std::to_string(count - 1) + ")");
        }
        index = style.get<int64_t>();
      }
      current->SelectStyle(index);
      selected_style = index;
      return Json{{"style", index}, {"name", names[index]}};
    });
    return ApiReply::Json(AwaitRender(future));
  }

  Json Info() const {
    Json out = info;
    if (!out["styles"].empty()) out["style"] = selected_style.load();
    return out;
  }

  Json Status() {
    std::lock_guard<std::mutex> lock(clients_mutex);
    return {{"waiting", queue.waiting()},
            {"completed", queue.completed()},
            {"superseded", queue.superseded()},
            {"clients", client_last_seen.size()}};
  }

  // Reads everything the API reports about the scene once, probing one tiny view for features on the render thread.
  void Describe() {
    auto current = CurrentScene();
    cameras = current->TrainingCameras();
    at::Tensor aabb = current->Aabb();
    NE_CHECK(aabb.defined() && aabb.dim() == 2 && aabb.size(0) == 2 && aabb.size(1) == 3, "run ", run_name,
             ": scene Aabb() has shape ", aabb.defined() ? aabb.sizes() : at::IntArrayRef{}, " expected [2,3]");
    aabb = aabb.to(at::kCPU, at::kFloat).contiguous();
    Json aabb_json = Json::array();
    for (int r = 0; r < 2; ++r) aabb_json.push_back({aabb[r][0].item<float>(), aabb[r][1].item<float>(), aabb[r][2].item<float>()});

    Camera probe;
    if (!cameras.empty()) {
      probe = cameras.front().Downscaled(static_cast<int>(std::max<int64_t>(1, cameras.front().width / 8)));
    } else {
      auto lo = aabb[0], hi = aabb[1];
      auto centre = (lo + hi) * 0.5f;
      const float extent = (hi - lo).norm().item<float>();
      std::array<float, 3> target = {centre[0].item<float>(), centre[1].item<float>(), centre[2].item<float>()};
      std::array<float, 3> eye = {target[0] + extent, target[1] + extent, target[2] + extent};
      probe = Camera::LookAt(eye, target, {0, 0, 1}, 8, 8, 0.9);
    }
    bool has_features = false;
    auto future = queue.Submit<bool>("", 0, [this, probe] {
      RenderedView view = CurrentScene()->Render(probe);
      return view.features.defined() && view.features.numel() > 0;
    });
    try {
      has_features = future.get();
    } catch (const std::exception& e) {
      NE_FAIL("run ", run_name, ": the scene failed to render a ", probe.width, "x", probe.height, " probe view: ", e.what());
    }

    Json endpoints = {"GET /api/info", "GET /api/cameras", "GET /api/status", "POST /api/render", "POST /api/style"};
    for (const auto& [path, handler] : post_endpoints) endpoints.push_back("POST " + path);
    info = {{"api_version", 1},
            {"run", run_name},
            {"aabb", aabb_json},
            {"image", cameras.empty() ? Json(nullptr)
                                      : Json{{"width", cameras.front().width}, {"height", cameras.front().height}}},
            {"camera_count", cameras.size()},
            {"has_features", has_features},
            {"max_pixels", options.max_pixels()},
            {"modes", {"rgb", "depth", "opacity"}},
            {"formats", {"jpeg", "png"}},
            {"endpoints", endpoints},
            {"styles", current->StyleNames()},
            {"style", nullptr}};
  }
};

namespace {

// An exception's message for a JSON reply: a LibTorch error's what() carries a C++ backtrace, which is for a
// developer's terminal, not for the browser.
std::string ReplyText(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e)) return torch_error->what_without_backtrace();
  return e.what();
}

// Adapts an ApiReply-returning function to an httplib handler, mapping exceptions to JSON errors.
httplib::Server::Handler Route(std::function<ApiReply(const httplib::Request&)> handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    ApiReply reply;
    try {
      reply = handler(req);
    } catch (const ApiError& e) {
      reply = ErrorReply(e.status(), e.what());
    } catch (const Error& e) {
      reply = ErrorReply(400, e.what());
    } catch (const std::exception& e) {
      reply = ErrorReply(500, ReplyText(e));
    }
    res.status = reply.status;
    for (const auto& [name, value] : reply.headers) res.set_header(name, value);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(std::move(reply.body), reply.content_type.c_str());
  };
}

}  // namespace

ViewerServer::ViewerServer(std::shared_ptr<Renderable> scene, std::string run_name, ViewerOptions options) {
  NE_CHECK(scene != nullptr, "ViewerServer: run ", run_name, " has no scene");
  NE_CHECK(options.max_pixels() > 0, "ViewerOptions.max_pixels is ", options.max_pixels(), " expected > 0");
  NE_CHECK(options.max_clients() > 0, "ViewerOptions.max_clients is ", options.max_clients(), " expected > 0");
  NE_CHECK(options.port() >= 0 && options.port() <= 65535, "ViewerOptions.port is ", options.port(), " expected 0..65535");
  impl_ = std::make_unique<Impl>(std::move(scene), std::move(run_name), std::move(options));
}

ViewerServer::~ViewerServer() { Stop(); }

RenderQueue& ViewerServer::queue() { return impl_->queue; }

void ViewerServer::SetScene(std::shared_ptr<Renderable> scene) {
  NE_CHECK(scene != nullptr, "ViewerServer::SetScene: null scene");
  std::lock_guard<std::mutex> lock(impl_->scene_mutex);
  impl_->scene = std::move(scene);
}

std::shared_ptr<Renderable> ViewerServer::scene() const { return impl_->CurrentScene(); }

void ViewerServer::AddPostEndpoint(const std::string& path, ApiHandler handler) {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  NE_CHECK(!impl_->started, "ViewerServer::AddPostEndpoint(", path, ") after Start()");
  NE_CHECK(path.rfind("/api/", 0) == 0, "viewer endpoint ", path, " must start with /api/");
  impl_->post_endpoints.emplace_back(path, std::move(handler));
}

int ViewerServer::port() const { return impl_->port; }

void ViewerServer::Start() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.state_mutex);
    NE_CHECK(!s.started, "ViewerServer::Start called twice");
    s.started = true;
  }
  if (!s.options.static_dir().empty()) {
    std::error_code error;
    s.static_root = fs::canonical(s.options.static_dir(), error);
    NE_CHECK(!error && fs::is_regular_file(s.static_root / "index.html"), "viewer static folder ",
             s.options.static_dir(), " has no index.html");
  }
  s.Describe();

  auto& http = s.http;
  const size_t threads = static_cast<size_t>(4 + 2 * s.options.max_clients());  // keep-alive connections hold one each
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(1 << 20);
  http.set_keep_alive_timeout(5);
  http.set_tcp_nodelay(true);  // headers and body go out as separate writes: Nagle + delayed ACK would add ~40 ms
  // httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port and steal half the
  // connections; keep only SO_REUSEADDR so a busy port is a clear error.
  http.set_socket_options([&s](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    s.listen_socket = sock;
  });

  http.Get("/api/info", Route([&s](const httplib::Request&) { return ApiReply::Json(s.Info()); }));
  http.Get("/api/cameras", Route([&s](const httplib::Request&) {
             Json list = Json::array();
             for (size_t i = 0; i < s.cameras.size(); ++i) {
               Json camera = s.cameras[i].ToJson();
               camera["index"] = i;
               list.push_back(camera);
             }
             return ApiReply::Json(list);
           }));
  http.Get("/api/status", Route([&s](const httplib::Request&) { return ApiReply::Json(s.Status()); }));
  http.Post("/api/render", Route([&s](const httplib::Request& req) { return s.Render(ParseApiBody(req.body)); }));
  http.Post("/api/style", Route([&s](const httplib::Request& req) { return s.Style(ParseApiBody(req.body)); }));
  std::vector<std::string> post_paths = {"/api/render", "/api/style"};
  for (const auto& [path, handler] : s.post_endpoints) {
    post_paths.push_back(path);
    http.Post(path,
              Route([handler = handler](const httplib::Request& req) { return handler(ParseApiBody(req.body)); }));
  }
  for (const auto& path : post_paths) {
    http.Get(path, Route([path](const httplib::Request&) -> ApiReply { throw ApiError(405, path + " takes POST"); }));
  }
  for (const char* path : {"/api/info", "/api/cameras", "/api/status"}) {
    std::string p = path;
    http.Post(p, Route([p](const httplib::Request&) -> ApiReply { throw ApiError(405, p + " takes GET"); }));
  }
  http.Get("/api/.*", Route([](const httplib::Request& req) -> ApiReply {
             throw ApiError(404, "unknown API endpoint " + req.path);
           }));
  http.Post(".*", Route([](const httplib::Request& req) -> ApiReply {
              throw ApiError(404, "unknown API endpoint " + req.path);
            }));
  http.Get(".*", Route([&s](const httplib::Request& req) { return ServeStatic(s.static_root, req.path); }));

  // httplib's own errors (no route, body too large, unknown method) get the same JSON shape as ours.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    res.set_content(Json{{"error", GenericMessage(res.status)}}.dump(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
    std::string message = "internal server error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      message = ReplyText(e);
    } catch (...) {
    }
    res.status = 500;
    res.set_content(Json{{"error", message}}.dump(), "application/json");
  });

  const std::string& host = s.options.host();
  if (s.options.port() == 0) {
    s.port = http.bind_to_any_port(host);
    NE_CHECK(s.port > 0, "viewer: cannot bind ", host, " on any port");
  } else {
    NE_CHECK(http.bind_to_port(host, s.options.port()), "viewer: cannot bind ", host, ":", s.options.port(),
             " (is another server using it? try --port 0)");
    s.port = s.options.port();
  }
  // Debian's compiled httplib listens with a backlog of 5: a burst of clients overflowed it (the kernel dropped
  // handshakes and reset connections under the 50-client load test). listen() again only enlarges the queue.
  if (s.listen_socket >= 0) ::listen(s.listen_socket, SOMAXCONN);
  s.listen_thread = std::thread([&s] {
    s.http.listen_after_bind();
    std::lock_guard<std::mutex> lock(s.state_mutex);
    s.stopped = true;
    s.stopped_cv.notify_all();
  });
}

void ViewerServer::Stop() {
  if (!impl_) return;
  Impl& s = *impl_;
  std::lock_guard<std::mutex> stop_lock(s.stop_mutex);
  // Queued renders fail first so HTTP threads waiting on them can return; httplib then joins its pool.
  s.queue.Shutdown();
  s.http.stop();
  if (s.listen_thread.joinable()) s.listen_thread.join();
  std::lock_guard<std::mutex> lock(s.state_mutex);
  s.stopped = true;
  s.stopped_cv.notify_all();
}

void ViewerServer::Wait() {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.state_mutex);
  s.stopped_cv.wait(lock, [&s] { return s.stopped || !s.started; });
}

}  // namespace nerfedit
