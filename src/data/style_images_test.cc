#include "data/style_images.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "data/image_io.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using testing::TempDir;

TEST(StyleImages, EveryKindIsSeededAnySizeAndNotFlat) {
  ASSERT_GE(ProceduralStyleNames().size(), 8u);
  for (const std::string& name : ProceduralStyleNames()) {
    SCOPED_TRACE(name);
    const at::Tensor a = ProceduralStyle(name, 3, 37, 53);
    ASSERT_EQ(a.sizes(), (at::IntArrayRef{3, 37, 53}));
    EXPECT_EQ(a.scalar_type(), torch::kFloat);
    EXPECT_GE(a.min().item<float>(), 0.0f);
    EXPECT_LE(a.max().item<float>(), 1.0f);
    EXPECT_TRUE(torch::equal(a, ProceduralStyle(name, 3, 37, 53)));  // deterministic per seed
    const at::Tensor b = ProceduralStyle(name, 4, 37, 53);
    EXPECT_GT((a - b).abs().mean().item<float>(), 0.02f);  // another seed, another picture
    // A pattern, not a flat colour: pixels vary within the image.
    EXPECT_GT(a.std(/*dim=*/{1, 2}).max().item<float>(), 0.05f);
    // Wide and tall sizes work too.
    EXPECT_EQ(ProceduralStyle(name, 0, 64, 16).sizes(), (at::IntArrayRef{3, 64, 16}));
  }
}

TEST(StyleImages, KindsDifferFromEachOther) {
  // The same seed in two kinds draws unrelated images (the kind salts the seed).
  const at::Tensor stripes = ProceduralStyle("stripes", 0, 32, 32), dots = ProceduralStyle("dots", 0, 32, 32);
  EXPECT_GT((stripes - dots).abs().mean().item<float>(), 0.05f);
}

TEST(StyleImages, UnknownKindAndBadSpecsAreClearErrors) {
  EXPECT_NE(ErrorOf([] { ProceduralStyle("plaid", 0, 8, 8); }).find("unknown procedural style \"plaid\" (known: "),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ResolveStyle("procedural:dots:x1", 8, 8); }).find("non-negative integer"),
            std::string::npos);
  EXPECT_EQ(ResolveStyle("procedural:waves:7", 16, 20).sizes(), (at::IntArrayRef{3, 16, 20}));
  EXPECT_TRUE(torch::equal(ResolveStyle("procedural:rings", 16, 16), ProceduralStyle("rings", 0, 16, 16)));
}

TEST(StyleImages, StyleThatIsNotAnImageIsAClearError) {
  TempDir dir;
  {
    std::ofstream(dir / "notes.png") << "this is text, not a PNG";
  }
  const std::string not_image = ErrorOf([&] { LoadStyleImage(dir / "notes.png"); });
  EXPECT_NE(not_image.find("style image " + (dir / "notes.png") + " is not a readable PNG/JPEG image"),
            std::string::npos)
      << not_image;
  EXPECT_NE(ErrorOf([&] { ResolveStyle(dir / "missing.jpg", 8, 8); }).find("does not exist"), std::string::npos);
  EXPECT_NE(ErrorOf([&] { LoadStyleImage(dir.path()); }).find("is not a file"), std::string::npos);
}

TEST(StyleImages, UserImageRoundTripsAndCrops) {
  TempDir dir;
  const at::Tensor image = ProceduralStyle("mosaic", 1, 40, 60);
  SaveImage(dir / "style.png", image.permute({1, 2, 0}));
  const at::Tensor loaded = LoadStyleImage(dir / "style.png");
  ASSERT_EQ(loaded.sizes(), (at::IntArrayRef{3, 40, 60}));
  EXPECT_LT((loaded - image).abs().max().item<float>(), 1.0f / 255 + 1e-4);  // 8-bit quantisation only
  const at::Tensor crop = RandomStyleCrop(loaded, 24, 1.5, 5);
  EXPECT_EQ(crop.sizes(), (at::IntArrayRef{3, 24, 24}));
  EXPECT_TRUE(torch::equal(crop, RandomStyleCrop(loaded, 24, 1.5, 5)));
  ASSERT_EQ(ListStyleImages(dir.path()).size(), 1u);
  EXPECT_TRUE(ListStyleImages(dir / "absent").empty());
}

TEST(StyleImages, SharedPaintingsLoad) {
  NE_REQUIRE_SHARED_DATA(data);
  const auto files = ListStyleImages(data + "/styles");
  if (files.empty()) GTEST_SKIP() << data << "/styles holds no style images";
  for (const auto& f : files) {
    const at::Tensor s = LoadStyleImage(f);
    EXPECT_EQ(s.size(0), 3) << f;
    EXPECT_GT(s.std().item<float>(), 0.05f) << f;
  }
}

}  // namespace
}  // namespace nerfedit
