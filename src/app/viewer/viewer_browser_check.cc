// Serves a scene for the headless-browser test (browser_test/browser_check.py):
//   viewer_browser_check [--features] [--dff DIR] [--static DIR] [--port N]
// Default: the analytic sphere scene (--features: with a feature channel, but no edit endpoints). --dff DIR: a real
// tiny feature-field run (trained into DIR on first use, about a minute; tiny_dff_run.h) with the select-and-edit
// endpoints. Prints "PORT <n>" once listening, then serves until its stdin closes (so it dies with the driver script).
#include <torch/torch.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "app/viewer/edit_session.h"
#include "app/viewer/sphere_scene.h"
#include "app/viewer/tiny_dff_run.h"
#include "app/viewer/viewer_server.h"
#include "methods/dff/dff_method.h"

int main(int argc, char** argv) {
  bool features = false;
  std::string static_dir = NERFEDIT_VIEWER_STATIC_DIR, dff_dir;
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--features") {
      features = true;
    } else if (arg == "--dff" && i + 1 < argc) {
      dff_dir = argv[++i];
    } else if (arg == "--static" && i + 1 < argc) {
      static_dir = argv[++i];
    } else if (arg == "--port" && i + 1 < argc) {
      port = std::stoi(argv[++i]);
    } else {
      std::cerr << "usage: viewer_browser_check [--features] [--dff DIR] [--static DIR] [--port N]; got " << arg << "\n";
      return 2;
    }
  }
  try {
    torch::set_num_threads(2);
    auto options = nerfedit::ViewerOptions().port(port).static_dir(static_dir);
    std::unique_ptr<nerfedit::EditSession> session;  // before the server: it must outlive the server's Stop()
    std::shared_ptr<nerfedit::Renderable> scene;
    if (!dff_dir.empty()) {
      const std::string run = nerfedit::MakeTinyDffRun(dff_dir);
      auto model = nerfedit::LoadDffRun(run, "cpu", nullptr);
      session = std::make_unique<nerfedit::EditSession>(model, run);
      scene = model;
      options.max_pixels(200 * 200);  // CPU renders of the whole canvas stay well under a second
    } else {
      scene = std::make_shared<nerfedit::SphereScene>(features);
    }
    nerfedit::ViewerServer server(scene, dff_dir.empty() ? "spheres" : "tiny-dff", options);
    if (session) session->Register(server, options.max_pixels());
    server.Start();
    std::cout << "PORT " << server.port() << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    server.Stop();
  } catch (const std::exception& e) {
    std::cerr << "viewer_browser_check: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
