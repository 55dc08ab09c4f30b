#include "gatedlm/data/tokenizer_files.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "gatedlm/core/error.h"
#include "gatedlm/data/sentencepiece_tokenizer.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// GPT-2's bytes_to_unicode, inverted: vocabulary files spell byte b as a printable code point
// (b itself for printable Latin-1, else 256 + k). Code points < 324; -1 = not a byte.
const std::array<int, 324>& unicode_to_byte() {
  static const std::array<int, 324> table = [] {
    std::array<int, 324> t;
    t.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      t[printable ? b : 256 + extra++] = b;
    }
    return t;
  }();
  return table;
}

// Decodes one UTF-8 code point at s[i]; returns its length, 0 when invalid.
int utf8_next(std::string_view s, size_t i, uint32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  cp = len == 1 ? c : c & (0x3F >> (len - 1));
  for (int k = 1; k < len; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  return len;
}

// Byte-level spelling -> raw bytes; false when a character is not a byte-level one, with `why`
// naming it (or the byte that is not UTF-8 at all).
bool byte_level_to_bytes(std::string_view s, std::string& out, std::string& why) {
  out.clear();
  const auto& table = unicode_to_byte();
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const int n = utf8_next(s, i, cp);
    if (n == 0 || cp >= table.size() || table[cp] < 0) {
      why = n == 0
                ? fmt::format("byte 0x{:02X} is not valid UTF-8", static_cast<unsigned char>(s[i]))
                : fmt::format("U+{:04X} is not a byte-level character", cp);
      return false;
    }
    out.push_back(static_cast<char>(table[cp]));
    i += static_cast<size_t>(n);
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// encoder.json / vocab.json: {"token": id, ...}. A hand parser, so errors carry byte offsets.
class FlatJsonParser {
 public:
  FlatJsonParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw InputError(fmt::format("{}: offset {}: expected {}", name_, at, what));
  }
  void ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool eat(char c) {
    ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!eat(c)) fail(pos_, what);
  }
  uint32_t hex4() {
    if (pos_ + 4 > s_.size()) fail(pos_, "4 hex digits after \\u");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_++];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) fail(pos_ - 1, "a hex digit in a \\u escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }
  std::string string() {
    expect('"', "'\"' starting a string");
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail(pos_, "'\"' closing the string, found the end of the file");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail(pos_, "no control character in a string");
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      if (++pos_ >= s_.size()) fail(pos_, "an escape after '\\'");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          const size_t at = pos_ - 2;
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (s_.substr(pos_, 2) != "\\u") fail(at, "a low surrogate after a high one");
            pos_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail(at, "a low surrogate after a high one");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail(at, "no lone low surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail(pos_ - 1, "one of \"\\/bfnrtu after '\\'");
      }
    }
  }
  int32_t id() {
    ws();
    const size_t at = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      v = v * 10 + (s_[pos_++] - '0');
      if (v > INT32_MAX) fail(at, "a token id below 2^31");
    }
    if (pos_ == at) fail(at, "a non-negative integer token id");
    return static_cast<int32_t>(v);
  }

  std::vector<std::pair<std::string, int32_t>> parse() {
    std::vector<std::pair<std::string, int32_t>> tokens;
    std::unordered_set<std::string> seen;
    std::unordered_set<int32_t> ids;
    expect('{', "'{' (a JSON object of token -> id)");
    if (!eat('}')) {
      do {
        ws();
        const size_t at = pos_;
        std::string key = string();
        std::string bytes;
        std::string why;
        if (!byte_level_to_bytes(key, bytes, why)) fail(at, "a byte-level token, " + why);
        expect(':', "':' after the token");
        ws();
        const size_t id_at = pos_;
        const int32_t v = id();
        if (!seen.insert(bytes).second) fail(at, "each token once, this one is repeated");
        if (!ids.insert(v).second) fail(id_at, fmt::format("a unique id, {} is used twice", v));
        tokens.emplace_back(std::move(bytes), v);
      } while (eat(','));
      expect('}', "',' or '}'");
    }
    ws();
    if (pos_ != s_.size()) fail(pos_, "the end of the file after the object");
    return tokens;
  }

 private:
  std::string_view s_;
  const std::string& name_;
  size_t pos_ = 0;
};

// Resolves merges given as byte-level strings to token ids; `where` names the merge for errors.
class MergeResolver {
 public:
  explicit MergeResolver(const std::vector<std::pair<std::string, int32_t>>& tokens) {
    ids_.reserve(tokens.size());
    for (const auto& [bytes, id] : tokens) ids_.emplace(bytes, id);
  }
  BpeModel::Merge resolve(std::string_view left, std::string_view right,
                          const std::string& where) const {
    const int32_t l = lookup(left, where), r = lookup(right, where);
    std::string joined, a, b;
    std::string why;  // lookup() above has checked both
    byte_level_to_bytes(left, a, why);
    byte_level_to_bytes(right, b, why);
    joined = a + b;
    const auto it = ids_.find(joined);
    if (it == ids_.end()) {
      throw InputError(fmt::format("{}: expected the merged token \"{}{}\" in the vocabulary",
                                   where, left, right));
    }
    return {l, r, it->second};
  }

 private:
  int32_t lookup(std::string_view tok, const std::string& where) const {
    std::string bytes;
    std::string why;
    if (!byte_level_to_bytes(tok, bytes, why))
      throw InputError(fmt::format("{}: expected byte-level tokens, {}", where, why));
    const auto it = ids_.find(bytes);
    if (it == ids_.end()) {
      throw InputError(fmt::format("{}: expected \"{}\" in the vocabulary", where, tok));
    }
    return it->second;
  }
  std::unordered_map<std::string, int32_t> ids_;
};

int32_t find_token(const BpeModel& m, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    for (const auto& a : m.added) {
      if (a.content == name) return a.id;
    }
    for (const auto& [bytes, id] : m.tokens) {
      if (bytes == name) return id;
    }
  }
  return -1;
}

void set_special_ids(BpeModel& m) {
  m.eos_id = find_token(m, {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"});
  m.bos_id = find_token(m, {"<|begin_of_text|>", "<s>", "<bos>"});
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw InputError(fmt::format("{}: expected a tokenizer file, found a directory", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(
        fmt::format("{}: expected a readable tokenizer file ({})", path, std::strerror(errno)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw RuntimeFailure(fmt::format("{}: read failed", path));
  return text;
}

// "FILE: at /a/b: expected ..." for tokenizer.json's structure.
[[noreturn]] void json_fail(const std::string& name, const std::string& where,
                            const std::string& what) {
  throw InputError(fmt::format("{}: at {}: expected {}", name, where, what));
}

const json& member(const json& obj, const char* key, const std::string& name,
                   const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) {
    json_fail(name, where, fmt::format("an object with a \"{}\" member", key));
  }
  return obj.at(key);
}

std::string str_or(const json& obj, const char* key, const std::string& fallback) {
  if (!obj.is_object() || !obj.contains(key) || !obj.at(key).is_string()) return fallback;
  return obj.at(key).get<std::string>();
}

void check_normalizer(const json& n, const std::string& name, const std::string& where,
                      BpeModel& m) {
  if (n.is_null()) return;
  const std::string type = str_or(n, "type", "");
  if (type == "NFC") {
    m.nfc = true;
  } else if (type == "Sequence") {
    const json& list = member(n, "normalizers", name, where);
    if (!list.is_array()) json_fail(name, where + "/normalizers", "an array");
    for (size_t i = 0; i < list.size(); ++i) {
      check_normalizer(list[i], name, fmt::format("{}/normalizers/{}", where, i), m);
    }
  } else {
    json_fail(name, where + "/type",
              fmt::format("normalizer \"NFC\" or \"Sequence\" (or null), found \"{}\"", type));
  }
}

void check_byte_level(const json& p, const std::string& name, const std::string& where,
                      bool regex_given, BpeModel& m) {
  if (p.value("add_prefix_space", false)) {
    json_fail(name, where + "/add_prefix_space", "false (a prefix space is not supported)");
  }
  const bool use_regex = p.value("use_regex", true);
  if (use_regex && regex_given) {
    json_fail(name, where + "/use_regex", "false after a Split pre-tokenizer");
  }
  if (use_regex) m.pattern = kGpt2Pattern;
}

void check_pre_tokenizer(const json& p, const std::string& name, BpeModel& m) {
  const std::string where = "/pre_tokenizer";
  const std::string type = str_or(p, "type", "");
  if (type == "ByteLevel") {
    check_byte_level(p, name, where, false, m);
    return;
  }
  if (type != "Sequence") {
    json_fail(
        name, where + "/type",
        fmt::format("\"ByteLevel\" or \"Sequence\", found \"{}\"", type.empty() ? p.dump() : type));
  }
  const json& list = member(p, "pretokenizers", name, where);
  const std::string lw = where + "/pretokenizers";
  if (!list.is_array() || list.size() != 2) {
    json_fail(name, lw, "[Split, ByteLevel] (two pre-tokenizers)");
  }
  const json& split = list[0];
  if (str_or(split, "type", "") != "Split") json_fail(name, lw + "/0/type", "\"Split\"");
  const json& pattern = member(split, "pattern", name, lw + "/0");
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
    json_fail(name, lw + "/0/pattern", "{\"Regex\": \"...\"}");
  }
  if (str_or(split, "behavior", "Isolated") != "Isolated") {
    json_fail(name, lw + "/0/behavior", "\"Isolated\"");
  }
  if (split.value("invert", false)) json_fail(name, lw + "/0/invert", "false");
  m.pattern = pattern["Regex"].get<std::string>();
  if (str_or(list[1], "type", "") != "ByteLevel") json_fail(name, lw + "/1/type", "\"ByteLevel\"");
  check_byte_level(list[1], name, lw + "/1", true, m);
}

}  // namespace

BpeModel parse_bpe_vocab_merges(std::string_view vocab_json, const std::string& vocab_name,
                                std::string_view merges_txt, const std::string& merges_name) {
  BpeModel m;
  m.source = vocab_name;
  m.tokens = FlatJsonParser(vocab_json, vocab_name).parse();
  const MergeResolver resolver(m.tokens);
  size_t line_no = 0;
  for (size_t pos = 0; pos < merges_txt.size();) {
    size_t end = merges_txt.find('\n', pos);
    if (end == std::string_view::npos) end = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::string where = fmt::format("{}: line {}", merges_name, line_no);
    const size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string_view::npos || sp + 1 == line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos) {
      throw InputError(where + ": expected two tokens separated by one space");
    }
    m.merges.push_back(resolver.resolve(line.substr(0, sp), line.substr(sp + 1), where));
  }
  set_special_ids(m);
  return m;
}

BpeModel parse_hf_tokenizer_json(std::string_view text, const std::string& name) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann's byte is 1-based and points just past the offending character.
    throw InputError(fmt::format("{}: offset {}: expected valid JSON ({})", name,
                                 e.byte > 0 ? e.byte - 1 : 0, e.what()));
  } catch (const json::out_of_range& e) {  // a number too large for a double (1e999)
    throw InputError(fmt::format("{}: expected valid JSON ({})", name, e.what()));
  }
  BpeModel m;
  m.source = name;
  const json& model = member(root, "model", name, "");
  const std::string type = str_or(model, "type", "");
  if (type != "BPE") {
    json_fail(name, "/model/type", fmt::format("\"BPE\", found \"{}\"", type));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && model[key] != "") {
      json_fail(name, fmt::format("/model/{}", key), "null or \"\" (byte-level BPE)");
    }
  }
  m.ignore_merges = model.value("ignore_merges", false);

  const json& vocab = member(model, "vocab", name, "/model");
  if (!vocab.is_object()) json_fail(name, "/model/vocab", "an object of token -> id");
  std::unordered_set<int32_t> ids;
  m.tokens.reserve(vocab.size());
  for (const auto& [key, value] : vocab.items()) {
    const std::string where = "/model/vocab/" + key;
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() > INT32_MAX) {
      json_fail(name, where, "a non-negative integer id below 2^31");
    }
    std::string bytes;
    std::string why;
    if (!byte_level_to_bytes(key, bytes, why)) json_fail(name, where, "a byte-level token, " + why);
    const auto id = value.get<int32_t>();
    if (!ids.insert(id).second) json_fail(name, where, fmt::format("a unique id, {} repeats", id));
    m.tokens.emplace_back(std::move(bytes), id);
  }

  const json& merges = member(model, "merges", name, "/model");
  if (!merges.is_array()) json_fail(name, "/model/merges", "an array");
  const MergeResolver resolver(m.tokens);
  m.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    const std::string where = fmt::format("{}: at /model/merges/{}", name, i);
    if (e.is_string()) {  // older files: "left right"
      const auto& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == 0 || sp == std::string::npos || sp + 1 == s.size() ||
          s.find(' ', sp + 1) != std::string::npos) {
        throw InputError(where + ": expected two tokens separated by one space");
      }
      m.merges.push_back(resolver.resolve(std::string_view(s).substr(0, sp),
                                          std::string_view(s).substr(sp + 1), where));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      m.merges.push_back(resolver.resolve(e[0].get_ref<const std::string&>(),
                                          e[1].get_ref<const std::string&>(), where));
    } else {
      throw InputError(where + ": expected \"left right\" or [\"left\", \"right\"]");
    }
  }

  if (root.contains("normalizer")) check_normalizer(root["normalizer"], name, "/normalizer", m);
  const json& pre = member(root, "pre_tokenizer", name, "");
  check_pre_tokenizer(pre, name, m);

  if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
    const json& added = root["added_tokens"];
    if (!added.is_array()) json_fail(name, "/added_tokens", "an array");
    std::unordered_map<int32_t, std::string_view> vocab_by_id;
    for (const auto& [bytes, id] : m.tokens) vocab_by_id.emplace(id, bytes);
    std::unordered_set<int32_t> added_ids;
    for (size_t i = 0; i < added.size(); ++i) {
      const json& a = added[i];
      const std::string where = fmt::format("/added_tokens/{}", i);
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() > INT32_MAX ||
          !a.contains("content") || !a["content"].is_string() ||
          a["content"].get_ref<const std::string&>().empty()) {
        json_fail(name, where, "{\"id\": non-negative integer, \"content\": non-empty string}");
      }
      std::string content = a["content"].get<std::string>();
      const auto id = a["id"].get<int32_t>();
      // An added token may repeat its own vocab entry (GPT-2's <|endoftext|>) but not take
      // another token's id: decoding that id could not give back both.
      if (const auto same = vocab_by_id.find(id);
          same != vocab_by_id.end() && same->second != content) {
        json_fail(name, where + "/id",
                  fmt::format("an id no other vocab token has, {} is taken", id));
      }
      if (!added_ids.insert(id).second)
        json_fail(name, where + "/id", fmt::format("a unique id, {} repeats", id));
      m.added.push_back({std::move(content), id});
    }
  }
  set_special_ids(m);
  return m;
}

std::string byte_level_spelling(unsigned char byte) {
  const auto& table = unicode_to_byte();
  for (uint32_t cp = 0; cp < table.size(); ++cp) {
    if (table[cp] != byte) continue;
    std::string out;
    append_utf8(out, cp);
    return out;
  }
  throw std::logic_error("byte_level_spelling: every byte has a spelling");
}

std::string byte_tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_spelling(static_cast<unsigned char>(b))] = b;
  const json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", false},
                           {"use_regex", false}};
  const json out = {{"version", "1.0"},
                    {"truncation", nullptr},
                    {"padding", nullptr},
                    {"added_tokens", json::array()},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", byte_level},
                    {"post_processor", nullptr},
                    {"decoder", byte_level},
                    {"model",
                     {{"type", "BPE"},
                      {"dropout", nullptr},
                      {"unk_token", nullptr},
                      {"continuing_subword_prefix", nullptr},
                      {"end_of_word_suffix", nullptr},
                      {"fuse_unk", false},
                      {"byte_fallback", false},
                      {"ignore_merges", false},
                      {"vocab", vocab},
                      {"merges", json::array()}}}};
  return out.dump(1) + "\n";
}

TokenizerFiles find_tokenizer_files(const std::string& spec) {
  if (spec == "bytes") return {TokenizerFiles::Kind::bytes, {}};
  std::error_code ec;
  const fs::path p(spec);
  auto exists = [&](const fs::path& f) { return fs::is_regular_file(f, ec); };
  using Kind = TokenizerFiles::Kind;
  if (fs::is_directory(p, ec)) {
    if (exists(p / "tokenizer.json")) return {Kind::hf_json, {(p / "tokenizer.json").string()}};
    if (exists(p / "encoder.json") && exists(p / "vocab.bpe"))
      return {Kind::bpe_pair, {(p / "encoder.json").string(), (p / "vocab.bpe").string()}};
    if (exists(p / "vocab.json") && exists(p / "merges.txt"))
      return {Kind::bpe_pair, {(p / "vocab.json").string(), (p / "merges.txt").string()}};
    for (const char* sp : {"tokenizer.model", "spm.model"})
      if (exists(p / sp)) return {Kind::sentencepiece, {(p / sp).string()}};
    throw InputError(fmt::format(
        "{}: expected a directory holding tokenizer.json, encoder.json + vocab.bpe, vocab.json + "
        "merges.txt, or tokenizer.model",
        spec));
  }
  if (!fs::exists(p, ec)) {
    throw InputError(fmt::format(
        "{}: expected 'bytes', a tokenizer file or a directory (no such file or directory)", spec));
  }
  const std::string file = p.filename().string();
  if (file == "encoder.json" || file == "vocab.json") {
    for (const char* merges : {"vocab.bpe", "merges.txt"}) {
      if (exists(p.parent_path() / merges))
        return {Kind::bpe_pair, {spec, (p.parent_path() / merges).string()}};
    }
    throw InputError(
        fmt::format("{}: expected vocab.bpe or merges.txt in the same directory", spec));
  }
  if (p.extension() == ".model") return {Kind::sentencepiece, {spec}};
  if (p.extension() == ".json") return {Kind::hf_json, {spec}};
  throw InputError(fmt::format(
      "{}: expected 'bytes', tokenizer.json, encoder.json, vocab.json or a directory", spec));
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec) {
  const TokenizerFiles files = find_tokenizer_files(spec);
  switch (files.kind) {
    case TokenizerFiles::Kind::bytes:
      return std::make_unique<ByteTokenizer>();
    case TokenizerFiles::Kind::sentencepiece:
      return std::make_unique<SentencePieceTokenizer>(files.paths[0]);
    case TokenizerFiles::Kind::hf_json: {
      BpeModel m = parse_hf_tokenizer_json(read_file(files.paths[0]), files.paths[0]);
      m.name = "bpe:" + spec;
      return std::make_unique<BpeTokenizer>(std::move(m));
    }
    case TokenizerFiles::Kind::bpe_pair: {
      BpeModel m = parse_bpe_vocab_merges(read_file(files.paths[0]), files.paths[0],
                                          read_file(files.paths[1]), files.paths[1]);
      m.name = "bpe:" + spec;
      return std::make_unique<BpeTokenizer>(std::move(m));
    }
  }
  throw std::logic_error("load_tokenizer: unknown tokenizer kind");
}

}  // namespace gatedlm
