// Held-out evaluation of the small CLIP: zero-shot top-1 over the full caption set (with per-attribute accuracy)
// and scene-crop top-1, as declared in small_clip.h.
#include "models2d/small_clip.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace nerfedit {

double ZeroShotTop1(ClipModel model, const ClipTokenizer& tokenizer, int64_t context_length,
                    const CaptionedImagePool& pool, std::array<double, 4>* attribute_accuracy) {
  torch::NoGradGuard no_grad;
  const at::Tensor text = model->EncodeText(tokenizer.Tokenize(FullCaptions(), context_length));  // [C,P]
  int64_t correct = 0;
  std::array<int64_t, 4> attribute_correct{};
  for (int64_t begin = 0; begin < pool.size(); begin += 256) {
    const int64_t end = std::min(pool.size(), begin + 256);
    const at::Tensor image = model->EncodeImage(pool.images.slice(0, begin, end));  // [b,P]
    const at::Tensor predicted = image.mm(text.t()).argmax(1);
    correct += predicted.eq(pool.classes.slice(0, begin, end)).sum().item<int64_t>();
    for (int64_t i = begin; i < end; ++i) {
      const ObjectClass p = ObjectClassAt(predicted[i - begin].item<int64_t>());
      const ObjectClass t = ObjectClassAt(pool.classes[i].item<int64_t>());
      attribute_correct[0] += p.shape == t.shape, attribute_correct[1] += p.colour == t.colour;
      attribute_correct[2] += p.size == t.size, attribute_correct[3] += p.count == t.count;
    }
  }
  if (attribute_accuracy != nullptr) {
    for (int k = 0; k < 4; ++k) (*attribute_accuracy)[k] = pool.size() > 0 ? attribute_correct[k] / double(pool.size()) : 0;
  }
  return pool.size() > 0 ? static_cast<double>(correct) / pool.size() : 0.0;
}

double SceneCropTop1(ClipModel model, const ClipTokenizer& tokenizer, int64_t context_length,
                     const SceneCropPool& pool) {
  torch::NoGradGuard no_grad;
  // Labels: shape * colours + colour for every "colour shape" caption, then "ground".
  const int64_t colours = static_cast<int64_t>(CaptionColours().size());
  std::vector<std::string> texts;
  for (int64_t s = 0; s < static_cast<int64_t>(CaptionShapes().size()); ++s) {
    for (int64_t c = 0; c < colours; ++c) {
      texts.push_back(MakeCaption({static_cast<int>(s), static_cast<int>(c), 0, 0}, CaptionTemplate::kColourShape));
    }
  }
  texts.push_back(kGroundCaption);
  const at::Tensor text = model->EncodeText(tokenizer.Tokenize(texts, context_length));
  const at::Tensor truth = torch::where(pool.shape.ge(0), pool.shape * colours + pool.colour,
                                        torch::full_like(pool.shape, static_cast<int64_t>(texts.size()) - 1));
  int64_t correct = 0;
  for (int64_t begin = 0; begin < pool.size(); begin += 256) {
    const int64_t end = std::min(pool.size(), begin + 256);
    const at::Tensor predicted = model->EncodeImage(pool.images.slice(0, begin, end)).mm(text.t()).argmax(1);
    correct += predicted.eq(truth.slice(0, begin, end)).sum().item<int64_t>();
  }
  return pool.size() > 0 ? static_cast<double>(correct) / pool.size() : 0.0;
}

}  // namespace nerfedit
