#include "app/viewer/serve_command.h"

#include <CLI/CLI.hpp>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "app/viewer/category_session.h"
#include "app/viewer/edit_session.h"
#include "app/viewer/viewer_server.h"
#include "methods/method_registry.h"
#include "methods/nerf/nerf_model.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

int RunServe(int argc, char** argv) {
  CLI::App app{
      "Serve the web viewer for a trained run: orbit it in a browser, pick training cameras, view depth; "
      "for a feature-field (dff) run, select by text or click and edit; for a stylize run, switch styles; for a "
      "category (clipnerf) run, pick an instance and edit it by a text prompt.",
      "nerfedit serve"};
  std::string run_dir, device = "auto";
  ViewerOptions options;
  std::string host = options.host(), static_dir = NERFEDIT_VIEWER_STATIC_DIR;
  int port = options.port(), max_clients = options.max_clients();
  int64_t max_pixels = options.max_pixels();
  app.add_option("run", run_dir, "run folder written by `nerfedit train`")->required()->check(CLI::ExistingDirectory);
  app.add_option("--port", port, "TCP port (0 picks a free one)")->check(CLI::Range(0, 65535));
  app.add_option("--host", host, "address to bind; 0.0.0.0 exposes the viewer to the network");
  app.add_option("--device", device, "cpu, cuda or auto");
  app.add_option("--static-dir", static_dir, "folder holding the viewer page")->check(CLI::ExistingDirectory);
  app.add_option("--max-pixels", max_pixels, "largest width*height one request may ask for")->check(CLI::PositiveNumber);
  app.add_option("--max-clients", max_clients, "browser tabs served at once")->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    ConfigureThreads();
    // A radiance-field scene (nerf, dff) can be selected and edited, a category (clipnerf) instance edited by a
    // prompt; any other method's run is only viewed (a stylize run's styles switch through /api/style).
    std::shared_ptr<NerfModel> model;
    std::shared_ptr<Renderable> scene;
    // Declared before the server so it outlives the server's Stop() (its endpoints reference it), as `session` below.
    std::unique_ptr<CategorySession> category;
    if (FindMethod(ReadRunJson(run_dir).method).load_scene) {
      model = LoadSceneRun(run_dir, device);
      model->set_supersample(1);  // interactive: one ray per pixel (config.render_supersample is for evaluation)
      scene = model;
    } else if (CategorySession::Supports(run_dir)) {
      category = std::make_unique<CategorySession>(run_dir, device);
      scene = category->scene();
    } else {
      scene = LoadRenderableRun(run_dir, device);
    }
    std::string run_name = std::filesystem::path(run_dir).lexically_normal().filename().string();
    if (run_name.empty()) run_name = std::filesystem::path(run_dir).lexically_normal().parent_path().filename().string();

    // Block the stop signals before any server thread exists, so only sigwait below receives them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    // Declared before the server so it outlives the server's Stop() (its endpoints reference it).
    std::unique_ptr<EditSession> session;
    const bool has_styles = !scene->StyleNames().empty();
    if (model && EditSession::Supports(*model)) session = std::make_unique<EditSession>(model, run_dir);
    ViewerServer server(scene, run_name,
                        options.host(host).port(port).static_dir(static_dir).max_pixels(max_pixels).max_clients(max_clients));
    if (session) {
      session->Register(server, max_pixels);
    } else {
      EditSession::RegisterUnavailable(server);
    }
    if (category) {
      category->Register(server);
    } else {
      CategorySession::RegisterUnavailable(server);
    }
    server.Start();
    std::cout << "nerfedit viewer: run " << run_name << " at http://" << host << ":" << server.port() << "/  ("
              << (session ? "select & edit enabled; " : "") << (category ? "category prompt box enabled; " : "")
              << (has_styles ? "style dropdown enabled; " : "") << "Ctrl-C stops)" << std::endl;
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cout << "nerfedit viewer: stopping" << std::endl;
    server.Stop();
  } catch (const Error& e) {
    std::cerr << "nerfedit serve: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace nerfedit
