// Viewer latency per request: POST /api/render round trips against a live ViewerServer on loopback, split into the
// scene's render time (X-Render-Ms), conversion+encoding (X-Encode-Ms) and the rest (HTTP, queue, copies).
// With the analytic sphere scene this measures server overhead, not NeRF speed.
//   viewer_latency [--requests N]
#include <httplib.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "app/viewer/sphere_scene.h"
#include "app/viewer/viewer_server.h"
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
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--requests" && i + 1 < argc) requests = std::max(1, std::stoi(argv[++i]));
  }
  const int threads = nerfedit::ConfigureThreads();
  auto scene = std::make_shared<nerfedit::SphereScene>();
  nerfedit::ViewerServer server(scene, "spheres", nerfedit::ViewerOptions().port(0));
  server.Start();
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(60, 0);
  std::printf("viewer_latency: analytic sphere scene, %d requests each, %d torch threads, loopback keep-alive\n",
              requests, threads);
  std::printf("%-9s %-6s %-8s | %9s %9s | %9s %9s %9s | %8s\n", "size", "format", "mode", "e2e p50", "e2e p90",
              "render", "encode", "other", "bytes");
  for (int side : {400, 800}) {
    for (const char* format : {"jpeg", "png"}) {
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
      }
    }
  }
  server.Stop();
  return 0;
}
