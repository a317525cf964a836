// Every input the fuzzers found (fuzz/regressions/TARGET/*), run through the same loaders as its fuzz target in the
// normal build: each must be refused with a nerfedit::Error naming the problem - no crash, no raw library exception.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "data/dataset.h"
#include "data/image_io.h"
#include "data/procedural_scene.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

// The message each regression's refusal must contain (one line per file: what the fix guards).
const std::map<std::string, std::string> kExpected = {
    {"image/jpeg_huffman_overflow.jpg", "Huffman table"},  // stb would write past its tables (UBSan)
    {"image/jpeg_huffman_after_fill_bytes.jpg", "Huffman table"},  // the same after 0xFF fill bytes before SOI
    {"transforms/number_overflow.json", "malformed JSON"},  // 1e999: nlohmann's out_of_range escaped
    {"scene_json/number_overflow.json", "malformed JSON"},
};

std::string RefusalOf(const std::string& target, const std::string& file) {
  try {
    if (target == "image") {
      LoadImage(file);
    } else if (target == "transforms") {
      testing::TempDir dir;
      fs::copy_file(file, dir / "transforms.json");
      LoadTransformsDataset(dir.path());
    } else if (target == "scene_json") {
      ProceduralScene::FromJson(ReadJsonFile(file));
    } else {
      return "no loader for fuzz target " + target;
    }
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(FuzzRegressions, EveryFoundInputIsRefusedClearly) {
  const fs::path root = fs::path(NERFEDIT_SOURCE_DIR) / "fuzz" / "regressions";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  int files = 0;
  // The run-folder targets' inputs (checkpoint, run_json) need the nerf method: methods/nerf/run_loading_test.cc.
  for (const char* name : {"image", "transforms", "scene_json"}) {
    const fs::directory_entry target(root / name);
    if (!target.is_directory()) continue;
    for (const auto& input : fs::directory_iterator(target.path())) {
      const std::string name = target.path().filename().string() + "/" + input.path().filename().string();
      SCOPED_TRACE(name);
      const auto expected = kExpected.find(name);
      ASSERT_NE(expected, kExpected.end()) << "add the message its refusal must contain to kExpected";
      const std::string refusal = RefusalOf(target.path().filename().string(), input.path().string());
      EXPECT_NE(refusal.find(expected->second), std::string::npos) << refusal;
      ++files;
    }
  }
  EXPECT_EQ(files, static_cast<int>(kExpected.size()));
}

}  // namespace
}  // namespace nerfedit
