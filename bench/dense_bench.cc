// bench/dense_cpu's nerfedit side: the dense networks the methods run (models2d's CLIP and VGG-19, fields' NeRF MLP),
// random weights, float32, best of --reps timed calls after one warm-up; bench/dense_cpu_peer.py is the PyTorch peer
// with the same workloads (see there for what each one is). Prints one `name ms` line per workload.
//   dense_bench [--reps 3] [--workloads clip_image_b1,...] [--blas N --torch N]
// Without --blas/--torch the threading policy (util/thread_policy.h) decides; with them the whole run is pinned to
// that setting (the policy's scopes do nothing), which is how the policy's table was measured. Extra workloads for
// those measurements: clip_image_bN (any batch), clip_text_bN, hash_grid (the hash-grid field's forward + backward
// at 65536 samples: kernels plus 64-wide MLPs) and mix (both in one step, as CLIP-NeRF's: a hash-grid image through
// CLIP's image tower and back).
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "fields/hash_grid_field.h"
#include "fields/nerf_mlp_field.h"
#include "models2d/clip.h"
#include "models2d/vgg.h"
#include "util/runtime.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

double BestMs(int reps, const std::function<void()>& f) {
  f();  // warm-up
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t = NowSeconds();
    f();
    best = std::min(best, 1000.0 * (NowSeconds() - t));
  }
  return best;
}

void Freeze(torch::nn::Module& module) {
  for (at::Tensor& p : module.parameters()) p.requires_grad_(false);
  module.eval();
}

// Texts of 6..30 tokens as bench/clip_latency: start, random word ids, end, zero padding.
at::Tensor TextIds(int64_t batch) {
  at::Tensor ids = torch::zeros({batch, 77}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t length = 6 + (b * 7) % 25;
    ids[b][0] = 49406;
    ids[b].slice(0, 1, length - 1).copy_(torch::randint(1, 49406, {length - 2}, torch::kLong));
    ids[b][length - 1] = 49407;
  }
  return ids;
}

struct Models {
  std::unique_ptr<ClipModel> clip;
  std::unique_ptr<Vgg19> vgg;
  ClipModel& Clip() {
    if (!clip) {
      clip = std::make_unique<ClipModel>(ClipConfig());  // HF's defaults are ViT-B/32's
      Freeze(**clip);
    }
    return *clip;
  }
  Vgg19& Vgg() {
    if (!vgg) {
      vgg = std::make_unique<Vgg19>();
      Freeze(**vgg);
    }
    return *vgg;
  }
};

double Run(const std::string& name, int reps, Models& models) {
  auto starts = [&](const std::string& prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("clip_image_b") && name != "clip_image_bwd") {
    const int64_t batch = std::stoll(name.substr(12));
    ClipModel& clip = models.Clip();
    const at::Tensor x = torch::randn({batch, 3, 224, 224});
    c10::InferenceMode inference;
    return BestMs(batch == 1 ? 3 * reps : reps, [&] { clip->EncodeImage(x); });
  }
  if (starts("clip_text_b")) {
    ClipModel& clip = models.Clip();
    const at::Tensor ids = TextIds(std::stoll(name.substr(11)));
    c10::InferenceMode inference;
    return BestMs(reps, [&] { clip->EncodeText(ids); });
  }
  if (name == "clip_image_bwd") {  // CLIP-NeRF's loss: frozen CLIP, gradient to the pixels
    ClipModel& clip = models.Clip();
    const at::Tensor x = torch::randn({8, 3, 224, 224}).requires_grad_(true);
    const at::Tensor target = torch::nn::functional::normalize(torch::randn({8, 512}),
                                                               torch::nn::functional::NormalizeFuncOptions().dim(-1));
    return BestMs(reps, [&] {
      x.mutable_grad() = at::Tensor();
      (1.0 - (clip->EncodeImage(x) * target).sum(-1)).sum().backward();
    });
  }
  if (name == "vgg") {  // StylizedNeRF's losses: frozen VGG-19 to relu4_1, gradient to the pixels
    Vgg19& vgg = models.Vgg();
    const at::Tensor x = torch::randn({4, 3, 256, 256}).requires_grad_(true);
    return BestMs(reps, [&] {
      x.mutable_grad() = at::Tensor();
      const Vgg19Features f = vgg->forward(x, "relu4_1");
      (f.relu1_1.mean() + f.relu2_1.mean() + f.relu3_1.mean() + f.relu4_1.mean()).backward();
    });
  }
  if (name == "mlp") {  // a NeRF training step's field: NeRF's 8x256 MLP, gradient to the weights
    NerfMlpField mlp;
    const at::Tensor positions = torch::rand({65536, 3}) * 2.0 - 1.0;
    const at::Tensor directions = torch::nn::functional::normalize(
        torch::randn({65536, 3}), torch::nn::functional::NormalizeFuncOptions().dim(-1));
    return BestMs(reps, [&] {
      mlp->zero_grad(true);
      const FieldOutputs out = mlp->Query(positions, directions);
      (out.density.mean() + out.rgb.mean()).backward();
    });
  }
  if (name == "hash_grid") {  // the hash-grid field's share of a training step
    HashGridField field;
    const at::Tensor positions = torch::rand({65536, 3}) * 2.0 - 1.0;
    const at::Tensor directions = torch::nn::functional::normalize(
        torch::randn({65536, 3}), torch::nn::functional::NormalizeFuncOptions().dim(-1));
    return BestMs(reps, [&] {
      field->zero_grad(true);
      const FieldOutputs out = field->Query(positions, directions);
      (out.density.mean() + out.rgb.mean()).backward();
    });
  }
  if (name == "mix") {  // both kinds in one step (CLIP-NeRF's): a hash-grid image 224x224 -> CLIP loss -> backward
    ClipModel& clip = models.Clip();
    HashGridField field;
    const at::Tensor positions = torch::rand({224 * 224, 3}) * 2.0 - 1.0;
    const at::Tensor directions = torch::nn::functional::normalize(
        torch::randn({224 * 224, 3}), torch::nn::functional::NormalizeFuncOptions().dim(-1));
    const at::Tensor target = torch::nn::functional::normalize(torch::randn({1, 512}),
                                                               torch::nn::functional::NormalizeFuncOptions().dim(-1));
    return BestMs(reps, [&] {
      field->zero_grad(true);
      const at::Tensor rgb = field->Query(positions, directions).rgb;  // [H*W,3]
      const at::Tensor image = ClipNormalise(rgb.t().reshape({1, 3, 224, 224}));
      (1.0 - (clip->EncodeImage(image) * target).sum()).backward();
    });
  }
  throw std::runtime_error("unknown workload " + name);
}

}  // namespace
}  // namespace nerfedit

int main(int argc, char** argv) {
  CLI::App app{"nerfedit dense-network timings (bench/dense_cpu)"};
  int reps = 3, blas = 0, torch_threads = 0;
  std::string workloads = "clip_image_b1,clip_image_b32,clip_text_b32,clip_image_bwd,vgg,mlp";
  app.add_option("--reps", reps, "Timed calls per workload (batch 1: three times as many)")->capture_default_str();
  app.add_option("--workloads", workloads, "Comma-separated workloads")->capture_default_str();
  app.add_option("--blas", blas, "Pin OpenBLAS threads for the whole run (with --torch)");
  app.add_option("--torch", torch_threads, "Pin torch intra-op threads for the whole run (with --blas)");
  CLI11_PARSE(app, argc, argv);
  try {
    const int cores = nerfedit::ConfigureThreads();
    torch::manual_seed(0);
    std::optional<nerfedit::ScopedThreads> pinned;
    if (blas > 0 || torch_threads > 0) {
      pinned.emplace(blas > 0 ? blas : nerfedit::GetBlasThreads(), torch_threads > 0 ? torch_threads : cores);
    }
    const nerfedit::ThreadSetting now = nerfedit::CurrentThreads();
    std::printf("# nerfedit: %d cores; %s (outside the policy's scopes: %d BLAS, %d torch threads)\n", cores,
                pinned ? "pinned for the whole run" : "threading policy", now.blas, now.torch);
    std::fflush(stdout);
    nerfedit::Models models;
    std::stringstream list(workloads);
    for (std::string name; std::getline(list, name, ',');) {
      const double ms = nerfedit::Run(name, reps, models);
      std::printf("%s %.1f\n", name.c_str(), ms);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dense_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
