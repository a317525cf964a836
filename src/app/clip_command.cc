#include "app/clip_command.h"

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "models2d/clip.h"
#include "models2d/clip_tokenizer.h"
#include "models2d/small_clip.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {

namespace {

int64_t ContextLength(const ClipBundle& bundle) { return bundle.config.text.max_position_embeddings; }

at::Tensor EmbedText(ClipBundle& bundle, const std::vector<std::string>& texts) {
  torch::NoGradGuard no_grad;
  return bundle.model->EncodeText(bundle.tokenizer.Tokenize(texts, ContextLength(bundle)));  // [N,P]
}

at::Tensor EmbedImage(ClipBundle& bundle, const std::string& path) {
  torch::NoGradGuard no_grad;
  // Transparent pixels are composited on white, the usual convention for object cut-outs.
  const at::Tensor rgb = LoadImageFloat(path, {1.0f, 1.0f, 1.0f});  // [H,W,3]
  return bundle.model->EncodeImage(ClipPreprocess(rgb, bundle.config.vision.image_size).unsqueeze(0));  // [1,P]
}

std::vector<std::string> SplitTexts(const std::string& list) {
  std::vector<std::string> texts;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    std::string text = list.substr(begin, end - begin);
    const size_t first = text.find_first_not_of(" \t");
    const size_t last = text.find_last_not_of(" \t");
    text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    NE_CHECK(!text.empty(), "--texts \"", list, "\": entry ", texts.size() + 1, " is empty");
    texts.push_back(text);
    begin = end + 1;
  }
  return texts;
}

std::vector<float> ToVector(const at::Tensor& row) {
  const at::Tensor c = row.to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

int RunTrain(const std::string& out, double minutes, uint64_t seed, int64_t steps, const std::string& config) {
  // --config: SmallClipOptions keys (strict) for experiments; the flags still override budget, seed and steps.
  SmallClipOptions options = config.empty() ? SmallClipOptions() : SmallClipOptions::FromJson(ReadJsonFile(config));
  options.seed(seed).time_budget_seconds(minutes * 60.0);
  if (steps > 0) options.steps(steps);
  const SmallClipResult result = TrainSmallClip(options, out);
  std::printf("saved %s\nzero_shot_top1=%.4f train_s=%.1f steps=%lld\n", out.c_str(), result.zero_shot_top1,
              result.train_seconds, static_cast<long long>(result.steps));
  return 0;
}

int RunEmbed(const std::string& model_dir, const std::string& text, const std::string& image) {
  ClipBundle bundle = LoadClipBundle(model_dir);
  nlohmann::json out = {{"model", model_dir}};
  at::Tensor embedding;
  if (!text.empty()) {
    embedding = EmbedText(bundle, {text})[0];
    out["text"] = text;
  } else {
    embedding = EmbedImage(bundle, image)[0];
    out["image"] = image;
  }
  out["dim"] = embedding.numel();
  out["embedding"] = ToVector(embedding);
  std::cout << out.dump() << std::endl;
  return 0;
}

int RunRank(const std::string& model_dir, const std::string& image, const std::string& text_list, bool json) {
  const std::vector<std::string> texts = SplitTexts(text_list);
  ClipBundle bundle = LoadClipBundle(model_dir);
  const at::Tensor image_embed = EmbedImage(bundle, image);  // [1,P]
  const at::Tensor text_embed = EmbedText(bundle, texts);    // [N,P]
  torch::NoGradGuard no_grad;
  // CLIP's zero-shot classifier: softmax over the scaled cosine similarities.
  const at::Tensor similarity = image_embed.mm(text_embed.t())[0];  // [N]
  const at::Tensor probability = (bundle.model->logit_scale.exp() * similarity).softmax(0);
  const std::vector<float> sim = ToVector(similarity), prob = ToVector(probability);
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prob[a] > prob[b]; });
  if (json) {
    nlohmann::json ranked = nlohmann::json::array();
    for (size_t i : order) ranked.push_back({{"text", texts[i]}, {"probability", prob[i]}, {"cosine", sim[i]}});
    std::cout << nlohmann::json{{"model", model_dir}, {"image", image}, {"ranking", ranked}}.dump(2) << std::endl;
  } else {
    std::printf("%4s  %-11s %-8s %s\n", "rank", "probability", "cosine", "text");
    for (size_t r = 0; r < order.size(); ++r) {
      const size_t i = order[r];
      std::printf("%4zu  %-11.4f %-8.4f %s\n", r + 1, prob[i], sim[i], texts[i].c_str());
    }
  }
  return 0;
}

}  // namespace

int RunClip(int argc, char** argv) {
  CLI::App app{"Train the small procedural CLIP, embed a text or an image, rank captions for an image.",
               "nerfedit clip"};
  app.require_subcommand(1);

  CLI::App* train = app.add_subcommand("train", "Train a small CLIP on procedural image-caption pairs and save it "
                                                "(Hugging Face layout: config.json, model.safetensors, vocab.json, "
                                                "merges.txt)");
  std::string out;
  double minutes = 9.0;
  uint64_t seed = 0;
  int64_t steps = 0;
  train->add_option("--out", out, "Output directory (replaced atomically when training ends)")->required();
  train->add_option("--minutes", minutes, "Wall-clock budget, rendering and evaluation included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--seed", seed, "Random seed (weights, images, batches)")->capture_default_str();
  train->add_option("--steps", steps, "Upper bound on optimisation steps (default: the budget decides)")
      ->check(CLI::NonNegativeNumber);
  std::string train_config;
  train->add_option("--config", train_config, "JSON of SmallClipOptions keys (models2d/small_clip.h), for experiments")
      ->check(CLI::ExistingFile);

  CLI::App* embed = app.add_subcommand("embed", "Print the normalised embedding of a text or an image as JSON");
  std::string embed_model, embed_text, embed_image;
  embed->add_option("--model", embed_model, "CLIP directory (config.json, model.safetensors, vocab.json, merges.txt)")
      ->required()
      ->check(CLI::ExistingDirectory);
  CLI::Option* text_option = embed->add_option("--text", embed_text, "Text to embed");
  CLI::Option* image_option =
      embed->add_option("--image", embed_image, "Image file to embed (PNG/JPEG)")->check(CLI::ExistingFile);
  text_option->excludes(image_option);
  image_option->excludes(text_option);

  CLI::App* rank = app.add_subcommand("rank", "Rank texts by how well they describe an image (CLIP zero-shot)");
  std::string rank_model, rank_image, rank_texts;
  bool rank_json = false;
  rank->add_option("--model", rank_model, "CLIP directory")->required()->check(CLI::ExistingDirectory);
  rank->add_option("--image", rank_image, "Image file (PNG/JPEG)")->required()->check(CLI::ExistingFile);
  rank->add_option("--texts", rank_texts, "Comma-separated candidate texts, e.g. \"a red sphere,a blue cube\"")
      ->required();
  rank->add_flag("--json", rank_json, "Print the ranking as JSON");

  try {
    app.parse(argc, argv);
    if (embed->parsed() && embed_text.empty() && embed_image.empty()) {
      throw CLI::RequiredError("clip embed: --text or --image");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    ConfigureThreads();
    if (train->parsed()) return RunTrain(out, minutes, seed, steps, train_config);
    if (embed->parsed()) return RunEmbed(embed_model, embed_text, embed_image);
    return RunRank(rank_model, rank_image, rank_texts, rank_json);
  } catch (const Error& e) {
    std::fprintf(stderr, "nerfedit clip: %s\n", e.what());
    return 1;
  }
}

}  // namespace nerfedit
