#include "models2d/clip_tokenizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "util/error.h"
#include "util/json_reader.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

std::string ReferencePath() { return std::string(NERFEDIT_SOURCE_DIR) + "/tests/fixtures/models2d/tokenizer_reference.json"; }

const ClipTokenizer& OpenAiTokenizer(const std::string& data) {
  static const ClipTokenizer tok = ClipTokenizer::FromOpenAiBpe(data + "/clip/bpe_simple_vocab_16e6.txt.gz");
  return tok;
}

TEST(ClipTokenizer, MatchesOpenAiReferenceIds) {
  NE_REQUIRE_SHARED_DATA(data);
  const ClipTokenizer& tok = OpenAiTokenizer(data);
  Json ref = ReadJsonFile(ReferencePath());
  EXPECT_EQ(tok.vocab_size(), ref["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.start_token(), 49406);
  EXPECT_EQ(tok.end_token(), 49407);
  ASSERT_GE(ref["cases"].size(), 30u);
  std::vector<std::string> texts;
  for (const Json& c : ref["cases"]) {
    const std::string text = c["text"].get<std::string>();
    texts.push_back(text);
    EXPECT_EQ(tok.Encode(text), c["encode"].get<std::vector<int64_t>>()) << "text: \"" << text << "\"";
  }
  at::Tensor ids = tok.Tokenize(texts, ref["context_length"].get<int64_t>());
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{static_cast<int64_t>(texts.size()), 77}));
  for (size_t i = 0; i < texts.size(); ++i) {
    auto expected = ref["cases"][i]["tokenize"].get<std::vector<int64_t>>();
    at::Tensor row = ids[i];
    EXPECT_TRUE(torch::equal(row, torch::tensor(expected, torch::kLong))) << "text: \"" << texts[i] << "\"";
  }
}

TEST(ClipTokenizer, HfFilesRoundTripGivesTheSameIds) {
  NE_REQUIRE_SHARED_DATA(data);
  const ClipTokenizer& tok = OpenAiTokenizer(data);
  testing::TempDir dir;
  tok.SaveHfFiles(dir.path());
  ClipTokenizer hf = ClipTokenizer::FromHfFiles(dir / "vocab.json", dir / "merges.txt");
  EXPECT_EQ(hf.vocab_size(), tok.vocab_size());
  EXPECT_EQ(hf.start_token(), tok.start_token());
  const std::string text = "A small red cube, two blue spheres & café 東京 don't 123!";
  EXPECT_EQ(hf.Encode(text), tok.Encode(text));
  EXPECT_EQ(tok.Decode(tok.Encode("a photo of a café")), "a photo of a café ");
}

TEST(ClipTokenizer, TruncatesOrThrows) {
  NE_REQUIRE_SHARED_DATA(data);
  const ClipTokenizer& tok = OpenAiTokenizer(data);
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "cat ";
  at::Tensor ids = tok.Tokenize({long_text, "dog"}, 77, true);
  EXPECT_EQ(ids[0][76].item<int64_t>(), 49407);
  EXPECT_EQ(ids[0][0].item<int64_t>(), 49406);
  EXPECT_EQ(ids[1][3].item<int64_t>(), 0);
  EXPECT_THROW(tok.Tokenize({long_text}, 77, false), Error);
}

TEST(ClipTokenizer, CleansTextLikeFtfyAndHtml) {
  EXPECT_EQ(ClipCleanText("  Hello\t\tWORLD \n"), "hello world");
  EXPECT_EQ(ClipCleanText("\xE2\x80\x9CQuoted\xE2\x80\x9D it\xE2\x80\x99s"), "\"quoted\" it's");
  EXPECT_EQ(ClipCleanText("fish &amp;amp; chips &#65;&#x42;"), "fish & chips ab");
  EXPECT_EQ(ClipCleanText("\xEF\xAC\x81ne \xEF\xBC\xA1\xEF\xBC\xA2"), "fine ab");  // ligature, full-width
  EXPECT_EQ(ClipCleanText("\xC3\x84RGER \xC4\xB0"), "\xC3\xA4rger i\xCC\x87");   // Ä, İ -> i + combining dot
}

TEST(ClipTokenizer, SmallMergeListBuildsOpenAiStyleVocab) {
  ClipTokenizer tok = ClipTokenizer::FromMerges({{"c", "a"}, {"ca", "t</w>"}});
  EXPECT_EQ(tok.vocab_size(), 256 + 256 + 2 + 2);
  EXPECT_EQ(tok.Encode("cat"), (std::vector<int64_t>{512 + 1}));  // "cat</w>" is the second merge
  EXPECT_EQ(tok.Encode("a"), (std::vector<int64_t>{'a' - '!' + 256}));  // "a</w>"
  EXPECT_EQ(tok.start_token(), 514);
}

}  // namespace
}  // namespace nerfedit
