#include "methods/clipnerf/clipnerf_category_clip.h"

#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "data/procedural_scene.h"
#include "models2d/small_clip_tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"
#include "util/thread_policy.h"

namespace nerfedit {

namespace fs = std::filesystem;

const std::vector<ChairColour>& ChairColours() {
  // The first six are RandomChairParams' palette, in its hues; orange, yellow and purple lie between them.
  static const std::vector<ChairColour> colours = {
      {"brown", {0.55f, 0.36f, 0.18f}},  {"beige", {0.80f, 0.65f, 0.45f}},  {"red", {0.85f, 0.15f, 0.12f}},
      {"blue", {0.15f, 0.30f, 0.75f}},   {"white", {0.90f, 0.90f, 0.88f}},  {"green", {0.20f, 0.55f, 0.30f}},
      {"orange", {0.92f, 0.48f, 0.08f}}, {"yellow", {0.90f, 0.80f, 0.12f}}, {"purple", {0.48f, 0.18f, 0.62f}}};
  return colours;
}

int ChairColourIndex(const std::string& name) {
  for (size_t i = 0; i < ChairColours().size(); ++i)
    if (ChairColours()[i].name == name) return static_cast<int>(i);
  return -1;
}

const std::array<std::array<const char*, 2>, kNumChairShapeAttributes>& ChairAttributePhrases() {
  static const std::array<std::array<const char*, 2>, kNumChairShapeAttributes> phrases = {{
      {"a short back", "a tall back"},
      {"no armrests", "armrests"},
      {"short legs", "long legs"},
      {"a narrow seat", "a wide seat"},
  }};
  return phrases;
}

const std::array<const char*, kNumChairShapeAttributes>& ChairAttributeNames() {
  static const std::array<const char*, kNumChairShapeAttributes> names = {"back", "armrests", "legs", "seat"};
  return names;
}

std::array<int, kNumChairShapeAttributes> ChairShapeBuckets(const ChairParams& p) {
  // Thirds of RandomChairParams' ranges (back 0.45-0.95, legs 0.55-0.85, seat width 0.7-1.1); the middle is unsaid.
  auto bucket = [](float v, float lo, float hi) { return v < lo ? 0 : (v > hi ? 1 : -1); };
  return {bucket(p.back_height, 0.62f, 0.78f), p.armrests ? 1 : 0, bucket(p.leg_length, 0.65f, 0.75f),
          bucket(p.seat_width, 0.83f, 0.97f)};
}

std::string ChairCaption::Text() const {
  std::string text = colour >= 0 ? "a " + ChairColours()[colour].name + " chair" : "a chair";
  bool first = true;
  for (int a = 0; a < kNumChairShapeAttributes; ++a) {
    if (shape[a] < 0) continue;
    text += first ? " with " : " and ";
    text += ChairAttributePhrases()[a][shape[a]];
    first = false;
  }
  return text;
}

ChairClipSample RandomChairClipSample(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 77);
  std::uniform_real_distribution<float> u(0, 1);
  ChairClipSample s;
  s.params = RandomChairParams(seed);
  s.params.armrests = u(rng) < 0.5f;
  s.colour = static_cast<int>(rng() % ChairColours().size());
  auto jitter = [&](Rgb c) {
    for (float& v : c) v = std::clamp(v + 0.05f * (2 * u(rng) - 1), 0.0f, 1.0f);
    return c;
  };
  s.params.seat_color = jitter(ChairColours()[s.colour].rgb);
  s.params.back_color = u(rng) < 0.8f ? s.params.seat_color : jitter(ChairColours()[s.colour].rgb);
  s.params.arm_color = s.params.back_color;
  const Rgb legs[3] = {{0.25f, 0.16f, 0.08f}, {0.55f, 0.56f, 0.60f}, {0.08f, 0.08f, 0.08f}};
  s.params.leg_color = u(rng) < 0.4f ? s.params.seat_color : legs[rng() % 3];
  s.params.Check();
  return s;
}

Camera ChairOrbitCamera(double azimuth, double elevation, int64_t size) {
  // As data/category_scene.cc's chair rig: azimuth 0 on +y (the front), positive towards +x.
  const CategoryRig rig = RigFor("chairs");
  const double r = rig.radius;
  const std::array<float, 3> eye = {static_cast<float>(rig.target[0] + r * std::cos(elevation) * std::sin(azimuth)),
                                    static_cast<float>(rig.target[1] + r * std::cos(elevation) * std::cos(azimuth)),
                                    static_cast<float>(rig.target[2] + r * std::sin(elevation))};
  return Camera::LookAt(eye, rig.target, {0, 0, 1}, size, size, rig.fov_x_degrees * M_PI / 180);
}

void ChairClipOptions::Check() const {
  NE_CHECK(train_images() >= batch_size() && held_out_images() >= 1, "chair CLIP: train_images ", train_images(),
           " must be >= batch_size ", batch_size(), " and held_out_images >= 1");
  NE_CHECK(image_size() >= 8 && patch_size() >= 1 && image_size() % patch_size() == 0, "chair CLIP: patch_size ",
           patch_size(), " must divide image_size ", image_size());
  NE_CHECK(batch_size() >= 2 && steps() >= 1 && lr() > 0 && time_budget_seconds() >= 0 && threads() >= 1 &&
               refresh_per_step() >= 0,
           "chair CLIP: batch_size >= 2, steps >= 1, lr > 0, time budget >= 0, threads >= 1 expected");
}

nlohmann::json ChairClipOptions::ToJson() const {
  return {{"train_images", train_images()},
          {"held_out_images", held_out_images()},
          {"refresh_per_step", refresh_per_step()},
          {"batch_size", batch_size()},
          {"steps", steps()},
          {"time_budget_seconds", time_budget_seconds()},
          {"lr", lr()},
          {"seed", seed()},
          {"threads", threads()},
          {"image_size", image_size()},
          {"patch_size", patch_size()}};
}

SmallClipOptions ChairClipOptions::Architecture() const {
  return SmallClipOptions()
      .context_length(24)
      .batch_size(batch_size())
      .lr(lr())
      .image_size(image_size())
      .patch_size(patch_size());
}

nlohmann::json ChairClipResult::ToJson() const {
  nlohmann::json j = {{"colour_accuracy", colour_accuracy}, {"steps", steps}, {"train_seconds", train_seconds}};
  for (int a = 0; a < kNumChairShapeAttributes; ++a)
    j[std::string(ChairAttributeNames()[a]) + "_accuracy"] = attribute_accuracy[a];
  return j;
}

namespace {

// Renders of samples seed0, seed0 + 1, ...: the images [N,3,S,S] (CLIP-normalised), colours [N] and buckets [N,4].
struct ChairPool {
  at::Tensor images, colours, buckets;
};

void RenderChairRows(ChairPool* pool, int64_t begin, const std::vector<uint64_t>& seeds, int64_t size,
                     const std::vector<int64_t>& rows) {
  for (size_t k = 0; k < rows.size(); ++k) {
    const ChairClipSample s = RandomChairClipSample(seeds[k]);
    std::mt19937_64 rng(seeds[k] ^ 0xC0FFEEull);
    std::uniform_real_distribution<double> u(0, 1);
    const double azimuth = 2 * M_PI * u(rng);
    const double elevation =
        std::asin(std::sin(10 * M_PI / 180) + u(rng) * (std::sin(60 * M_PI / 180) - std::sin(10 * M_PI / 180)));
    const ProceduralRender r = RenderProcedural(MakeChair(s.params).scene, ChairOrbitCamera(azimuth, elevation, size));
    const at::Tensor rgb = (r.rgb + (1 - r.alpha.unsqueeze(-1))).clamp(0, 1);  // premultiplied over white
    pool->images[rows[k]] = ClipNormalise(rgb.permute({2, 0, 1}).unsqueeze(0))[0];
    pool->colours[rows[k]] = s.colour;
    const auto b = ChairShapeBuckets(s.params);
    for (int a = 0; a < kNumChairShapeAttributes; ++a) pool->buckets[rows[k]][a] = b[a];
  }
  (void)begin;
}

ChairPool RenderChairPool(int64_t count, uint64_t seed_base, int64_t size) {
  ChairPool pool{torch::zeros({count, 3, size, size}), torch::zeros({count}, torch::kLong),
                 torch::zeros({count, kNumChairShapeAttributes}, torch::kLong)};
  std::vector<uint64_t> seeds(count);
  std::vector<int64_t> rows(count);
  for (int64_t i = 0; i < count; ++i) seeds[i] = seed_base + i, rows[i] = i;
  RenderChairRows(&pool, 0, seeds, size, rows);
  return pool;
}

// Every word the captions use, for the tokenizer's merges.
std::vector<std::string> ChairCorpus() {
  std::vector<std::string> corpus;
  for (size_t c = 0; c < ChairColours().size(); ++c) {
    ChairCaption cap;
    cap.colour = static_cast<int>(c);
    cap.shape = {1, 1, 1, 1};
    corpus.push_back(cap.Text());
    cap.shape = {0, 0, 0, 0};
    corpus.push_back(cap.Text());
  }
  return corpus;
}

// The zero-shot prompt sets: colours, then each attribute's two phrases.
std::vector<std::string> ChairColourPrompts() {
  std::vector<std::string> p;
  for (size_t c = 0; c < ChairColours().size(); ++c) {
    ChairCaption cap;
    cap.colour = static_cast<int>(c);
    p.push_back(cap.Text());
  }
  return p;
}
std::vector<std::string> ChairAttributePrompts(int a) {
  std::vector<std::string> p;
  for (int v = 0; v < 2; ++v) {
    ChairCaption cap;
    cap.shape[a] = v;
    p.push_back(cap.Text());
  }
  return p;
}

// Mean cross-entropy of images [B,P] against prompts [K,P] where target[b] >= 0; 0 when none.
at::Tensor ChairPromptSetLoss(const at::Tensor& scale, const at::Tensor& images, const at::Tensor& prompts,
                              const at::Tensor& target) {
  const at::Tensor keep = target.ge(0);
  if (keep.sum().item<int64_t>() == 0) return torch::zeros({});
  return torch::nn::functional::cross_entropy(scale * images.index({keep}).mm(prompts.t()), target.index({keep}));
}

std::array<double, 1 + kNumChairShapeAttributes> ChairClipAccuracies(ClipModel model, const ClipTokenizer& tokenizer,
                                                                     const ChairPool& pool) {
  torch::NoGradGuard no_grad;
  std::array<double, 1 + kNumChairShapeAttributes> acc{};
  std::vector<at::Tensor> embeds;
  for (int64_t i = 0; i < pool.images.size(0); i += 128)
    embeds.push_back(model->EncodeImage(pool.images.slice(0, i, std::min<int64_t>(i + 128, pool.images.size(0)))));
  const at::Tensor image = torch::cat(embeds);
  const int64_t ctx = model->config().text.max_position_embeddings;
  acc[0] = image.mm(model->EncodeText(tokenizer.Tokenize(ChairColourPrompts(), ctx)).t())
               .argmax(1)
               .eq(pool.colours)
               .to(torch::kDouble)
               .mean()
               .item<double>();
  for (int a = 0; a < kNumChairShapeAttributes; ++a) {
    const at::Tensor target = pool.buckets.select(1, a), keep = target.ge(0);
    const at::Tensor pred =
        image.mm(model->EncodeText(tokenizer.Tokenize(ChairAttributePrompts(a), ctx)).t()).argmax(1);
    acc[1 + a] = pred.index({keep}).eq(target.index({keep})).to(torch::kDouble).mean().item<double>();
  }
  return acc;
}

// Held-out and refresh seeds live in their own ranges, disjoint from the training pool's.
constexpr uint64_t kHeldOutSeeds = 1ull << 40, kRefreshSeeds = 1ull << 41;

}  // namespace

ChairClipResult EvaluateChairClip(ClipBundle& bundle, int64_t count, uint64_t seed) {
  const ChairPool pool = RenderChairPool(count, kHeldOutSeeds + (seed << 20), bundle.config.vision.image_size);
  bundle.model->eval();
  const auto acc = ChairClipAccuracies(bundle.model, bundle.tokenizer, pool);
  ChairClipResult r;
  r.colour_accuracy = acc[0];
  for (int a = 0; a < kNumChairShapeAttributes; ++a) r.attribute_accuracy[a] = acc[1 + a];
  return r;
}

ChairClipResult TrainChairClip(const ChairClipOptions& options, const std::string& out_dir, ClipBundle* trained) {
  options.Check();
  const double start = NowSeconds();
  torch::manual_seed(options.seed());
  std::mt19937_64 rng(options.seed() + 4242);
  const SmallClipOptions arch = options.Architecture();
  const int64_t size = arch.image_size();
  const fs::path target = out_dir.empty() ? fs::temp_directory_path() / "nerfedit-chair-clip" : fs::absolute(out_dir);
  const std::string staging = target.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(staging);
  fs::create_directories(staging);
  const BpeVocabulary bpe = TrainByteLevelBpe(ChairCorpus());
  bpe.SaveHfFiles(staging);
  ClipTokenizer tokenizer = ClipTokenizer::FromHfFiles(staging + "/vocab.json", staging + "/merges.txt");
  const ClipConfig config = arch.MakeClipConfig(bpe.size(), tokenizer.end_token());
  const int64_t ctx = arch.context_length();

  // One torch thread and `threads` BLAS threads, as the small CLIP's trainer (small element-wise ops do not split).
  ScopedThreads threads(options.threads(), 1);
  ChairPool pool = RenderChairPool(options.train_images(), options.seed() << 24, size);
  if (options.progress())
    std::fprintf(stderr, "chair CLIP: %lld training chairs rendered in %.1f s\n",
                 static_cast<long long>(options.train_images()), NowSeconds() - start);

  ClipModel model(config);
  model->train();
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay,
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(options.lr()).betas({0.9, 0.98}).eps(1e-6).weight_decay(0.1)));
  groups.emplace_back(no_decay,
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(options.lr()).betas({0.9, 0.98}).eps(1e-6).weight_decay(0)));
  torch::optim::AdamW optimizer(groups);
  const at::Tensor colour_ids = tokenizer.Tokenize(ChairColourPrompts(), ctx);
  std::vector<at::Tensor> attribute_ids;
  for (int a = 0; a < kNumChairShapeAttributes; ++a)
    attribute_ids.push_back(tokenizer.Tokenize(ChairAttributePrompts(a), ctx));

  const int64_t batch = options.batch_size();
  const double train_start = NowSeconds();
  const double budget = options.time_budget_seconds() > 0
                            ? std::max(5.0, options.time_budget_seconds() - (train_start - start) - 10.0)
                            : 0.0;
  const at::Tensor labels = torch::arange(batch, torch::kLong);
  const at::Tensor off_diagonal = torch::eye(batch, torch::kBool).logical_not();
  std::bernoulli_distribution say_colour(0.5), say_attribute(0.4);
  int64_t step = 0;
  double recent = 0;
  for (;; ++step) {
    const double progress =
        std::max(static_cast<double>(step) / options.steps(), budget > 0 ? (NowSeconds() - train_start) / budget : 0.0);
    if (progress >= 1.0) break;
    const double lr = options.lr() * std::min(1.0, (step + 1) / 50.0) * 0.5 * (1 + std::cos(M_PI * progress));
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

    const at::Tensor rows = torch::randperm(pool.images.size(0), torch::kLong).slice(0, 0, batch);
    const at::Tensor colours = pool.colours.index_select(0, rows), buckets = pool.buckets.index_select(0, rows);
    std::vector<ChairCaption> caps(batch);
    std::vector<std::string> texts(batch);
    for (int64_t i = 0; i < batch; ++i) {
      ChairCaption& cap = caps[i];
      if (say_colour(rng)) cap.colour = static_cast<int>(colours[i].item<int64_t>());
      for (int a = 0; a < kNumChairShapeAttributes; ++a) {
        const int v = static_cast<int>(buckets[i][a].item<int64_t>());
        if (v >= 0 && say_attribute(rng)) cap.shape[a] = v;
      }
      if (cap.Text() == "a chair") cap.colour = static_cast<int>(colours[i].item<int64_t>());
      texts[i] = cap.Text();
    }
    // Caption j also describes image i when everything it says is true of i: not a negative, masked out.
    at::Tensor mask = torch::zeros({batch, batch}, torch::kBool);
    auto m = mask.accessor<bool, 2>();
    for (int64_t i = 0; i < batch; ++i) {
      for (int64_t j = 0; j < batch; ++j) {
        bool describes = caps[j].colour < 0 || caps[j].colour == colours[i].item<int64_t>();
        for (int a = 0; a < kNumChairShapeAttributes && describes; ++a)
          describes = caps[j].shape[a] < 0 || caps[j].shape[a] == buckets[i][a].item<int64_t>();
        m[i][j] = describes && i != j;
      }
    }
    const at::Tensor image = model->EncodeImage(pool.images.index_select(0, rows));
    const at::Tensor text = model->EncodeText(tokenizer.Tokenize(texts, ctx));
    const at::Tensor scale = model->logit_scale.exp();
    const at::Tensor logits = (scale * image.mm(text.t())).masked_fill(mask.logical_and(off_diagonal), -1e9);
    at::Tensor loss = 0.5 * (torch::nn::functional::cross_entropy(logits, labels) +
                             torch::nn::functional::cross_entropy(logits.t(), labels));
    // As the small CLIP's caption-set negatives: each image also against its attributes' whole prompt sets, so
    // every step sees the hard negatives that differ in one word.
    loss = loss + ChairPromptSetLoss(scale, image, model->EncodeText(colour_ids), colours);
    for (int a = 0; a < kNumChairShapeAttributes; ++a)
      loss = loss + ChairPromptSetLoss(scale, image, model->EncodeText(attribute_ids[a]), buckets.select(1, a));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    {
      torch::NoGradGuard no_grad;
      model->logit_scale.clamp_(0.0, std::log(100.0));
    }
    if (options.refresh_per_step() > 0) {
      std::vector<int64_t> fresh(options.refresh_per_step());
      std::vector<uint64_t> seeds(fresh.size());
      for (size_t k = 0; k < fresh.size(); ++k) {
        fresh[k] = static_cast<int64_t>(rng() % pool.images.size(0));
        seeds[k] = kRefreshSeeds + (options.seed() << 32) + step * fresh.size() + k;
      }
      RenderChairRows(&pool, 0, seeds, size, fresh);
    }
    recent = step == 0 ? loss.item<double>() : 0.95 * recent + 0.05 * loss.item<double>();
    if (options.progress() && step % 50 == 0)
      std::fprintf(stderr, "chair CLIP step %lld loss %.3f lr %.1e (%.0f s)\n", static_cast<long long>(step), recent,
                   lr, NowSeconds() - start);
  }
  model->eval();
  ClipBundle bundle{config, model, tokenizer};
  ChairClipResult result = EvaluateChairClip(bundle, options.held_out_images(), options.seed());
  result.steps = step;
  result.train_seconds = NowSeconds() - start;
  if (options.progress()) std::fprintf(stderr, "chair CLIP: %s\n", result.ToJson().dump().c_str());
  if (out_dir.empty()) {
    fs::remove_all(staging);
  } else {
    SaveClipBundle(bundle, staging);
    const nlohmann::json provenance = {{"format_version", 1},
                                       {"vocabulary_version", kChairClipVocabularyVersion},
                                       {"trainer", "nerfedit small CLIP, chairs"},
                                       {"category", "chairs"},
                                       {"options", options.ToJson()},
                                       {"result", result.ToJson()}};
    WriteTextAtomically(staging + "/small_clip_training.json", provenance.dump(2) + "\n");
    const std::string old = target.string() + ".old-" + std::to_string(::getpid());
    const bool had = fs::exists(target);
    if (had) fs::rename(target, old);
    fs::rename(staging, target);
    if (had) fs::remove_all(old);
  }
  if (trained != nullptr) *trained = bundle;
  return result;
}

std::string DefaultChairClipDir() { return CacheDir("small_clip_chairs"); }

bool IsCurrentChairClip(const std::string& dir) {
  const fs::path file = fs::path(dir) / "small_clip_training.json";
  if (!fs::exists(file)) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(ReadTextFile(file.string()));
    return j.value("category", "") == "chairs" && j.value("vocabulary_version", 0) == kChairClipVocabularyVersion;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

ClipBundle LoadOrTrainEditClip(const std::string& dir, bool progress) {
  if (!dir.empty()) {
    NE_CHECK(fs::is_directory(dir), "CLIP folder ", dir, " does not exist (expected a Hugging Face CLIP folder: ",
             "config.json, model.safetensors, vocab.json, merges.txt)");
    ClipBundle b = LoadClipBundle(dir);
    b.model->eval();
    return b;
  }
  const std::string cached = DefaultChairClipDir();
  if (!IsCurrentChairClip(cached)) {
    if (progress) std::fprintf(stderr, "training the chair CLIP into %s (once)\n", cached.c_str());
    TrainChairClip(ChairClipOptions().progress(progress), cached);
  }
  ClipBundle b = LoadClipBundle(cached);
  b.model->eval();
  return b;
}

at::Tensor ClipInputFromRenders(const ClipBundle& clip, const at::Tensor& images) {
  NE_CHECK(images.dim() == 4 && images.size(3) == 3, "CLIP input: renders must be [B,H,W,3], got ", images.sizes());
  const int64_t s = clip.config.vision.image_size;
  at::Tensor x = images.permute({0, 3, 1, 2});
  if (x.size(2) != s || x.size(3) != s) {
    x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{s, s})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false)
                                                  .antialias(x.size(2) > s));
  }
  return ClipNormalise(x);
}

at::Tensor EncodePrompts(ClipBundle& clip, const std::vector<std::string>& prompts) {
  torch::NoGradGuard no_grad;
  return clip.model->EncodeText(clip.tokenizer.Tokenize(prompts, clip.config.text.max_position_embeddings));
}

}  // namespace nerfedit
