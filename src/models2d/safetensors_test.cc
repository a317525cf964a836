#include "models2d/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

// Writes a raw safetensors file from a header string and a data blob.
void WriteRaw(const std::string& path, const std::string& header, const std::string& data, int64_t len_override = -1) {
  std::ofstream out(path, std::ios::binary);
  uint64_t len = len_override >= 0 ? static_cast<uint64_t>(len_override) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
  out << header << data;
}

TEST(Safetensors, RoundTripKeepsValuesDtypesAndMetadata) {
  testing::TempDir dir;
  TensorMap tensors = {{"a.weight", torch::randn({3, 4})},
                       {"b", torch::arange(5, torch::kLong)},
                       {"half", torch::randn({2, 2}).to(torch::kHalf)},
                       {"scalar", torch::tensor(2.5f)},
                       {"empty", torch::zeros({0, 3})}};
  SaveSafetensors(dir / "m.safetensors", tensors, {{"format", "pt"}});
  SafetensorsFile file = ReadSafetensors(dir / "m.safetensors");
  ASSERT_EQ(file.tensors.size(), tensors.size());
  EXPECT_EQ(file.metadata.at("format"), "pt");
  for (const auto& [name, t] : tensors) {
    EXPECT_EQ(file.tensors.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(file.tensors.at(name).sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(file.tensors.at(name), t)) << name;
  }
  TensorMap f32 = LoadSafetensors(dir / "m.safetensors");
  EXPECT_EQ(f32.at("half").scalar_type(), torch::kFloat);
  EXPECT_EQ(f32.at("b").scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(f32.at("half"), tensors.at("half").to(torch::kFloat)));
}

TEST(Safetensors, ReadsHandWrittenF16AndBf16) {
  testing::TempDir dir;
  // 1.0 in F16 is 0x3C00, in BF16 0x3F80; -2.0 is 0xC000 / 0xC000.
  std::string data = std::string("\x00\x3C\x00\xC0", 4) + std::string("\x80\x3F\x00\xC0", 4);
  WriteRaw(dir / "x.safetensors",
           R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})",
           data);
  TensorMap t = LoadSafetensors(dir / "x.safetensors");
  EXPECT_TRUE(torch::equal(t.at("h"), torch::tensor({1.0f, -2.0f})));
  EXPECT_TRUE(torch::equal(t.at("b"), torch::tensor({1.0f, -2.0f})));
}

TEST(Safetensors, RejectsCorruptFiles) {
  testing::TempDir dir;
  const std::string ok_header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');
  {
    std::ofstream(dir / "short.safetensors", std::ios::binary) << "abc";
    EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "short.safetensors"); }).find("truncated"), std::string::npos);
  }
  WriteRaw(dir / "len.safetensors", ok_header, data, 1000);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "len.safetensors"); }).find("beyond the end"), std::string::npos);
  WriteRaw(dir / "trunc.safetensors", ok_header, data.substr(0, 5));
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "trunc.safetensors"); }).find("outside"), std::string::npos);
  WriteRaw(dir / "range.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "range.safetensors"); }).find("\"w\""), std::string::npos);
  WriteRaw(dir / "overlap.safetensors",
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           data);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "overlap.safetensors"); }).find("overlaps"), std::string::npos);
  WriteRaw(dir / "dtype.safetensors", R"({"w":{"dtype":"F8","shape":[8],"data_offsets":[0,8]}})", data);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "dtype.safetensors"); }).find("unknown dtype \"F8\""),
            std::string::npos);
  WriteRaw(dir / "shape.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "shape.safetensors"); }).find("needs 12 bytes"), std::string::npos);
  WriteRaw(dir / "json.safetensors", "{not json", data);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "json.safetensors"); }).find("not valid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf([&] { ReadSafetensors(dir / "absent.safetensors"); }).find("cannot be opened"),
            std::string::npos);
}

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    lin = register_module("lin", torch::nn::Linear(3, 2));
    scale = register_parameter("scale", torch::ones({1}));
    stat = register_buffer("stat", torch::zeros({4}));
  }
  torch::nn::Linear lin{nullptr};
  at::Tensor scale, stat;
};
TORCH_MODULE(Tiny);

TEST(Safetensors, LoadStateDictCopiesByNameAndNamesProblems) {
  Tiny a, b;
  TensorMap sd = StateDict(*a);
  ASSERT_EQ(sd.size(), 4u);
  sd["stat"] = torch::arange(4).to(torch::kFloat);
  LoadStateDict(*b, sd, "test");
  EXPECT_TRUE(torch::equal(b->lin->weight, a->lin->weight));
  EXPECT_TRUE(torch::equal(b->stat, torch::arange(4).to(torch::kFloat)));

  TensorMap bad = sd;
  bad["lin.weight"] = torch::zeros({2, 4});
  std::string msg = ErrorOf([&] { LoadStateDict(*b, bad, "file.safetensors"); });
  EXPECT_NE(msg.find("\"lin.weight\" has shape [2,4] but the module expects [2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("file.safetensors"), std::string::npos);

  TensorMap missing = sd;
  missing.erase("scale");
  missing["extra.bias"] = torch::zeros({1});
  msg = ErrorOf([&] { LoadStateDict(*b, missing, "f"); });
  EXPECT_NE(msg.find("missing [scale]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected [extra.bias]"), std::string::npos) << msg;

  LoadStateDictOptions drop;
  drop.rename = [](const std::string& n) { return n == "extra.bias" ? std::string() : n; };
  TensorMap with_extra = sd;
  with_extra["extra.bias"] = torch::zeros({1});
  EXPECT_NO_THROW(LoadStateDict(*b, with_extra, "f", drop));
}

}  // namespace
}  // namespace nerfedit
