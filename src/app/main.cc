// nerfedit: one binary, a dispatch table of subcommands (COLMAP's exe/colmap.cc pattern).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "app/commands.h"
#include "util/error.h"
#include "util/runtime.h"

namespace {

struct Command {
  const char* name;
  const char* help;
  int (*run)(int argc, char** argv);
};

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"scene", "make the built-in procedural scene (images, exact depth and labels)", nerfedit::RunScene},
      {"train", "reconstruct a scene from posed images (hash grid or NeRF MLP)", nerfedit::RunTrain},
      {"render", "render views, an orbit, depth and opacity maps of a trained run", nerfedit::RunRender},
      {"eval", "PSNR / SSIM / depth error of a run on held-out views (JSON)", nerfedit::RunEval},
      {"report", "write an HTML report of a run (curve, renders beside ground truth, metrics)", nerfedit::RunReport},
      {"dff", "train a distilled feature field (select by text / click / patch, then edit)", nerfedit::RunDff},
      {"select", "render 2D masks of a text, click or image-patch selection of a dff run", nerfedit::RunSelect},
      {"edit", "delete / extract / recolour / move / compose a selection into a new run", nerfedit::RunEdit},
      {"category", "make a procedural object category (heads, chairs) with exact ground truth", nerfedit::RunCategory},
      {"lolnerf", "train LOLNeRF on a category / fit a new photo to it", nerfedit::RunLolnerf},
      {"clipnerf", "train CLIP-NeRF's category generator (separate shape and appearance codes)", nerfedit::RunClipnerf},
#ifdef NERFEDIT_WITH_CLIP
      {"clip", "train / use a CLIP model (embed, rank)", nerfedit::RunClip},
#endif
#ifdef NERFEDIT_WITH_STYLIZE
      {"stylize", "stylise images after a style image (AdaIN, the 2D network of StylizedNeRF)", nerfedit::RunStylize},
#endif
#ifdef NERFEDIT_WITH_SERVE
      {"serve", "web viewer for a trained run", nerfedit::RunServe},
#endif
  };
  return commands;
}

void PrintUsage() {
  std::printf("nerfedit — train, render and edit neural radiance fields\n\nusage: nerfedit <command> [options]\n\n");
  for (const auto& c : Commands()) std::printf("  %-8s %s\n", c.name, c.help);
  std::printf("\n`nerfedit <command> --help` shows the options of each command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    PrintUsage();
    return argc < 2 ? 1 : 0;
  }
  for (const auto& c : Commands()) {
    if (std::string(argv[1]) != c.name) continue;
    try {
      nerfedit::ConfigureThreads();
      return c.run(argc - 1, argv + 1);
    } catch (const nerfedit::Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    } catch (const c10::Error& e) {
      std::fprintf(stderr, "error (torch): %s\n", e.what_without_backtrace());
      return 3;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 3;
    }
  }
  std::fprintf(stderr, "error: unknown command \"%s\"\n\n", argv[1]);
  PrintUsage();
  return 1;
}
