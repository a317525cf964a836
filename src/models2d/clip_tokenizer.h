// CLIP's byte-level BPE tokenizer, giving exactly the ids of OpenAI's `clip.tokenize` (and so of the models trained
// with it): ftfy-lite + html-unescape clean-up, whitespace collapsing, lower-casing, OpenAI's pre-tokenisation
// regex (letters runs | single digits | punctuation runs | 's 't 're 've 'm 'll 'd), bytes_to_unicode, "</w>".
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace nerfedit {

class ClipTokenizer {
 public:
  ClipTokenizer() = default;  // empty (no vocabulary): load one with a From* function
  // Hugging Face CLIPTokenizer files: vocab.json {token: id} and merges.txt ("#version" line, then "a b" per line).
  static ClipTokenizer FromHfFiles(const std::string& vocab_json, const std::string& merges_txt);
  // OpenAI's bpe_simple_vocab_16e6.txt.gz: the vocabulary is built as OpenAI's SimpleTokenizer builds it.
  static ClipTokenizer FromOpenAiBpe(const std::string& bpe_gz_path);
  // From merges in rank order: vocab = 256 byte symbols, the same + "</w>", the merges, then the two special tokens.
  static ClipTokenizer FromMerges(const std::vector<std::pair<std::string, std::string>>& merges);

  std::vector<int64_t> Encode(const std::string& text) const;  // UTF-8 text -> ids, without start/end tokens
  // [B, context_length] i64: start, ids, end, zero padding (as clip.tokenize). Over-long texts are cut and end with
  // the end token when truncate, else throw.
  at::Tensor Tokenize(const std::vector<std::string>& texts, int64_t context_length = 77, bool truncate = true) const;
  std::string Decode(const std::vector<int64_t>& ids) const;  // inverse of Encode up to clean-up ("</w>" -> " ")

  int64_t start_token() const { return start_token_; }
  int64_t end_token() const { return end_token_; }
  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }

  void SaveHfFiles(const std::string& dir) const;  // writes dir/vocab.json and dir/merges.txt (atomically)

 private:
  void Finalize(const std::string& source);  // builds the reverse maps and looks up the special tokens
  std::vector<std::string> Bpe(const std::string& word) const;

  std::unordered_map<std::string, int64_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<std::string, int64_t> merge_rank_;  // key: first + '\x01' + second
  int64_t start_token_ = -1;
  int64_t end_token_ = -1;
};

// Text clean-up applied before pre-tokenisation (exposed for tests): ftfy-lite (curly quotes, ligatures, full-width
// forms, line separators, control characters), html unescape twice, whitespace runs -> one space, strip, lower-case.
std::string ClipCleanText(const std::string& text);

}  // namespace nerfedit
