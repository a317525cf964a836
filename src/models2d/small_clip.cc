#include "models2d/small_clip.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "models2d/clip_tokenizer.h"
#include "models2d/small_clip_tokenizer.h"
#include "util/atomic_file.h"
#include "util/blas_threads.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/progress_bar.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

void SmallClipOptions::Check() const {
  NE_CHECK(image_size() >= 8, "SmallClipOptions: image_size is ", image_size(), ", expected >= 8");
  NE_CHECK(patch_size() >= 1 && image_size() % patch_size() == 0, "SmallClipOptions: patch_size ", patch_size(),
           " must divide image_size ", image_size());
  NE_CHECK(heads() >= 1 && vision_width() % heads() == 0 && text_width() % heads() == 0, "SmallClipOptions: heads ",
           heads(), " must divide vision_width ", vision_width(), " and text_width ", text_width());
  NE_CHECK(vision_layers() >= 1 && text_layers() >= 1, "SmallClipOptions: vision_layers ", vision_layers(),
           " and text_layers ", text_layers(), " must be >= 1");
  NE_CHECK(context_length() >= 8, "SmallClipOptions: context_length is ", context_length(),
           ", expected >= 8 (the longest caption is 6 tokens)");
  NE_CHECK(projection_dim() >= 1, "SmallClipOptions: projection_dim is ", projection_dim());
  NE_CHECK(steps() >= 1, "SmallClipOptions: steps is ", steps(), ", expected >= 1");
  NE_CHECK(time_budget_seconds() >= 0, "SmallClipOptions: time_budget_seconds is ", time_budget_seconds());
  NE_CHECK(batch_size() >= 2 && batch_size() <= NumObjectClasses(), "SmallClipOptions: batch_size is ", batch_size(),
           ", expected in [2, ", NumObjectClasses(), "] (one image per distinct class)");
  NE_CHECK(lr() > 0, "SmallClipOptions: lr is ", lr());
  NE_CHECK(weight_decay() >= 0, "SmallClipOptions: weight_decay is ", weight_decay());
  NE_CHECK(train_per_class() >= 1 && held_out_per_class() >= 1, "SmallClipOptions: train_per_class ",
           train_per_class(), " and held_out_per_class ", held_out_per_class(), " must be >= 1");
  NE_CHECK(supersample() >= 1, "SmallClipOptions: supersample is ", supersample());
  NE_CHECK(max_shift() >= 0 && max_shift() < image_size(), "SmallClipOptions: max_shift is ", max_shift(),
           ", expected in [0, image_size)");
  NE_CHECK(refresh_per_step() >= 0, "SmallClipOptions: refresh_per_step is ", refresh_per_step(), ", expected >= 0");
  NE_CHECK(scene_crops() >= 0, "SmallClipOptions: scene_crops is ", scene_crops(), ", expected >= 0");
  NE_CHECK(scene_pool() >= 1, "SmallClipOptions: scene_pool is ", scene_pool(), ", expected >= 1");
  NE_CHECK(threads() >= 1, "SmallClipOptions: threads is ", threads(), ", expected >= 1");
  SceneCropConfig().Check();
}

SceneCropOptions SmallClipOptions::SceneCropConfig() const {
  return SceneCropOptions()
      .scene_image_size(scene_image_size())
      .crop(scene_crop())
      .supersample(supersample())
      .same_colour_pairs(scene_same_colour_pairs());
}

nlohmann::json SmallClipOptions::ToJson() const {
  return {{"image_size", image_size()},       {"patch_size", patch_size()},
          {"vision_width", vision_width()},   {"vision_layers", vision_layers()},
          {"text_width", text_width()},       {"text_layers", text_layers()},
          {"heads", heads()},                 {"context_length", context_length()},
          {"projection_dim", projection_dim()}, {"steps", steps()},
          {"time_budget_seconds", time_budget_seconds()}, {"batch_size", batch_size()},
          {"lr", lr()},                       {"weight_decay", weight_decay()},
          {"warmup_steps", warmup_steps()},   {"train_per_class", train_per_class()},
          {"held_out_per_class", held_out_per_class()}, {"supersample", supersample()},
          {"max_shift", max_shift()},         {"refresh_per_step", refresh_per_step()},
          {"seed", seed()},                   {"progress", progress()},
          {"caption_set_negatives", caption_set_negatives()},
          {"scene_crops", scene_crops()},     {"scene_pool", scene_pool()},
          {"scene_crop", scene_crop()},       {"scene_image_size", scene_image_size()},
          {"scene_same_colour_pairs", scene_same_colour_pairs()},
          {"threads", threads()}};
}

SmallClipOptions SmallClipOptions::FromJson(const nlohmann::json& j) {
  SmallClipOptions o;
  JsonReader r(j, "SmallClipOptions");
  r.Optional("image_size", &o.image_size())
      .Optional("patch_size", &o.patch_size())
      .Optional("vision_width", &o.vision_width())
      .Optional("vision_layers", &o.vision_layers())
      .Optional("text_width", &o.text_width())
      .Optional("text_layers", &o.text_layers())
      .Optional("heads", &o.heads())
      .Optional("context_length", &o.context_length())
      .Optional("projection_dim", &o.projection_dim())
      .Optional("steps", &o.steps())
      .Optional("time_budget_seconds", &o.time_budget_seconds())
      .Optional("batch_size", &o.batch_size())
      .Optional("lr", &o.lr())
      .Optional("weight_decay", &o.weight_decay())
      .Optional("warmup_steps", &o.warmup_steps())
      .Optional("train_per_class", &o.train_per_class())
      .Optional("held_out_per_class", &o.held_out_per_class())
      .Optional("supersample", &o.supersample())
      .Optional("max_shift", &o.max_shift())
      .Optional("refresh_per_step", &o.refresh_per_step())
      .Optional("seed", &o.seed())
      .Optional("progress", &o.progress())
      .Optional("caption_set_negatives", &o.caption_set_negatives())
      .Optional("scene_crops", &o.scene_crops())
      .Optional("scene_pool", &o.scene_pool())
      .Optional("scene_crop", &o.scene_crop())
      .Optional("scene_image_size", &o.scene_image_size())
      .Optional("scene_same_colour_pairs", &o.scene_same_colour_pairs())
      .Optional("threads", &o.threads());
  r.Finish();
  o.Check();
  return o;
}

ClipConfig SmallClipOptions::MakeClipConfig(int64_t vocab_size, int64_t end_token) const {
  ClipConfig c;
  c.text.vocab_size = vocab_size;
  c.text.hidden_size = text_width();
  c.text.intermediate_size = 4 * text_width();
  c.text.num_hidden_layers = text_layers();
  c.text.num_attention_heads = heads();
  c.text.max_position_embeddings = context_length();
  c.text.hidden_act = "quick_gelu";
  c.text.layer_norm_eps = 1e-5;
  c.text.eos_token_id = end_token;  // the text embedding is pooled at the end token
  c.vision.hidden_size = vision_width();
  c.vision.intermediate_size = 4 * vision_width();
  c.vision.num_hidden_layers = vision_layers();
  c.vision.num_attention_heads = heads();
  c.vision.image_size = image_size();
  c.vision.patch_size = patch_size();
  c.vision.num_channels = 3;
  c.vision.hidden_act = "quick_gelu";
  c.vision.layer_norm_eps = 1e-5;
  c.projection_dim = projection_dim();
  c.logit_scale_init_value = std::log(1.0 / 0.07);  // CLIP's initial temperature
  return c;
}

nlohmann::json SmallClipResult::ToJson() const {
  return {{"zero_shot_top1", zero_shot_top1}, {"train_seconds", train_seconds},
          {"render_seconds", render_seconds}, {"steps", steps},
          {"final_loss", final_loss},         {"final_batch_accuracy", final_batch_accuracy},
          {"num_captions", num_captions},     {"num_held_out", num_held_out},
          {"shape_accuracy", attribute_accuracy[0]}, {"colour_accuracy", attribute_accuracy[1]},
          {"size_accuracy", attribute_accuracy[2]},  {"count_accuracy", attribute_accuracy[3]},
          {"scene_crop_top1", scene_crop_top1}};
}

namespace {

// Sampling weights of the caption templates (kFull, kNoSize, kColourShape, kShape, kColour): mostly full captions
// (the zero-shot prompts), plus the short queries the feature-field pipeline sends ("red sphere", "sphere", "red").
constexpr double kTemplateWeights[kNumCaptionTemplates] = {0.5, 0.2, 0.15, 0.075, 0.075};

// Drops the all-padding columns at the end of ids [B,L]. Exact for the text embedding: the text tower is causal and
// pools at the end token, so positions after it never reach the embedding; it makes training's text passes ~2.5x
// cheaper (captions are at most 6 tokens long).
at::Tensor TrimPadding(const at::Tensor& ids) {
  const at::Tensor used = ids.ne(0).any(0);  // [L]
  const int64_t length = used.nonzero().max().item<int64_t>() + 1;
  return ids.slice(1, 0, length).contiguous();
}

// Row of the caption of class c in template t (with the shape's synonym or not) in CaptionTable.
int64_t CaptionRow(int64_t c, int t, bool synonym) { return (c * kNumCaptionTemplates + t) * 2 + (synonym ? 1 : 0); }

// Every caption of every (class, template, synonym) tokenised once, then kGroundCaption, with what each describes:
// column c < C is object class c, column C the ground.
struct CaptionTable {
  at::Tensor ids;        // [C*T*2 + 1, L] i64, row CaptionRow(c, t, synonym); the last row is kGroundCaption
  at::Tensor describes;  // [C*T*2 + 1, C + 1] bool: caption row describes column
  int64_t ground_row() const { return ids.size(0) - 1; }
};

CaptionTable BuildCaptionTable(const ClipTokenizer& tokenizer, int64_t context_length) {
  const int64_t classes = NumObjectClasses();
  std::vector<std::string> captions;
  CaptionTable table;
  table.describes = torch::zeros({classes * kNumCaptionTemplates * 2 + 1, classes + 1}, torch::kBool);
  auto describes = table.describes.accessor<bool, 2>();
  int64_t row = 0;
  for (int64_t c = 0; c < classes; ++c) {
    for (int t = 0; t < kNumCaptionTemplates; ++t) {
      const auto tmpl = static_cast<CaptionTemplate>(t);
      const CaptionQuery query = QueryFor(ObjectClassAt(c), tmpl);
      for (bool synonym : {false, true}) {
        captions.push_back(MakeCaption(ObjectClassAt(c), tmpl, synonym));
        for (int64_t other = 0; other < classes; ++other) describes[row][other] = query.Describes(ObjectClassAt(other));
        ++row;
      }
    }
  }
  captions.push_back(kGroundCaption);
  describes[row][classes] = true;
  table.ids = TrimPadding(tokenizer.Tokenize(captions, context_length));
  return table;
}

// Which describes-columns an image stands for: its class; for an object crop (whose size and count words are
// undefined) the four classes of its shape and colour, so a caption naming a size or count is never its negative;
// the ground column for a ground crop.
void MarkColumns(at::TensorAccessor<float, 2> columns, int64_t row, int64_t shape, int64_t colour) {
  if (shape < 0) {
    columns[row][NumObjectClasses()] = 1;
    return;
  }
  for (int size = 0; size < static_cast<int>(CaptionSizes().size()); ++size) {
    for (int count = 0; count < static_cast<int>(CaptionCounts().size()); ++count) {
      columns[row][ObjectClassIndex({static_cast<int>(shape), static_cast<int>(colour), size, count})] = 1;
    }
  }
}

// Caption templates of object crops (they have no size or count): "red sphere", "sphere", "red".
constexpr double kCropTemplateWeights[3] = {0.5, 0.25, 0.25};
constexpr CaptionTemplate kCropTemplates[3] = {CaptionTemplate::kColourShape, CaptionTemplate::kShape,
                                               CaptionTemplate::kColour};

// Random shifts of up to `max_shift` pixels (edge-replicated; off by default, see SmallClipOptions) and horizontal
// flips; neither changes what the caption says.
at::Tensor Augment(const at::Tensor& images, int64_t max_shift, std::mt19937_64& rng) {
  namespace F = torch::nn::functional;
  const int64_t s = images.size(2);
  const at::Tensor padded =
      F::pad(images, F::PadFuncOptions({max_shift, max_shift, max_shift, max_shift}).mode(torch::kReplicate));
  std::uniform_int_distribution<int64_t> shift(0, 2 * max_shift);
  std::bernoulli_distribution flip(0.5);
  std::vector<at::Tensor> out;
  out.reserve(images.size(0));
  for (int64_t i = 0; i < images.size(0); ++i) {
    at::Tensor crop = padded[i].slice(1, shift(rng)).slice(1, 0, s).slice(2, shift(rng)).slice(2, 0, s);
    out.push_back(flip(rng) ? crop.flip({2}) : crop);
  }
  return torch::stack(out);
}

std::string TemporarySibling(const std::string& dir, const char* tag) {
  return (fs::path(dir).parent_path() / (fs::path(dir).filename().string() + tag + std::to_string(::getpid())))
      .string();
}

// Moves a finished directory over `dir`: the old one (if any) is renamed aside first and removed afterwards.
void ReplaceDirectory(const std::string& staging, const std::string& dir) {
  const std::string old = TemporarySibling(dir, ".old-");
  const bool had_old = fs::exists(dir);
  if (had_old) fs::rename(dir, old);
  fs::rename(staging, dir);
  if (had_old) fs::remove_all(old);
}

}  // namespace

std::string DefaultSmallClipDir() { return CacheDir("small_clip", "NERFEDIT_SMALL_CLIP"); }

bool IsCurrentSmallClip(const std::string& dir) {
  const fs::path file = fs::path(dir) / "small_clip_training.json";
  if (!fs::exists(file)) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(ReadTextFile(file.string()));
    return j.value("vocabulary_version", 1) == kSmallClipVocabularyVersion;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

SmallClipResult TrainSmallClip(const SmallClipOptions& options, const std::string& out_dir, ClipBundle* trained) {
  options.Check();
  ConfigureThreads();
  const double start = NowSeconds();
  torch::manual_seed(options.seed());
  std::mt19937_64 rng(options.seed() + 12345);

  // The tokenizer is learnt from the caption corpus and loaded back through the standard CLIP loader.
  std::string staging;
  if (out_dir.empty()) {
    staging = (fs::temp_directory_path() / ("nerfedit-small-clip-" + std::to_string(::getpid()))).string();
  } else {
    fs::create_directories(fs::absolute(out_dir).parent_path());
    staging = TemporarySibling(fs::absolute(out_dir).string(), ".tmp-");
  }
  fs::remove_all(staging);
  fs::create_directories(staging);
  const BpeVocabulary bpe = TrainByteLevelBpe(CaptionCorpus());
  bpe.SaveHfFiles(staging);
  ClipTokenizer tokenizer = ClipTokenizer::FromHfFiles(staging + "/vocab.json", staging + "/merges.txt");
  const ClipConfig config = options.MakeClipConfig(bpe.size(), tokenizer.end_token());
  const CaptionTable captions = BuildCaptionTable(tokenizer, options.context_length());

  // Image pools: the held-out split uses its own seed, hence its own viewpoints, placements and colour jitter.
  const double render_start = NowSeconds();
  CaptionedImagePool train_pool = RenderCaptionedImagePool(options.train_per_class(), options.image_size(),
                                                                 2 * options.seed() + 1, options.supersample());
  const CaptionedImagePool held_out = RenderCaptionedImagePool(options.held_out_per_class(), options.image_size(),
                                                               2 * options.seed() + 2, options.supersample());
  const SceneCropOptions crop_options = options.SceneCropConfig();
  SceneCropPool crop_pool, crop_held_out;
  if (options.scene_crops() > 0) {
    crop_pool = RenderSceneCropPool(options.scene_pool(), options.image_size(), 2 * options.seed() + 3, crop_options);
    crop_held_out = RenderSceneCropPool(40, options.image_size(), 2 * options.seed() + 4, crop_options);
  }
  SmallClipResult result;
  result.render_seconds = NowSeconds() - render_start;
  if (options.progress()) {
    std::fprintf(stderr,
                 "small CLIP: %lld training + %lld held-out images and %lld + %lld scene crops rendered in %.1f s, "
                 "%lld classes, %lld tokens\n",
                 static_cast<long long>(train_pool.size()), static_cast<long long>(held_out.size()),
                 static_cast<long long>(crop_pool.size()), static_cast<long long>(crop_held_out.size()),
                 result.render_seconds, static_cast<long long>(NumObjectClasses()), static_cast<long long>(bpe.size()));
  }

  // `threads` BLAS threads and one torch intra-op thread while training: the step's time is in matrix products
  // (BLAS), while torch's element-wise ops are too small to split — on a shared 2-core machine two intra-op threads
  // waiting on each other made steps ~15x slower (measured: 42 vs 616 steps in 150 s).
  struct TrainingThreads {
    int saved = at::get_num_threads();
    TrainingThreads() { at::set_num_threads(1); }
    ~TrainingThreads() { at::set_num_threads(saved); }
  } training_threads;
  ScopedBlasThreads blas_threads(options.threads());

  ClipModel model(config);
  model->train();
  // Weight decay on matrices only (open_clip's rule: no decay for gains, biases and the logit scale).
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options.lr()).betas({0.9, 0.98}).eps(1e-6).weight_decay(
                                     options.weight_decay())));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(options.lr()).betas({0.9, 0.98}).eps(1e-6).weight_decay(0)));
  torch::optim::AdamW optimizer(groups);

  // The schedule runs on progress = max(step / steps, time / budget), so a slow or shared machine still gets the
  // whole cosine decay inside the budget. A few seconds are kept back for evaluation and saving.
  const double budget = options.time_budget_seconds();
  const double train_start = NowSeconds();
  const double train_budget = budget > 0 ? std::max(1.0, budget - (train_start - start) - 5.0) : 0.0;
  const int64_t classes = NumObjectClasses();
  const int64_t batch = options.batch_size();
  std::discrete_distribution<int> pick_template(std::begin(kTemplateWeights), std::end(kTemplateWeights));
  std::discrete_distribution<int> pick_crop_template(std::begin(kCropTemplateWeights), std::end(kCropTemplateWeights));
  const int64_t crops = options.scene_crops();
  const int64_t rows_per_step = batch + crops;
  std::bernoulli_distribution pick_synonym(0.3);
  const at::Tensor labels = torch::arange(rows_per_step, torch::kLong);
  const at::Tensor full_caption_ids = TrimPadding(tokenizer.Tokenize(FullCaptions(), options.context_length()));
  const at::Tensor off_diagonal = torch::eye(rows_per_step, torch::kBool).logical_not();
  const at::Tensor describes = captions.describes.to(torch::kFloat);
  ProgressBar bar("clip train", 1000);
  std::vector<double> recent_loss, recent_accuracy;
  int64_t step = 0;
  for (;; ++step) {
    const double elapsed = NowSeconds() - train_start;
    const double progress =
        std::max(static_cast<double>(step) / options.steps(), train_budget > 0 ? elapsed / train_budget : 0.0);
    if (progress >= 1.0) break;
    const double warmup = std::min(1.0, static_cast<double>(step + 1) / std::max<int64_t>(1, options.warmup_steps()));
    const double lr = options.lr() * warmup * 0.5 * (1.0 + std::cos(M_PI * progress));
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

    // One image of each of `batch` distinct classes; each gets a caption of a random template. Then `crops` scene
    // crops with the caption of their centre pixel.
    const at::Tensor batch_classes = torch::randperm(classes, torch::kLong).slice(0, 0, batch);
    std::vector<int64_t> image_rows(batch), caption_rows(rows_per_step), crop_rows(crops);
    at::Tensor columns = torch::zeros({rows_per_step, classes + 1});
    auto column_of = columns.accessor<float, 2>();
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t c = batch_classes[i].item<int64_t>();
      const auto& rows = train_pool.by_class[c];
      image_rows[i] = rows[std::uniform_int_distribution<size_t>(0, rows.size() - 1)(rng)];
      caption_rows[i] = CaptionRow(c, pick_template(rng), pick_synonym(rng));
      column_of[i][c] = 1;
    }
    for (int64_t k = 0; k < crops; ++k) {
      const int64_t row = std::uniform_int_distribution<int64_t>(0, crop_pool.size() - 1)(rng);
      const int64_t shape = crop_pool.shape[row].item<int64_t>(), colour = crop_pool.colour[row].item<int64_t>();
      crop_rows[k] = row;
      if (shape < 0) {
        caption_rows[batch + k] = captions.ground_row();
      } else {
        const int64_t c = ObjectClassIndex({static_cast<int>(shape), static_cast<int>(colour), 0, 0});
        const int t = static_cast<int>(kCropTemplates[pick_crop_template(rng)]);
        caption_rows[batch + k] = CaptionRow(c, t, pick_synonym(rng));
      }
      MarkColumns(column_of, batch + k, shape, colour);
    }
    const at::Tensor caption_index = torch::tensor(caption_rows, torch::kLong);
    at::Tensor images = train_pool.images.index_select(0, torch::tensor(image_rows, torch::kLong));
    if (crops > 0) images = torch::cat({images, crop_pool.images.index_select(0, torch::tensor(crop_rows, torch::kLong))});
    images = Augment(images, options.max_shift(), rng);
    const at::Tensor ids = captions.ids.index_select(0, caption_index);
    // A short caption ("red") describes several images of the batch: those pairs are not negatives, so they are
    // masked out of both softmaxes: image i and text j are masked when text j describes a column image i stands for.
    const at::Tensor mask =
        columns.mm(describes.index_select(0, caption_index).t()).gt(0.5).logical_and(off_diagonal);  // [images, texts]

    const at::Tensor image_embed = model->EncodeImage(images);  // [B,P] unit length
    const at::Tensor text_embed = model->EncodeText(ids);       // [B,P] unit length
    // Symmetric InfoNCE with the learnt temperature (Radford 2021, Fig. 3).
    const at::Tensor logits =
        (model->logit_scale.exp() * image_embed.mm(text_embed.t())).masked_fill(mask, -1e9);  // [B images, B texts]
    at::Tensor loss = 0.5 * (torch::nn::functional::cross_entropy(logits, labels) +
                             torch::nn::functional::cross_entropy(logits.t(), labels));
    if (options.caption_set_negatives()) {
      // Deviation from plain CLIP, for speed: each image is also contrasted with every full caption (the whole
      // caption set is only C short texts), so each step sees the hard negatives that differ in one attribute.
      const at::Tensor all_text = model->EncodeText(full_caption_ids);  // [C,P]
      loss = loss + torch::nn::functional::cross_entropy(
                        model->logit_scale.exp() * image_embed.slice(0, 0, batch).mm(all_text.t()), batch_classes);
    }
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    {
      // CLIP clips the logit scale at 100 so the softmax does not saturate.
      torch::NoGradGuard no_grad;
      model->logit_scale.clamp_(0.0, std::log(100.0));
    }

    if (options.refresh_per_step() > 0) {
      // Fresh viewpoints for random pool rows. Their seeds live in their own range (bit 62 set), disjoint from
      // the initial pools' seeds (seed * 1000003 + row), so no held-out image is ever rendered for training.
      std::vector<int64_t> rows(options.refresh_per_step());
      for (int64_t& r : rows) r = std::uniform_int_distribution<int64_t>(0, train_pool.size() - 1)(rng);
      const uint64_t first = (1ull << 62) | (options.seed() << 40) |
                             static_cast<uint64_t>(step * options.refresh_per_step());
      RerenderPoolRows(&train_pool, rows, first, options.supersample());
    }
    if (crops > 0) {
      // One fresh scene per step, in its own seed range (bit 61) like the caption images' refresh.
      const uint64_t scene_seed = (1ull << 61) | (options.seed() << 40) | static_cast<uint64_t>(step);
      RerenderSceneSlot(&crop_pool, step % options.scene_pool(), scene_seed, crop_options);
    }

    recent_loss.push_back(loss.item<double>());
    recent_accuracy.push_back(logits.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>());
    if (recent_loss.size() > 20) {
      recent_loss.erase(recent_loss.begin());
      recent_accuracy.erase(recent_accuracy.begin());
    }
    if (options.progress()) {
      double mean_loss = 0, mean_acc = 0;
      for (size_t k = 0; k < recent_loss.size(); ++k) mean_loss += recent_loss[k], mean_acc += recent_accuracy[k];
      char metrics[160];
      std::snprintf(metrics, sizeof(metrics), "step %lld loss %.3f acc %.3f scale %.1f lr %.1e",
                    static_cast<long long>(step + 1), mean_loss / recent_loss.size(), mean_acc / recent_loss.size(),
                    std::exp(model->logit_scale.item<double>()), lr);
      bar.Update(static_cast<int64_t>(1000 * progress), metrics);
    }
  }
  result.steps = step;
  for (size_t k = 0; k < recent_loss.size(); ++k) {
    result.final_loss += recent_loss[k] / recent_loss.size();
    result.final_batch_accuracy += recent_accuracy[k] / recent_loss.size();
  }
  if (options.progress()) bar.Finish("steps " + std::to_string(step));

  model->eval();
  result.zero_shot_top1 =
      ZeroShotTop1(model, tokenizer, options.context_length(), held_out, &result.attribute_accuracy);
  if (crops > 0) result.scene_crop_top1 = SceneCropTop1(model, tokenizer, options.context_length(), crop_held_out);
  result.num_captions = classes;
  result.num_held_out = held_out.size();
  result.train_seconds = NowSeconds() - start;
  if (options.progress()) {
    std::fprintf(stderr,
                 "small CLIP: zero-shot top-1 %.4f on %lld held-out images among %lld captions (shape %.3f, colour "
                 "%.3f, size %.3f, count %.3f); scene crops %.4f; %.1f s\n",
                 result.zero_shot_top1, static_cast<long long>(result.num_held_out),
                 static_cast<long long>(result.num_captions), result.attribute_accuracy[0],
                 result.attribute_accuracy[1], result.attribute_accuracy[2], result.attribute_accuracy[3],
                 result.scene_crop_top1, result.train_seconds);
  }

  ClipBundle bundle{config, model, tokenizer};
  if (out_dir.empty()) {
    fs::remove_all(staging);
  } else {
    SaveClipBundle(bundle, staging);
    nlohmann::json provenance = {{"format_version", 1},
                                 {"vocabulary_version", kSmallClipVocabularyVersion},
                                 {"trainer", "nerfedit small CLIP"},
                                 {"options", options.ToJson()},
                                 {"result", result.ToJson()}};
    WriteTextAtomically(staging + "/small_clip_training.json", provenance.dump(2) + "\n");
    ReplaceDirectory(staging, fs::absolute(out_dir).string());
  }
  if (trained != nullptr) *trained = bundle;
  return result;
}

}  // namespace nerfedit
