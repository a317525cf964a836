// Serves the analytic sphere scene for the headless-browser test (browser_test/browser_check.py):
//   viewer_browser_check [--features] [--static DIR] [--port N]
// Prints "PORT <n>" once listening, then serves until its stdin closes (so it dies with the driver script).
#include <torch/torch.h>

#include <cstring>
#include <iostream>
#include <string>

#include "app/viewer/sphere_scene.h"
#include "app/viewer/viewer_server.h"

int main(int argc, char** argv) {
  bool features = false;
  std::string static_dir = NERFEDIT_VIEWER_STATIC_DIR;
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--features") {
      features = true;
    } else if (arg == "--static" && i + 1 < argc) {
      static_dir = argv[++i];
    } else if (arg == "--port" && i + 1 < argc) {
      port = std::stoi(argv[++i]);
    } else {
      std::cerr << "usage: viewer_browser_check [--features] [--static DIR] [--port N]; got " << arg << "\n";
      return 2;
    }
  }
  try {
    torch::set_num_threads(2);
    nerfedit::ViewerServer server(std::make_shared<nerfedit::SphereScene>(features), "spheres",
                                  nerfedit::ViewerOptions().port(port).static_dir(static_dir));
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
