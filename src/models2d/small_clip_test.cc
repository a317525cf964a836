#include "models2d/small_clip.h"

#include <gtest/gtest.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "models2d/clip_tokenizer.h"
#include "models2d/small_clip_data.h"
#include "models2d/small_clip_tokenizer.h"
#include "util/atomic_file.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

TEST(SmallClipTokenizer, OneTokenPerCaptionWordAndHfRoundTrip) {
  const std::vector<std::string> corpus = CaptionCorpus();
  const BpeVocabulary vocab = TrainByteLevelBpe(corpus);
  EXPECT_EQ(vocab.tokens.size(), 512 + vocab.merges.size() + 2);
  EXPECT_EQ(vocab.tokens.back(), "<|endoftext|>");

  testing::TempDir dir;
  vocab.SaveHfFiles(dir.path());
  EXPECT_EQ(ReadTextFile(dir / "merges.txt").rfind("#version: 0.2\n", 0), 0u);
  const ClipTokenizer tokenizer = ClipTokenizer::FromHfFiles(dir / "vocab.json", dir / "merges.txt");
  EXPECT_EQ(tokenizer.vocab_size(), vocab.size());
  EXPECT_EQ(tokenizer.start_token(), vocab.IdOf("<|startoftext|>"));
  EXPECT_EQ(tokenizer.end_token(), vocab.IdOf("<|endoftext|>"));

  std::set<std::string> words;
  for (const std::string& caption : corpus) {
    const std::vector<std::string> caption_words = PreTokenize(caption);
    const std::vector<int64_t> ids = tokenizer.Encode(caption);
    ASSERT_EQ(ids.size(), caption_words.size()) << "caption \"" << caption << "\"";
    for (size_t k = 0; k < ids.size(); ++k) {
      EXPECT_EQ(ids[k], vocab.IdOf(caption_words[k] + "</w>")) << "word \"" << caption_words[k] << "\"";
      EXPECT_EQ(vocab.Segment(caption_words[k]).size(), 1u);
      words.insert(caption_words[k]);
    }
  }
  EXPECT_GE(words.size(), 25u);  // counts, sizes, colours, shapes, plurals, synonyms

  const at::Tensor row = tokenizer.Tokenize({"a small red cube"}, 16)[0];
  EXPECT_EQ(row[0].item<int64_t>(), tokenizer.start_token());
  EXPECT_EQ(row[1].item<int64_t>(), vocab.IdOf("a</w>"));
  EXPECT_EQ(row[4].item<int64_t>(), vocab.IdOf("cube</w>"));
  EXPECT_EQ(row[5].item<int64_t>(), tokenizer.end_token());
  EXPECT_EQ(row[6].item<int64_t>(), 0);
  // Words outside the corpus still encode, as several byte-level pieces.
  EXPECT_GT(tokenizer.Encode("redness").size(), 1u);

  // Saving through ClipTokenizer gives the same files' meaning.
  testing::TempDir again;
  tokenizer.SaveHfFiles(again.path());
  const ClipTokenizer reloaded = ClipTokenizer::FromHfFiles(again / "vocab.json", again / "merges.txt");
  EXPECT_TRUE(torch::equal(reloaded.Tokenize(corpus, 16), tokenizer.Tokenize(corpus, 16)));
}

TEST(SmallClipData, CaptionsAndQueries) {
  EXPECT_EQ(NumObjectClasses(), 180);
  const std::vector<std::string> full = FullCaptions();
  EXPECT_EQ(std::set<std::string>(full.begin(), full.end()).size(), full.size());
  const ObjectClass two_small_red_cubes{1, 0, 0, 1};
  EXPECT_EQ(MakeCaption(two_small_red_cubes, CaptionTemplate::kFull), "two small red cubes");
  EXPECT_EQ(MakeCaption(two_small_red_cubes, CaptionTemplate::kFull, true), "two small red boxes");
  EXPECT_EQ(MakeCaption(ObjectClass{0, 2, 1, 0}, CaptionTemplate::kNoSize), "a blue sphere");
  EXPECT_EQ(MakeCaption(two_small_red_cubes, CaptionTemplate::kColourShape), "red cube");
  EXPECT_EQ(MakeCaption(two_small_red_cubes, CaptionTemplate::kShape), "cube");
  EXPECT_EQ(MakeCaption(two_small_red_cubes, CaptionTemplate::kColour), "red");
  for (int64_t i = 0; i < NumObjectClasses(); ++i) {
    const ObjectClass c = ObjectClassAt(i);
    ASSERT_EQ(ObjectClassIndex(c), i);
    // A full caption describes exactly its own class; "red" describes every red class.
    int64_t described = 0, red = 0;
    for (int64_t j = 0; j < NumObjectClasses(); ++j) {
      described += QueryFor(c, CaptionTemplate::kFull).Describes(ObjectClassAt(j));
      red += QueryFor(c, CaptionTemplate::kColour).Describes(ObjectClassAt(j));
    }
    EXPECT_EQ(described, 1);
    EXPECT_EQ(red, NumObjectClasses() / static_cast<int64_t>(CaptionColours().size()));
  }
}

// Object pixels of one rendered image: per visible object label, its pixel count and mean colour.
struct ObjectPixels {
  std::map<int, int64_t> area;
  std::map<int, at::Tensor> mean_rgb;
};

ObjectPixels Measure(const CaptionedImage& image) {
  ObjectPixels out;
  const at::Tensor labels = image.labels;
  for (int label = 2; label < 10; ++label) {
    const at::Tensor mask = labels.eq(label);
    const int64_t n = mask.sum().item<int64_t>();
    if (n == 0) continue;
    out.area[label] = n;
    out.mean_rgb[label] = image.rgb.index({mask}).mean(0);
  }
  return out;
}

int NearestColour(const at::Tensor& rgb) {
  // Shading scales a colour and highlights add white, so compare directions, not values.
  const at::Tensor dir = rgb / rgb.norm();
  int best = -1;
  double best_cos = -2;
  for (size_t k = 0; k < CaptionColours().size(); ++k) {
    const auto& c = CaptionColours()[k].rgb;
    const at::Tensor ref = torch::tensor({c[0], c[1], c[2]});
    const double cos = (dir * ref / ref.norm()).sum().item<double>();
    if (cos > best_cos) best_cos = cos, best = static_cast<int>(k);
  }
  // White (0.93) and grey (0.55) share a direction: this says "neutral" (white); the test compares the two
  // renders of one viewpoint for lightness instead (shading and highlights make single renders overlap).
  if (CaptionColours()[best].name == "grey") {
    for (size_t k = 0; k < CaptionColours().size(); ++k) {
      if (CaptionColours()[k].name == "white") best = static_cast<int>(k);
    }
  }
  return best;
}

TEST(SmallClipData, RenderedImagesShowWhatTheCaptionSays) {
  int checked = 0;
  for (int64_t i = 0; i < NumObjectClasses(); i += 3) {
    const ObjectClass c = ObjectClassAt(i);
    const CaptionedImage image = RenderCaptionedImage(c, 1000 + i, 48, 1);
    ASSERT_EQ(image.rgb.sizes(), (std::vector<int64_t>{48, 48, 3}));
    const ObjectPixels pixels = Measure(image);
    const std::string caption = MakeCaption(c, CaptionTemplate::kFull);
    // "two ..." shows two objects, "a ..." one; each is visible.
    ASSERT_EQ(static_cast<int>(pixels.area.size()), c.count + 1) << caption;
    for (const auto& [label, area] : pixels.area) {
      EXPECT_GE(area, 6) << caption;
      const std::string& colour = CaptionColours()[c.colour].name;
      const bool neutral = colour == "white" || colour == "grey";
      const std::string& seen = CaptionColours()[NearestColour(pixels.mean_rgb.at(label))].name;
      EXPECT_TRUE(neutral ? seen == "white" : seen == colour) << caption << " looks " << seen;
    }
    // White and grey: the same viewpoint with the other word is clearly darker (grey) or lighter (white).
    const auto& colours = CaptionColours();
    if (colours[c.colour].name == "white") {
      ObjectClass grey = c;
      for (size_t k = 0; k < colours.size(); ++k) grey.colour = colours[k].name == "grey" ? k : grey.colour;
      const ObjectPixels grey_pixels = Measure(RenderCaptionedImage(grey, 1000 + i, 48, 1));
      for (const auto& [label, rgb] : pixels.mean_rgb) {
        EXPECT_GT(rgb.mean().item<double>(), 1.3 * grey_pixels.mean_rgb.at(label).mean().item<double>()) << caption;
      }
    }
    // The same viewpoint with the other size word: "large" objects cover clearly more pixels.
    if (c.size == 0) {
      ObjectClass large = c;
      large.size = 1;
      const ObjectPixels large_pixels = Measure(RenderCaptionedImage(large, 1000 + i, 48, 1));
      int64_t small_area = 0, large_area = 0;
      for (const auto& [label, area] : pixels.area) small_area += area;
      for (const auto& [label, area] : large_pixels.area) large_area += area;
      EXPECT_GT(large_area, 2.5 * small_area) << caption;
    }
    ++checked;
  }
  EXPECT_GE(checked, 50);
}

TEST(SmallClipData, PoolSplitsAreDeterministicAndDisjoint) {
  const CaptionedImagePool a = RenderCaptionedImagePool(1, 16, 7, 1);
  const CaptionedImagePool b = RenderCaptionedImagePool(1, 16, 7, 1);
  const CaptionedImagePool held_out = RenderCaptionedImagePool(1, 16, 8, 1);
  ASSERT_EQ(a.size(), NumObjectClasses());
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.classes, held_out.classes));
  // A different seed gives a different viewpoint/placement for every image.
  const at::Tensor differs = (a.images - held_out.images).abs().flatten(1).amax(1).gt(1e-3);
  EXPECT_EQ(differs.sum().item<int64_t>(), a.size());
  EXPECT_EQ(a.by_class.size(), static_cast<size_t>(NumObjectClasses()));
}

// Zero-shot accuracy of the colour word alone ("red", "green", ...): chance is 1/8.
double ColourAccuracy(ClipModel model, const ClipTokenizer& tokenizer, const CaptionedImagePool& pool) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> colours;
  for (const auto& c : CaptionColours()) colours.push_back(c.name);
  const at::Tensor text = model->EncodeText(tokenizer.Tokenize(colours, 16));
  const at::Tensor predicted = model->EncodeImage(pool.images).mm(text.t()).argmax(1);
  std::vector<int64_t> truth;
  for (int64_t i = 0; i < pool.size(); ++i) truth.push_back(ObjectClassAt(pool.classes[i].item<int64_t>()).colour);
  return predicted.eq(torch::tensor(truth, torch::kLong)).to(torch::kDouble).mean().item<double>();
}

TEST(SceneCrops, RandomScenesAreValidAndCropsNameAnObjectOfTheirScene) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const ProceduralScene scene = RandomCaptionScene(seed);
    ASSERT_GE(scene.objects.size(), 3u) << "seed " << seed;
    ASSERT_LE(scene.objects.size(), 5u);
    for (size_t i = 0; i < scene.objects.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        EXPECT_NE(scene.objects[i].name, scene.objects[j].name) << "shape-colour pairs are distinct";
        const auto &a = scene.objects[i].center, &b = scene.objects[j].center;
        EXPECT_GT(std::hypot(a[0] - b[0], a[1] - b[1]), scene.objects[i].size[0] + scene.objects[j].size[0]) << "overlap";
      }
    }
  }
  const SceneCropOptions options = SceneCropOptions().scene_image_size(64).crop(16).crops_per_scene(12).supersample(1);
  const SceneCropPool pool = RenderSceneCropPool(3, 16, 7, options);
  ASSERT_EQ(pool.size(), 36);
  EXPECT_TRUE(pool.images.equal(RenderSceneCropPool(3, 16, 7, options).images)) << "deterministic per seed";
  int ground = 0;
  for (int64_t i = 0; i < pool.size(); ++i) {
    const int64_t shape = pool.shape[i].item<int64_t>(), colour = pool.colour[i].item<int64_t>();
    if (shape < 0) {
      EXPECT_EQ(colour, -1);
      ++ground;
      continue;
    }
    // The crop's caption is the name of an object of its scene (scene i / 12 of the pool, seed 7 * 1000003 + s).
    const ProceduralScene scene = RandomCaptionScene(7 * 1000003ull + static_cast<uint64_t>(i / 12));
    const std::string name =
        MakeCaption({static_cast<int>(shape), static_cast<int>(colour), 0, 0}, CaptionTemplate::kColourShape);
    EXPECT_GE(scene.FindObject(name), 0) << name;
  }
  EXPECT_GT(ground, 0);
  EXPECT_LT(ground, 24);
}

TEST(SmallClip, ShortTrainingLearnsAndSavesALoadableClip) {
  // One thread: this tiny model's ops are too small to split, and on a busy machine two threads waiting for each
  // other made steps 40x slower. Restored when the test ends.
  struct SingleThread {
    int saved = at::get_num_threads();
    SingleThread() { at::set_num_threads(1); }
    ~SingleThread() { at::set_num_threads(saved); }
  } single_thread;
  SmallClipOptions options;
  options.image_size(32).patch_size(8).vision_width(64).text_width(64).vision_layers(2).text_layers(2).heads(2)
      .projection_dim(64).batch_size(64).steps(100).time_budget_seconds(30).train_per_class(6).held_out_per_class(2)
      .supersample(1).lr(2e-3).warmup_steps(20).progress(false).seed(3)
      .scene_crops(16).scene_pool(8).scene_image_size(64).scene_crop(16)
      .threads(1);  // one BLAS thread too: 100 steps in 6.0 s vs 10.0 s with two, on a busy machine (same figures)
  testing::TempDir dir;
  const std::string out = dir / "clip";
  const SmallClipResult result = TrainSmallClip(options, out);
  // Thresholds between what an untrained model scores and what this training reaches, measured on 2 cores
  // (2026-11-30, 180 classes; the options above, each seed's own held-out pools):
  //   untrained (1 step at lr 1e-12, 12 initialisations): zero-shot 0.000-0.008 (chance 1/180 = 0.0056), scene
  //     crops 0.002-0.061;
  //   100 steps: seed 3 (this test; the same figures on every run at a fixed step count) 0.067 / 0.122; seeds 0-7
  //     0.067-0.106 / 0.122-0.177. Fewer steps (the time budget ends training early on a busy machine): 70 steps
  //     0.050 / 0.103, 50 steps 0.017 / 0.131 — hence at least 70 steps (100 take 6-13 s here, on a machine
  //     shared with two other trainings).
  EXPECT_GE(result.steps, 70);
  EXPECT_GT(result.zero_shot_top1, 0.03) << "after " << result.steps << " steps";
  EXPECT_GT(result.scene_crop_top1, 0.09) << "after " << result.steps << " steps";
  EXPECT_LT(result.train_seconds, 40);
  EXPECT_EQ(result.num_held_out, 2 * NumObjectClasses());
  for (double accuracy : result.attribute_accuracy) EXPECT_GE(accuracy, result.zero_shot_top1);

  // The saved directory is a standard CLIP bundle, and the reloaded model scores the held-out split identically.
  const ClipBundle loaded = LoadClipBundle(out);
  EXPECT_TRUE(std::filesystem::exists(dir / "clip/small_clip_training.json"));
  int64_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) entries += entry.exists();
  EXPECT_EQ(entries, 1) << "no temporary directories are left beside the output";
  const CaptionedImagePool held_out = RenderCaptionedImagePool(2, 32, 2 * 3 + 2, 1);
  EXPECT_NEAR(ZeroShotTop1(loaded.model, loaded.tokenizer, 16, held_out), result.zero_shot_top1, 1e-9);
  // Colour is the first thing learnt: the single colour word must already find held-out images far above chance.
  EXPECT_GT(ColourAccuracy(loaded.model, loaded.tokenizer, held_out), 0.5);
}

}  // namespace
}  // namespace nerfedit
