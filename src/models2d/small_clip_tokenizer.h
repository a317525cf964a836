// A tiny byte-level BPE trainer (Sennrich 2016, with CLIP's byte-to-unicode table and "</w>" word ends) that
// learns merges from a caption corpus until every corpus word is a single token, and writes them in the
// Hugging Face CLIP layout (vocab.json + merges.txt) so ClipTokenizer::FromHfFiles loads the result unchanged.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nerfedit {

struct BpeVocabulary {
  // id -> token, in CLIP's order: 256 byte symbols, the same 256 with "</w>", one token per merge,
  // then "<|startoftext|>" and "<|endoftext|>" (the end token has the largest id, as in CLIP).
  std::vector<std::string> tokens;
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  int64_t IdOf(const std::string& token) const;  // throws for an unknown token
  std::string VocabJson() const;                 // {"token": id, ...} in id order
  std::string MergesTxt() const;                 // "#version: 0.2" then one "a b" pair a line
  void SaveHfFiles(const std::string& dir) const;  // dir/vocab.json, dir/merges.txt (atomic writes)

  // The BPE symbols of one pre-tokenised word under these merges (rank-greedy, as CLIP encodes).
  std::vector<std::string> Segment(const std::string& word) const;
};

// CLIP's reversible byte -> printable unicode map, as UTF-8 strings, in CLIP's vocabulary order:
// element i is the symbol of byte ByteOrder()[i].
const std::vector<std::string>& ByteSymbols();
const std::vector<int>& ByteOrder();

// Lower-cased words of a text, split like CLIP's pattern for ASCII text (letter runs, single digits,
// runs of other non-space characters; bytes >= 0x80 count as letters).
std::vector<std::string> PreTokenize(const std::string& text);

// Learns merges until every word of the corpus is one token; ties break on the lexicographically smallest pair
// so the result is deterministic.
BpeVocabulary TrainByteLevelBpe(const std::vector<std::string>& corpus);

}  // namespace nerfedit
