#include "data/image_io.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using testing::TempDir;

// Runs f, expects a nerfedit::Error whose message contains every one of `parts`.
template <typename F>
void ExpectErrorContaining(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nmissing: " << p;
  }
}

TEST(ImageIo, PngRoundTripIsExactForUint8) {
  TempDir dir;
  auto rgb = torch::randint(0, 256, {7, 5, 3}, torch::kByte);
  auto rgba = torch::randint(0, 256, {4, 6, 4}, torch::kByte);
  SaveImage(dir / "a.png", rgb);
  SaveImage(dir / "b.PNG", rgba);
  EXPECT_TRUE(torch::equal(LoadImage(dir / "a.png"), rgb));
  EXPECT_TRUE(torch::equal(LoadImage(dir / "b.PNG"), rgba));
  const ImageInfo info = ReadImageInfo(dir / "b.PNG");
  EXPECT_EQ(info.width, 6);
  EXPECT_EQ(info.height, 4);
  EXPECT_EQ(info.channels, 4);
  // No temporary file is left beside the image.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 2);
}

TEST(ImageIo, FloatImagesAreQuantisedAndClamped) {
  TempDir dir;
  auto image = torch::rand({9, 11, 3});
  image[0][0][0] = 1.7f;   // clamped to 1
  image[0][0][1] = -0.3f;  // clamped to 0
  SaveImage(dir / "f.png", image);
  auto back = LoadImageFloat(dir / "f.png", {0, 0, 0});
  ASSERT_EQ(back.sizes(), image.sizes());
  EXPECT_LE((back - image.clamp(0, 1)).abs().max().item<float>(), 0.5f / 255 + 1e-6);
}

TEST(ImageIo, GreyIsExpandedAndSingleChannelSaves) {
  TempDir dir;
  auto grey = torch::randint(0, 256, {5, 4, 1}, torch::kByte);
  SaveImage(dir / "g.png", grey);
  auto loaded = LoadImage(dir / "g.png");
  ASSERT_EQ(loaded.sizes(), (std::vector<int64_t>{5, 4, 3}));
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(torch::equal(loaded.select(2, c), grey.squeeze(2)));
  auto ids = LoadLabelImage(dir / "g.png");
  EXPECT_EQ(ids.scalar_type(), torch::kInt);
  EXPECT_TRUE(torch::equal(ids, grey.squeeze(2).to(torch::kInt)));
  SaveImage(dir / "rgb.png", torch::zeros({3, 3, 3}));
  ExpectErrorContaining([&] { LoadLabelImage(dir / "rgb.png"); }, {"rgb.png", "3 channels"});
}

TEST(ImageIo, JpegRoundTripIsClose) {
  TempDir dir;
  // A smooth image: JPEG is lossy but close on gradients.
  auto ramp = torch::linspace(0, 1, 32);
  auto image = torch::stack({ramp.unsqueeze(0).expand({32, 32}), ramp.unsqueeze(1).expand({32, 32}),
                             torch::full({32, 32}, 0.5f)},
                            2);
  SaveImage(dir / "x.jpg", image);
  SaveImage(dir / "y.JPEG", image);
  auto back = LoadImageFloat(dir / "x.jpg", {1, 1, 1});
  EXPECT_LT((back - image).abs().mean().item<float>(), 0.02f);
  EXPECT_EQ(LoadImage(dir / "y.JPEG").size(2), 3);
}

TEST(ImageIo, RgbaIsCompositedOnBackground) {
  TempDir dir;
  auto rgba = torch::zeros({1, 3, 4}, torch::kByte);
  rgba[0][0] = torch::tensor({255, 0, 0, 255}, torch::kByte);  // opaque red
  rgba[0][1] = torch::tensor({255, 0, 0, 0}, torch::kByte);    // fully transparent
  rgba[0][2] = torch::tensor({0, 0, 255, 51}, torch::kByte);   // 20% blue
  SaveImage(dir / "a.png", rgba);
  auto on_green = LoadImageFloat(dir / "a.png", {0, 1, 0});
  auto expected = torch::tensor({{{1.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}, {0.0f, 0.8f, 0.2f}}});
  EXPECT_TRUE(torch::allclose(on_green, expected, 1e-5, 1e-5)) << on_green;
}

TEST(ImageIo, DownscaleAreaIsABoxFilter) {
  auto image = torch::arange(4 * 6 * 2, torch::kFloat).reshape({4, 6, 2});
  auto small = DownscaleArea(image, 2);
  ASSERT_EQ(small.sizes(), (std::vector<int64_t>{2, 3, 2}));
  // Block (0,0), channel 0: pixels (0,0),(0,1),(1,0),(1,1) = 0, 2, 12, 14.
  EXPECT_FLOAT_EQ(small[0][0][0].item<float>(), 7.0f);
  EXPECT_FLOAT_EQ(small[1][2][1].item<float>(), (image[2][4][1] + image[2][5][1] + image[3][4][1] + image[3][5][1]).item<float>() / 4);
  // Trailing rows/columns that do not fill a block are dropped (as Camera::Downscaled rounds down).
  EXPECT_EQ(DownscaleArea(torch::zeros({5, 7, 3}), 2).sizes(), (std::vector<int64_t>{2, 3, 3}));
  EXPECT_TRUE(torch::equal(DownscaleArea(image, 1), image));
  ExpectErrorContaining([&] { DownscaleArea(torch::zeros({5, 7, 3}), 6); }, {"too small", "6"});
}

TEST(ImageIo, DownscalingPremultipliedAlphaThenCompositing) {
  // One opaque red pixel among three transparent ones: premultiplied averaging gives rgb (0.25,0,0) and alpha 0.25,
  // so on white the block is (1, 0.75, 0.75). Averaging straight colours would bleed the transparent pixels' black.
  TempDir dir;
  auto rgba = torch::zeros({2, 2, 4}, torch::kByte);
  rgba[0][0] = torch::tensor({255, 0, 0, 255}, torch::kByte);
  SaveImage(dir / "p.png", rgba);
  auto premultiplied = LoadImagePremultiplied(dir / "p.png", 2);
  ASSERT_EQ(premultiplied.sizes(), (std::vector<int64_t>{1, 1, 4}));
  EXPECT_TRUE(torch::allclose(premultiplied[0][0], torch::tensor({0.25f, 0.0f, 0.0f, 0.25f})));
  auto rgb = CompositePremultiplied(premultiplied, {1, 1, 1});
  EXPECT_TRUE(torch::allclose(rgb[0][0], torch::tensor({1.0f, 0.75f, 0.75f})));
}

TEST(ImageIo, ClearErrors) {
  TempDir dir;
  ExpectErrorContaining([&] { LoadImage(dir / "missing.png"); }, {"missing.png", "does not exist"});
  SaveImage(dir / "ok.png", torch::rand({16, 16, 3}));
  // Truncated: the header survives (so ReadImageInfo works) but decoding fails.
  {
    std::ifstream in(dir / "ok.png", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(dir / "cut.png", std::ios::binary);
    out << bytes.substr(0, bytes.size() / 2);
  }
  ExpectErrorContaining([&] { LoadImage(dir / "cut.png"); }, {"cut.png", "cannot decode"});
  {
    std::ofstream out(dir / "junk.png", std::ios::binary);
    out << "this is not an image at all";
  }
  ExpectErrorContaining([&] { LoadImage(dir / "junk.png"); }, {"junk.png", "cannot decode"});
  ExpectErrorContaining([&] { ReadImageInfo(dir / "junk.png"); }, {"junk.png"});
  {
    // A valid 1x1 GIF: stb's GIF decoder (CVE-2023-45661..45667 in Debian's copy) is not compiled in.
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
                                 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b};
    std::ofstream(dir / "one.gif", std::ios::binary).write(reinterpret_cast<const char*>(gif), sizeof(gif));
  }
  ExpectErrorContaining([&] { LoadImage(dir / "one.gif"); }, {"one.gif", "cannot decode"});
  {
    // A PNG header claiming 20000 x 20000 pixels (1.2 GB decoded): refused from the header, before allocating.
    std::ifstream in(dir / "ok.png", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const unsigned char huge[] = {0, 0, 0x4e, 0x20};  // 20000, big-endian, at the IHDR's width and height
    bytes.replace(16, 4, reinterpret_cast<const char*>(huge), 4);
    bytes.replace(20, 4, reinterpret_cast<const char*>(huge), 4);
    std::ofstream(dir / "huge.png", std::ios::binary) << bytes;
  }
  ExpectErrorContaining([&] { LoadImage(dir / "huge.png"); }, {"huge.png", "large"});
  ExpectErrorContaining([&] { SaveImage(dir / "x.png", torch::zeros({4, 4, 2})); }, {"x.png", "channel count 2"});
  ExpectErrorContaining([&] { SaveImage(dir / "x.bmp", torch::zeros({4, 4, 3})); }, {"x.bmp", "extension"});
  ExpectErrorContaining([&] { SaveImage(dir / "x.png", torch::zeros({4, 4, 3}, torch::kInt)); }, {"x.png", "dtype"});
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

}  // namespace
}  // namespace nerfedit
