#include "engine/torch_archive_check.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string RefusalOf(const std::string& path) {
  try {
    CheckTorchArchive(path, "checkpoint " + path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

// An archive shaped like a checkpoint: a string record, a tensor, a nested record.
std::string WriteArchive(const testing::TempDir& dir) {
  torch::serialize::OutputArchive archive, inner;
  archive.write("meta", c10::IValue(std::string("{\"format_version\": 2}")));
  archive.write("weights", torch::arange(1000, 1064, torch::kFloat), /*is_buffer=*/true);
  inner.write("table", torch::full({16, 2}, 0.25f));
  archive.write("model", inner);
  const std::string path = dir / "checkpoint.pt";
  archive.save_to(path);
  return path;
}

TEST(TorchArchiveCheck, AcceptsWhatTorchWrites) {
  testing::TempDir dir;
  EXPECT_EQ(RefusalOf(WriteArchive(dir)), "(accepted)");
  // The fuzz seed: a real checkpoint of a tiny nerf run, with deflated TorchScript entries and zip64 records.
  const std::string seed = std::string(NERFEDIT_SOURCE_DIR) + "/fuzz/corpus/checkpoint/tiny_nerf.pt";
  ASSERT_TRUE(fs::exists(seed));
  EXPECT_EQ(RefusalOf(seed), "(accepted)");
}

TEST(TorchArchiveCheck, RefusesABitFlipInTensorDataOrInAPickle) {
  testing::TempDir dir;
  const std::string path = WriteArchive(dir);
  const std::string good = Bytes(path);
  // LibTorch itself reads both damaged files without complaint (it skips the zip's CRCs).
  const float value = 1010.0f;
  const size_t in_tensor = good.find(std::string(reinterpret_cast<const char*>(&value), sizeof(value)));
  const size_t in_pickle = good.find("format_version");
  ASSERT_NE(in_tensor, std::string::npos);
  ASSERT_NE(in_pickle, std::string::npos);
  for (size_t at : {in_tensor + 2, in_pickle + 3}) {
    std::string bad = good;
    bad[at] ^= 0x10;
    WriteBytes(path, bad);
    const std::string refusal = RefusalOf(path);
    EXPECT_NE(refusal.find("does not match the size and CRC32"), std::string::npos) << refusal;
    EXPECT_NE(refusal.find("checkpoint " + path), std::string::npos) << refusal;
  }
}

TEST(TorchArchiveCheck, RefusesTruncatedAndForeignFiles) {
  testing::TempDir dir;
  const std::string path = WriteArchive(dir);
  const std::string good = Bytes(path);
  for (size_t keep : {good.size() - 1, good.size() / 2, size_t{100}, size_t{0}}) {
    WriteBytes(path, good.substr(0, keep));
    const std::string refusal = RefusalOf(path);
    EXPECT_NE(refusal.find("truncated"), std::string::npos) << keep << ": " << refusal;
  }
  WriteTextAtomically(path, std::string(200, 'x'));
  EXPECT_NE(RefusalOf(path).find("not a torch archive"), std::string::npos);
  EXPECT_NE(RefusalOf(dir / "missing.pt").find("cannot be opened"), std::string::npos);
}

}  // namespace
}  // namespace nerfedit
