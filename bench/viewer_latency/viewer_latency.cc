// Viewer latency per request: POST /api/render round trips against a live ViewerServer on loopback, split into the
// scene's render time (X-Render-Ms), conversion+encoding (X-Encode-Ms) and the rest (HTTP, queue, copies).
// With the analytic sphere scene this measures server overhead, not NeRF speed; with --run it serves a trained run
// as `nerfedit serve` does and also times a new text query (select + overlay render) at 200x200 for dff runs.
//   viewer_latency [--requests N] [--run RUN [--device cpu|cuda|auto]]
// Last line (with --run): render_ms_400=… render_ms_800=… select_ms_200=… device=…
#include <httplib.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/viewer/edit_session.h"
#include "app/viewer/sphere_scene.h"
#include "app/viewer/viewer_server.h"
#include "methods/dff/dff_query.h"
#include "methods/method_registry.h"
#include "methods/nerf/nerf_model.h"
#include "util/runtime.h"

namespace {

double Percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  int requests = 30;
  std::string run, device = "auto";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--requests" && i + 1 < argc) requests = std::max(1, std::stoi(argv[++i]));
    else if (flag == "--run" && i + 1 < argc) run = argv[++i];
    else if (flag == "--device" && i + 1 < argc) device = argv[++i];
    else {
      std::cerr << "usage: viewer_latency [--requests N] [--run RUN [--device cpu|cuda|auto]]\n";
      return 1;
    }
  }
  const int threads = nerfedit::ConfigureThreads();
  std::shared_ptr<nerfedit::Renderable> scene;
  std::shared_ptr<nerfedit::NerfModel> model;
  std::vector<std::string> object_names;
  try {
    if (run.empty()) {
      scene = std::make_shared<nerfedit::SphereScene>();
    } else {
      model = nerfedit::LoadSceneRun(run, device);
      model->set_supersample(1);  // as `nerfedit serve` renders
      scene = model;
      object_names = nerfedit::SceneObjectNames(model->config().data);
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  std::unique_ptr<nerfedit::EditSession> session;  // declared before the server: it outlives Stop()
  nerfedit::ViewerServer server(scene, run.empty() ? "spheres" : run, nerfedit::ViewerOptions().port(0));
  if (model && nerfedit::EditSession::Supports(*model)) {
    session = std::make_unique<nerfedit::EditSession>(model, run);
    session->Register(server, 1 << 22);
  }
  server.Start();
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(60, 0);
  std::printf("viewer_latency: %s, %d requests each, %d torch threads, loopback keep-alive\n",
              run.empty() ? "analytic sphere scene" : ("run " + run + " on " + device).c_str(), requests, threads);
  std::map<int, double> render_p50;
  std::printf("%-9s %-6s %-8s | %9s %9s | %9s %9s %9s | %8s\n", "size", "format", "mode", "e2e p50", "e2e p90",
              "render", "encode", "other", "bytes");
  for (int side : {400, 800}) {
    for (const char* format : {"jpeg", "png"}) {
      if (!run.empty() && std::string(format) == "png") continue;  // a NeRF render dwarfs the encoding
      for (const char* mode : {"rgb", "depth"}) {
        nlohmann::json body = {{"camera", 1}, {"width", side}, {"height", side}, {"format", format}, {"mode", mode},
                               {"client", "bench"}};
        std::vector<double> total, render, encode, other;
        size_t bytes = 0;
        for (int i = -3; i < requests; ++i) {  // 3 warm-up requests
          body["request"] = i + 3;
          const double start = nerfedit::NowSeconds();
          auto res = client.Post("/api/render", body.dump(), "application/json");
          const double elapsed = (nerfedit::NowSeconds() - start) * 1e3;
          if (!res || res->status != 200) {
            std::cerr << "request failed: " << (res ? res->body : httplib::to_string(res.error())) << "\n";
            return 1;
          }
          if (i < 0) continue;
          total.push_back(elapsed);
          render.push_back(std::stod(res->get_header_value("X-Render-Ms")));
          encode.push_back(std::stod(res->get_header_value("X-Encode-Ms")));
          other.push_back(total.back() - render.back() - encode.back());
          bytes = res->body.size();
        }
        const double t50 = Percentile(total, 0.5), r50 = Percentile(render, 0.5), e50 = Percentile(encode, 0.5);
        // "other" is the median of each request's own remainder: HTTP, JSON, queue hand-off, copies.
        std::printf("%4dx%-4d %-6s %-8s | %7.2fms %7.2fms | %7.2fms %7.2fms %7.2fms | %8zu\n", side, side, format, mode,
                    t50, Percentile(total, 0.9), r50, e50, Percentile(other, 0.5), bytes);
        std::fflush(stdout);
        if (std::string(mode) == "rgb" && std::string(format) == "jpeg") render_p50[side] = t50;
      }
    }
  }
  double select_p50 = 0;
  if (session) {
    // A new text query each time: the teacher's text embedding, the selection and the overlay render.
    std::vector<double> select;
    for (int i = 0; i < std::max<int>(requests, static_cast<int>(object_names.size())); ++i) {
      const std::string text = object_names.empty() ? "object" : object_names[i % object_names.size()];
      nlohmann::json body = {{"text", text}, {"camera", 0}, {"width", 200}, {"height", 200}, {"format", "jpeg"},
                             {"client", "bench"}, {"request", 1000 + i}};
      const double start = nerfedit::NowSeconds();
      auto res = client.Post("/api/select", body.dump(), "application/json");
      if (!res || res->status != 200) {
        std::cerr << "select failed: " << (res ? res->body : httplib::to_string(res.error())) << "\n";
        return 1;
      }
      select.push_back((nerfedit::NowSeconds() - start) * 1e3);
    }
    select_p50 = Percentile(select, 0.5);
    std::printf("text query + 200x200 overlay: p50 %.2f ms, p90 %.2f ms over %zu queries\n", select_p50,
                Percentile(select, 0.9), select.size());
  }
  server.Stop();
  if (!run.empty()) {
    std::printf("render_ms_400=%.1f render_ms_800=%.1f select_ms_200=%.1f device=%s\n", render_p50[400],
                render_p50[800], select_p50, model->device().is_cuda() ? "cuda" : "cpu");
  }
  return 0;
}
