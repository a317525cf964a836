#include "models2d/clip_tokenizer.h"

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <sstream>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace unicode_tables {
extern const uint32_t kLetter[][2];
extern const size_t kLetterCount;
extern const uint32_t kNumber[][2];
extern const size_t kNumberCount;
extern const uint32_t kRegexSpace[][2];
extern const size_t kRegexSpaceCount;
extern const uint32_t kPySpace[][2];
extern const size_t kPySpaceCount;
extern const uint32_t kLower[][2];
extern const size_t kLowerCount;
extern const uint32_t kLowerMulti[][4];
extern const size_t kLowerMultiCount;
extern const uint32_t kContractionFold[][2];
extern const size_t kContractionFoldCount;
}  // namespace unicode_tables

namespace {

namespace ut = unicode_tables;
using Codepoints = std::vector<char32_t>;

bool InRanges(const uint32_t (*ranges)[2], size_t count, char32_t c) {
  size_t lo = 0, hi = count;
  while (lo < hi) {  // first range whose end >= c
    size_t mid = (lo + hi) / 2;
    if (ranges[mid][1] < c) lo = mid + 1; else hi = mid;
  }
  return lo < count && ranges[lo][0] <= c;
}
bool IsLetter(char32_t c) { return InRanges(ut::kLetter, ut::kLetterCount, c); }
bool IsNumber(char32_t c) { return InRanges(ut::kNumber, ut::kNumberCount, c); }
bool IsRegexSpace(char32_t c) { return InRanges(ut::kRegexSpace, ut::kRegexSpaceCount, c); }
bool IsPySpace(char32_t c) { return InRanges(ut::kPySpace, ut::kPySpaceCount, c); }

void AppendLower(char32_t c, Codepoints* out) {
  for (size_t i = 0; i < ut::kLowerMultiCount; ++i) {
    if (ut::kLowerMulti[i][0] == c) {
      for (int k = 1; k < 4 && ut::kLowerMulti[i][k]; ++k) out->push_back(ut::kLowerMulti[i][k]);
      return;
    }
  }
  const auto* begin = ut::kLower;
  const auto* end = ut::kLower + ut::kLowerCount;
  const auto* it = std::lower_bound(begin, end, c, [](const uint32_t(&e)[2], char32_t v) { return e[0] < v; });
  out->push_back(it != end && (*it)[0] == c ? (*it)[1] : c);
}

// The letter a contraction alternative ('s, 't, ...) accepts at this code point under regex's IGNORECASE.
char32_t FoldForContraction(char32_t c) {
  for (size_t i = 0; i < ut::kContractionFoldCount; ++i)
    if (ut::kContractionFold[i][0] == c) return ut::kContractionFold[i][1];
  return c;
}

// Invalid UTF-8 becomes U+FFFD, as Python's decode(errors="replace") does.
Codepoints DecodeUtf8(const std::string& s) {
  Codepoints out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = s[i];
    int n = b < 0x80 ? 0 : (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : -1;
    char32_t c = n == 0 ? b : n == 1 ? (b & 0x1f) : n == 2 ? (b & 0x0f) : (b & 0x07);
    bool ok = n >= 0;
    for (int k = 1; ok && k <= n; ++k) {
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) >> 6) != 2) ok = false;
      else c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (!ok || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(c);
    i += n + 1;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
}

std::string EncodeUtf8(const Codepoints& cps, size_t begin = 0, size_t end = SIZE_MAX) {
  std::string out;
  for (size_t i = begin; i < std::min(end, cps.size()); ++i) AppendUtf8(cps[i], &out);
  return out;
}

// ftfy-lite: the parts of ftfy.fix_text that change well-formed text (quotes, ligatures, widths, controls).
// Mojibake repair and NFC normalisation are not implemented: input is expected to be valid, composed UTF-8.
Codepoints FixText(const Codepoints& in) {
  Codepoints out;
  for (char32_t c : in) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      out.push_back('\'');
    } else if (c >= 0x201C && c <= 0x201F) {
      out.push_back('"');
    } else if (c >= 0xFB00 && c <= 0xFB06) {
      static const char* kLig[] = {"ff", "fi", "fl", "ffi", "ffl", "\xC5\xBFt", "st"};
      for (char32_t l : DecodeUtf8(kLig[c - 0xFB00])) out.push_back(l);
    } else if (c == 0x0132 || c == 0x0133) {
      out.push_back(c == 0x0132 ? 'I' : 'i');
      out.push_back(c == 0x0132 ? 'J' : 'j');
    } else if (c >= 0xFF01 && c <= 0xFF5E) {
      out.push_back(c - 0xFF01 + 0x21);
    } else if (c == 0x3000) {
      out.push_back(' ');
    } else if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
               c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC)) {
      // control characters are dropped
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Python's html.unescape for numeric references and the common named ones.
Codepoints HtmlUnescape(const Codepoints& in) {
  static const std::vector<std::pair<std::string, char32_t>> kNamed = {
      {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", 0xA0},
      {"copy;", 0xA9}, {"reg;", 0xAE}, {"hellip;", 0x2026}, {"mdash;", 0x2014}, {"ndash;", 0x2013},
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"nbsp", 0xA0}, {"copy", 0xA9}, {"reg", 0xAE}};
  Codepoints out;
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '&') {
      out.push_back(in[i++]);
      continue;
    }
    size_t j = i + 1;
    if (j < in.size() && in[j] == '#') {
      bool hex = j + 1 < in.size() && (in[j + 1] == 'x' || in[j + 1] == 'X');
      size_t k = j + 1 + (hex ? 1 : 0), start = k;
      uint64_t value = 0;
      while (k < in.size() && k - start < 10 &&
             (hex ? std::isxdigit(static_cast<int>(in[k] < 128 ? in[k] : 0)) : (in[k] >= '0' && in[k] <= '9'))) {
        int d = in[k] <= '9' ? in[k] - '0' : (std::tolower(static_cast<int>(in[k])) - 'a' + 10);
        value = value * (hex ? 16 : 10) + d;
        ++k;
      }
      if (k > start) {
        if (k < in.size() && in[k] == ';') ++k;
        bool bad = value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF);
        out.push_back(bad ? 0xFFFD : static_cast<char32_t>(value));
        i = k;
        continue;
      }
    } else {
      bool matched = false;
      for (const auto& [name, c] : kNamed) {
        if (i + 1 + name.size() > in.size()) continue;
        bool eq = true;
        for (size_t k = 0; k < name.size() && eq; ++k) eq = in[i + 1 + k] == static_cast<char32_t>(name[k]);
        if (eq) {
          out.push_back(c);
          i += 1 + name.size();
          matched = true;
          break;
        }
      }
      if (matched) continue;
    }
    out.push_back(in[i++]);
  }
  return out;
}

Codepoints Strip(const Codepoints& in) {
  size_t b = 0, e = in.size();
  while (b < e && IsPySpace(in[b])) ++b;
  while (e > b && IsPySpace(in[e - 1])) --e;
  return Codepoints(in.begin() + b, in.begin() + e);
}

Codepoints CleanCodepoints(const std::string& text) {
  Codepoints t = Strip(HtmlUnescape(HtmlUnescape(FixText(DecodeUtf8(text)))));
  Codepoints collapsed;
  for (size_t i = 0; i < t.size(); ++i) {
    if (IsRegexSpace(t[i])) {
      while (i + 1 < t.size() && IsRegexSpace(t[i + 1])) ++i;
      collapsed.push_back(' ');
    } else {
      collapsed.push_back(t[i]);
    }
  }
  Codepoints lower;
  for (char32_t c : Strip(collapsed)) AppendLower(c, &lower);
  return lower;
}

bool StartsWithAscii(const Codepoints& s, size_t i, const char* lit) {
  for (size_t k = 0; lit[k]; ++k)
    if (i + k >= s.size() || s[i + k] != static_cast<char32_t>(lit[k])) return false;
  return true;
}

// OpenAI's pattern: <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (IGNORECASE), as findall: alternatives tried in order at each position, unmatched code points skipped.
std::vector<std::string> PreTokenize(const Codepoints& s) {
  std::vector<std::string> pieces;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (StartsWithAscii(s, i, "<|startoftext|>")) {
      len = 15;
    } else if (StartsWithAscii(s, i, "<|endoftext|>")) {
      len = 13;
    } else if (s[i] == '\'' && i + 1 < s.size()) {
      char32_t a = FoldForContraction(s[i + 1]);
      char32_t b = i + 2 < s.size() ? FoldForContraction(s[i + 2]) : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') len = 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) len = 3;
    }
    if (len == 0) {
      if (IsLetter(s[i])) {
        while (i + len < s.size() && IsLetter(s[i + len])) ++len;
      } else if (IsNumber(s[i])) {
        len = 1;
      } else if (!IsRegexSpace(s[i])) {
        while (i + len < s.size() && !IsRegexSpace(s[i + len]) && !IsLetter(s[i + len]) && !IsNumber(s[i + len]))
          ++len;
      }
    }
    if (len == 0) {
      ++i;
      continue;
    }
    pieces.push_back(EncodeUtf8(s, i, i + len));
    i += len;
  }
  return pieces;
}

// OpenAI's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to 256, 257, ... in byte order.
const std::vector<std::string>& ByteToSymbol() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      AppendUtf8(printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++), &t[b]);
    }
    return t;
  }();
  return table;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::pair<std::string, std::string> ParseMerge(const std::string& line, const std::string& source, size_t number) {
  std::istringstream in(line);
  std::string a, b, extra;
  in >> a >> b;
  NE_CHECK(!a.empty() && !b.empty() && !(in >> extra), source, ": line ", number,
           " is not a merge \"a b\": \"", line, "\"");
  return {a, b};
}

std::string GunzipFile(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  NE_CHECK(f != nullptr, "cannot open ", path);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string error = n < 0 ? std::string(msg) : "";
  gzclose(f);
  NE_CHECK(n == 0, path, ": gzip read error: ", error);
  return out;
}

}  // namespace

std::string ClipCleanText(const std::string& text) { return EncodeUtf8(CleanCodepoints(text)); }

ClipTokenizer ClipTokenizer::FromMerges(const std::vector<std::pair<std::string, std::string>>& merges) {
  ClipTokenizer tok;
  tok.merges_ = merges;
  const auto& symbols = ByteToSymbol();
  // Vocab order of OpenAI's SimpleTokenizer: symbols in bytes_to_unicode's value order (bs list order).
  std::vector<int> order;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) order.push_back(b);
  }
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) order.push_back(b);
  }
  for (int b : order) tok.id_to_token_.push_back(symbols[b]);
  for (int b : order) tok.id_to_token_.push_back(symbols[b] + "</w>");
  for (const auto& [a, b] : merges) tok.id_to_token_.push_back(a + b);
  tok.id_to_token_.push_back("<|startoftext|>");
  tok.id_to_token_.push_back("<|endoftext|>");
  for (size_t i = 0; i < tok.id_to_token_.size(); ++i) tok.token_to_id_.emplace(tok.id_to_token_[i], i);
  tok.Finalize("merges");
  return tok;
}

ClipTokenizer ClipTokenizer::FromOpenAiBpe(const std::string& bpe_gz_path) {
  std::vector<std::string> lines;
  {
    // split('\n') as OpenAI does, keeping empty lines so the line numbers agree
    std::string text = GunzipFile(bpe_gz_path);
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
  }
  constexpr size_t kLastLine = 49152 - 256 - 2;  // OpenAI keeps lines 1 .. 48894: 49408 tokens in all
  NE_CHECK(lines.size() > kLastLine, bpe_gz_path, ": has ", lines.size(), " lines, expected more than ", kLastLine);
  std::vector<std::pair<std::string, std::string>> merges;
  for (size_t i = 1; i <= kLastLine; ++i) merges.push_back(ParseMerge(lines[i], bpe_gz_path, i + 1));
  return FromMerges(merges);
}

ClipTokenizer ClipTokenizer::FromHfFiles(const std::string& vocab_json, const std::string& merges_txt) {
  ClipTokenizer tok;
  Json vocab = ReadJsonFile(vocab_json);
  NE_CHECK(vocab.is_object(), vocab_json, ": expected a JSON object {token: id}");
  tok.id_to_token_.assign(vocab.size(), std::string());
  std::vector<bool> seen(vocab.size(), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    NE_CHECK(it.value().is_number_integer(), vocab_json, ": id of \"", it.key(), "\" is not an integer");
    int64_t id = it.value().get<int64_t>();
    NE_CHECK(id >= 0 && id < static_cast<int64_t>(vocab.size()) && !seen[id], vocab_json, ": token \"", it.key(),
             "\" has id ", id, ", but ids must be 0 .. ", vocab.size() - 1, " without repeats");
    seen[id] = true;
    tok.id_to_token_[id] = it.key();
    tok.token_to_id_[it.key()] = id;
  }
  std::vector<std::string> lines = SplitLines(ReadTextFile(merges_txt));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!lines[i].empty() && lines[i].back() == '\r') lines[i].pop_back();
    if (lines[i].empty() || (i == 0 && lines[i].rfind("#version", 0) == 0)) continue;
    tok.merges_.push_back(ParseMerge(lines[i], merges_txt, i + 1));
  }
  tok.Finalize(vocab_json);
  return tok;
}

void ClipTokenizer::Finalize(const std::string& source) {
  merge_rank_.clear();
  for (size_t i = 0; i < merges_.size(); ++i)
    merge_rank_.emplace(merges_[i].first + " " + merges_[i].second, static_cast<int64_t>(i));
  auto start = token_to_id_.find("<|startoftext|>");
  auto end = token_to_id_.find("<|endoftext|>");
  NE_CHECK(start != token_to_id_.end() && end != token_to_id_.end(), source,
           ": the vocabulary lacks <|startoftext|> or <|endoftext|>");
  start_token_ = start->second;
  end_token_ = end->second;
}

std::vector<std::string> ClipTokenizer::Bpe(const std::string& word) const {
  std::vector<std::string> symbols;
  for (char32_t c : DecodeUtf8(word)) {
    symbols.emplace_back();
    AppendUtf8(c, &symbols.back());
  }
  if (symbols.empty()) return symbols;
  symbols.back() += "</w>";
  while (symbols.size() > 1) {
    int64_t best_rank = INT64_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank_.find(symbols[i] + " " + symbols[i + 1]);
      if (it != merge_rank_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == INT64_MAX) break;
    const std::string first = symbols[best], second = symbols[best + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(symbols[i++]);
      }
    }
    symbols.swap(merged);
  }
  return symbols;
}

std::vector<int64_t> ClipTokenizer::Encode(const std::string& text) const {
  std::vector<int64_t> ids;
  const auto& byte_symbol = ByteToSymbol();
  for (const std::string& piece : PreTokenize(CleanCodepoints(text))) {
    if (piece == "<|startoftext|>" || piece == "<|endoftext|>") {
      ids.push_back(piece[2] == 's' ? start_token_ : end_token_);
      continue;
    }
    std::string mapped;
    for (unsigned char b : piece) mapped += byte_symbol[b];
    for (const std::string& sym : Bpe(mapped)) {
      auto it = token_to_id_.find(sym);
      NE_CHECK(it != token_to_id_.end(), "CLIP tokenizer: BPE symbol \"", sym, "\" of \"", piece,
               "\" is not in the vocabulary");
      ids.push_back(it->second);
    }
  }
  return ids;
}

at::Tensor ClipTokenizer::Tokenize(const std::vector<std::string>& texts, int64_t context_length,
                                   bool truncate) const {
  NE_CHECK(context_length >= 2, "CLIP tokenizer: context_length is ", context_length, ", expected >= 2");
  at::Tensor out = torch::zeros({static_cast<int64_t>(texts.size()), context_length}, torch::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (size_t b = 0; b < texts.size(); ++b) {
    std::vector<int64_t> ids = {start_token_};
    for (int64_t id : Encode(texts[b])) ids.push_back(id);
    ids.push_back(end_token_);
    if (static_cast<int64_t>(ids.size()) > context_length) {
      NE_CHECK(truncate, "CLIP tokenizer: text ", b, " has ", ids.size(), " tokens, more than the context length ",
               context_length, " (\"", texts[b].substr(0, 60), "...\")");
      ids.resize(context_length);
      ids.back() = end_token_;
    }
    for (size_t i = 0; i < ids.size(); ++i) acc[b][i] = ids[i];
  }
  return out;
}

std::string ClipTokenizer::Decode(const std::vector<int64_t>& ids) const {
  static const std::unordered_map<char32_t, unsigned char> symbol_to_byte = [] {
    std::unordered_map<char32_t, unsigned char> m;
    const auto& t = ByteToSymbol();
    for (int b = 0; b < 256; ++b) m[DecodeUtf8(t[b])[0]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string text;
  for (int64_t id : ids) {
    NE_CHECK(id >= 0 && id < vocab_size(), "CLIP tokenizer: id ", id, " outside 0 .. ", vocab_size() - 1);
    text += id_to_token_[id];
  }
  std::string bytes;
  Codepoints cps = DecodeUtf8(text);
  for (size_t i = 0; i < cps.size(); ++i) {
    if (StartsWithAscii(cps, i, "</w>")) {
      bytes.push_back(' ');
      i += 3;
    } else if (StartsWithAscii(cps, i, "<|startoftext|>") || StartsWithAscii(cps, i, "<|endoftext|>")) {
      size_t n = cps[i + 2] == 's' ? 15 : 13;
      bytes += EncodeUtf8(cps, i, i + n);
      i += n - 1;
    } else {
      auto it = symbol_to_byte.find(cps[i]);
      if (it != symbol_to_byte.end()) bytes.push_back(static_cast<char>(it->second));
      else AppendUtf8(cps[i], &bytes);
    }
  }
  return EncodeUtf8(DecodeUtf8(bytes));  // invalid sequences -> U+FFFD, as errors="replace"
}

void ClipTokenizer::SaveHfFiles(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  Json vocab = Json::object();
  for (size_t i = 0; i < id_to_token_.size(); ++i) vocab[id_to_token_[i]] = i;
  WriteTextAtomically(dir + "/vocab.json", vocab.dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : merges_) merges += a + " " + b + "\n";
  WriteTextAtomically(dir + "/merges.txt", merges);
}

}  // namespace nerfedit
