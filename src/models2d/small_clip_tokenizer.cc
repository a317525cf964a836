#include "models2d/small_clip_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "util/atomic_file.h"
#include "util/error.h"

namespace nerfedit {

namespace {

std::string Utf8(int code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

struct ByteTable {
  std::vector<int> order;                 // bytes in CLIP's vocabulary order
  std::vector<std::string> symbols;       // symbol of order[i]
  std::vector<std::string> symbol_of_byte;  // indexed by byte value
};

const ByteTable& Table() {
  static const ByteTable table = [] {
    // CLIP's bytes_to_unicode(): printable latin-1 bytes map to themselves, the rest to 256 + n.
    ByteTable t;
    std::vector<int> cs;
    for (int b = '!'; b <= '~'; ++b) t.order.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) t.order.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) t.order.push_back(b);
    cs = t.order;
    std::set<int> present(t.order.begin(), t.order.end());
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      if (!present.count(b)) {
        t.order.push_back(b);
        cs.push_back(256 + n);
        ++n;
      }
    }
    t.symbol_of_byte.resize(256);
    for (size_t i = 0; i < t.order.size(); ++i) {
      t.symbols.push_back(Utf8(cs[i]));
      t.symbol_of_byte[t.order[i]] = t.symbols.back();
    }
    return t;
  }();
  return table;
}

constexpr const char* kEndOfWord = "</w>";

// A word as its initial BPE symbols: one per byte, the last carrying the end-of-word mark.
std::vector<std::string> InitialSymbols(const std::string& word) {
  std::vector<std::string> symbols;
  for (unsigned char ch : word) symbols.push_back(Table().symbol_of_byte[ch]);
  if (!symbols.empty()) symbols.back() += kEndOfWord;
  return symbols;
}

// Merges every left-to-right occurrence of (a, b) in symbols, as CLIP's bpe() does.
void MergePair(std::vector<std::string>* symbols, const std::string& a, const std::string& b) {
  std::vector<std::string> out;
  out.reserve(symbols->size());
  for (size_t i = 0; i < symbols->size();) {
    if (i + 1 < symbols->size() && (*symbols)[i] == a && (*symbols)[i + 1] == b) {
      out.push_back(a + b);
      i += 2;
    } else {
      out.push_back((*symbols)[i]);
      i += 1;
    }
  }
  *symbols = std::move(out);
}

}  // namespace

const std::vector<std::string>& ByteSymbols() { return Table().symbols; }
const std::vector<int>& ByteOrder() { return Table().order; }

std::vector<std::string> PreTokenize(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  enum Kind { kNone, kLetter, kOther } kind = kNone;
  auto flush = [&] {
    if (!current.empty()) words.push_back(current);
    current.clear();
    kind = kNone;
  };
  for (unsigned char ch : text) {
    if (std::isspace(ch)) {
      flush();
    } else if (std::isalpha(ch) || ch >= 0x80) {
      if (kind != kLetter) flush();
      current += static_cast<char>(std::tolower(ch));
      kind = kLetter;
    } else if (std::isdigit(ch)) {
      flush();  // CLIP splits digits one by one
      words.push_back(std::string(1, static_cast<char>(ch)));
    } else {
      if (kind != kOther) flush();
      current += static_cast<char>(ch);
      kind = kOther;
    }
  }
  flush();
  return words;
}

int64_t BpeVocabulary::IdOf(const std::string& token) const {
  auto it = std::find(tokens.begin(), tokens.end(), token);
  NE_CHECK(it != tokens.end(), "BPE vocabulary: token \"", token, "\" is not in the vocabulary of ", tokens.size(),
           " tokens");
  return it - tokens.begin();
}

std::string BpeVocabulary::VocabJson() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (size_t i = 0; i < tokens.size(); ++i) j[tokens[i]] = static_cast<int64_t>(i);
  return j.dump() + "\n";
}

std::string BpeVocabulary::MergesTxt() const {
  std::string out = "#version: 0.2\n";
  for (const auto& [a, b] : merges) out += a + " " + b + "\n";
  return out;
}

void BpeVocabulary::SaveHfFiles(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  WriteTextAtomically(dir + "/vocab.json", VocabJson());
  WriteTextAtomically(dir + "/merges.txt", MergesTxt());
}

std::vector<std::string> BpeVocabulary::Segment(const std::string& word) const {
  std::map<std::pair<std::string, std::string>, size_t> rank;
  for (size_t i = 0; i < merges.size(); ++i) rank.emplace(merges[i], i);
  std::vector<std::string> symbols = InitialSymbols(word);
  while (symbols.size() > 1) {
    size_t best = merges.size();
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = rank.find({symbols[i], symbols[i + 1]});
      if (it != rank.end()) best = std::min(best, it->second);
    }
    if (best == merges.size()) break;
    MergePair(&symbols, merges[best].first, merges[best].second);
  }
  return symbols;
}

BpeVocabulary TrainByteLevelBpe(const std::vector<std::string>& corpus) {
  NE_CHECK(!corpus.empty(), "TrainByteLevelBpe: the corpus is empty");
  std::map<std::string, int64_t> word_counts;
  for (const std::string& text : corpus) {
    for (const std::string& word : PreTokenize(text)) ++word_counts[word];
  }
  std::vector<std::pair<std::vector<std::string>, int64_t>> words;
  for (const auto& [word, count] : word_counts) words.emplace_back(InitialSymbols(word), count);

  BpeVocabulary vocab;
  for (const std::string& s : ByteSymbols()) vocab.tokens.push_back(s);
  for (const std::string& s : ByteSymbols()) vocab.tokens.push_back(s + kEndOfWord);
  std::set<std::string> known(vocab.tokens.begin(), vocab.tokens.end());

  while (true) {
    std::map<std::pair<std::string, std::string>, int64_t> pair_counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) pair_counts[{symbols[i], symbols[i + 1]}] += count;
    }
    if (pair_counts.empty()) break;  // every word is one symbol
    // Most frequent pair; std::map iterates in lexicographic order, so the first maximum is the tie-break.
    auto best = pair_counts.begin();
    for (auto it = pair_counts.begin(); it != pair_counts.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const auto [a, b] = best->first;
    vocab.merges.emplace_back(a, b);
    const std::string merged = a + b;
    // A merge can produce a token the byte table already holds only if a+b were a byte symbol; never for bytes.
    NE_CHECK(known.insert(merged).second, "TrainByteLevelBpe: merge \"", a, "\" + \"", b,
             "\" repeats an existing token");
    vocab.tokens.push_back(merged);
    for (auto& [symbols, count] : words) MergePair(&symbols, a, b);
  }
  vocab.tokens.push_back("<|startoftext|>");
  vocab.tokens.push_back("<|endoftext|>");
  return vocab;
}

}  // namespace nerfedit
