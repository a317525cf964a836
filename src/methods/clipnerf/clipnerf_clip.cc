#include "methods/clipnerf/clipnerf_clip.h"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "util/error.h"

namespace nerfedit {

at::Tensor ClipImageEmbeddings(ClipModel& clip, const at::Tensor& images, int64_t batch) {
  NE_CHECK(images.dim() == 4 && images.size(3) == 3, "CLIP image embeddings: images must be [N,H,W,3], got ",
           images.sizes());
  NE_CHECK(batch >= 1, "CLIP image embeddings: batch must be >= 1, got ", batch);
  const int64_t size = clip->config().vision.image_size;
  const auto device = clip->logit_scale.device();
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < images.size(0); b += batch) {
    const at::Tensor chunk = images.slice(0, b, std::min(images.size(0), b + batch)).to(device).permute({0, 3, 1, 2});
    at::Tensor pixels = chunk;
    if (chunk.size(2) != size || chunk.size(3) != size) {
      pixels = torch::nn::functional::interpolate(chunk, torch::nn::functional::InterpolateFuncOptions()
                                                             .size(std::vector<int64_t>{size, size})
                                                             .mode(torch::kBilinear)
                                                             .align_corners(false));
    }
    out.push_back(clip->EncodeImage(ClipNormalise(pixels)));
  }
  return torch::cat(out, 0);
}

at::Tensor ClipDistance(const at::Tensor& a, const at::Tensor& b) {
  NE_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && (b.size(0) == a.size(0) || b.size(0) == 1),
           "D_CLIP: embeddings must be [N,P] and [N or 1,P], got ", a.sizes(), " and ", b.sizes());
  return 1 - torch::cosine_similarity(a, b.expand_as(a), 1);
}

ClipModel LoadFrozenClip(const std::string& dir) {
  NE_CHECK(std::filesystem::exists(dir + "/config.json") && std::filesystem::exists(dir + "/model.safetensors"),
           "no CLIP at ", dir, " (config.json + model.safetensors); train one with `nerfedit clip train --out ", dir,
           "` or pass --clip DIR");
  ClipModel clip = LoadClip(dir);
  clip->eval();
  for (auto& p : clip->parameters()) p.set_requires_grad(false);
  return clip;
}

}  // namespace nerfedit
