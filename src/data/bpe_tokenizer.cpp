#include "gatedlm/data/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <queue>
#include <stdexcept>

#include "gatedlm/core/error.h"

namespace gatedlm {

struct BpeTokenizer::Pcre {
  pcre2_code* code = nullptr;
  ~Pcre() { pcre2_code_free(code); }
};

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// NFC of each valid UTF-8 run; invalid bytes are copied as they are (utf8proc rejects them).
std::string nfc(std::string_view s) {
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; })) {
    return std::string(s);
  }
  std::string out;
  out.reserve(s.size());
  auto flush = [&](size_t begin, size_t end) {
    if (begin == end) return;
    utf8proc_uint8_t* mapped = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + begin),
                                static_cast<utf8proc_ssize_t>(end - begin), &mapped,
                                static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) {
      out.append(s.substr(begin, end - begin));
    } else {
      out.append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    }
    std::free(mapped);
  };
  size_t run = 0, i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n > 0) {
      i += static_cast<size_t>(n);
      continue;
    }
    flush(run, i);
    out.push_back(s[i]);
    run = ++i;
  }
  flush(run, s.size());
  return out;
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeModel model)
    : added_(std::move(model.added)),
      re_(std::make_unique<Pcre>()),
      nfc_(model.nfc),
      ignore_merges_(model.ignore_merges),
      eos_id_(model.eos_id),
      bos_id_(model.bos_id),
      name_(std::move(model.name)) {
  int32_t max_id = -1;
  for (const auto& [bytes, id] : model.tokens) max_id = std::max(max_id, id);
  for (const auto& a : added_) max_id = std::max(max_id, a.id);
  // Ids index a table: a stray huge id must be an error, not a multi-gigabyte allocation.
  const int64_t count = static_cast<int64_t>(model.tokens.size() + added_.size());
  if (max_id >= 2 * count + 65536) {
    throw InputError(
        fmt::format("{}: expected token ids close to 0..{} (a dense vocabulary), "
                    "found id {}",
                    model.source, count - 1, max_id));
  }
  id_to_bytes_.resize(static_cast<size_t>(max_id + 1));
  id_present_.resize(id_to_bytes_.size());
  std::fill(std::begin(byte_id_), std::end(byte_id_), -1);
  bytes_to_id_.reserve(model.tokens.size());
  for (auto& [bytes, id] : model.tokens) {
    if (bytes.size() == 1) byte_id_[static_cast<unsigned char>(bytes[0])] = id;
    bytes_to_id_.emplace(bytes, id);
    id_present_[id] = true;
    id_to_bytes_[id] = std::move(bytes);
  }
  for (int b = 0; b < 256; ++b) {
    if (byte_id_[b] < 0) {
      throw InputError(
          fmt::format("{}: expected a vocabulary entry for every byte, byte 0x{:02x} "
                      "has none",
                      model.source, b));
    }
  }
  added_by_first_byte_.resize(256);
  for (size_t i = 0; i < added_.size(); ++i) {
    const auto& a = added_[i];
    id_present_[a.id] = true;
    id_to_bytes_[a.id] = a.content;
    bytes_to_id_.emplace(a.content, a.id);
    if (!a.content.empty()) {
      added_by_first_byte_[static_cast<unsigned char>(a.content[0])].push_back(
          static_cast<int32_t>(i));
    }
  }
  // Longest first, so "<|im_start|>" wins over a prefix of it (HF matches leftmost-longest).
  for (auto& list : added_by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [&](int32_t x, int32_t y) {
      return added_[x].content.size() > added_[y].content.size();
    });
  }
  merge_rank_.reserve(model.merges.size());
  for (size_t r = 0; r < model.merges.size(); ++r) {
    const auto& m = model.merges[r];
    // A repeated pair keeps its first (lowest) rank, as the reference encoders do.
    merge_rank_.emplace(pair_key(m.left, m.right),
                        std::make_pair(static_cast<int32_t>(r), m.result));
  }

  int err = 0;
  PCRE2_SIZE err_offset = 0;
  // MATCH_INVALID_UTF: invalid UTF-8 must not abort encoding; such bytes just never match.
  re_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(model.pattern.data()), model.pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset, nullptr);
  if (!re_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw InputError(fmt::format("{}: pre-tokenizer pattern offset {}: expected a valid regex ({})",
                                 model.source, err_offset, reinterpret_cast<const char*>(msg)));
  }
  pcre2_jit_compile(re_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
}

BpeTokenizer::~BpeTokenizer() = default;

int32_t BpeTokenizer::token_id(std::string_view bytes) const {
  const auto it = bytes_to_id_.find(std::string(bytes));
  return it == bytes_to_id_.end() ? -1 : it->second;
}

// Merges the lowest-ranked adjacent pair first, the leftmost among equal ranks (the order of
// the reference encoders). A heap keeps long pieces (runs of spaces, digits) O(n log n).
void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    if (const auto it = bytes_to_id_.find(std::string(piece)); it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const int n = static_cast<int>(piece.size());
  struct Sym {
    int32_t id, prev, next;
    bool alive;
  };
  std::vector<Sym> sym(n);
  for (int i = 0; i < n; ++i) {
    sym[i] = {byte_id_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
  }
  struct Cand {
    int32_t rank, left, right, left_id, right_id, result;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const auto it = merge_rank_.find(pair_key(sym[l].id, sym[r].id));
    if (it != merge_rank_.end()) {
      heap.push({it->second.first, l, r, sym[l].id, sym[r].id, it->second.second});
    }
  };
  for (int i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.left];
    Sym& r = sym[c.right];
    // Stale: one side was merged away or changed since the candidate was pushed.
    if (!l.alive || !r.alive || l.next != c.right || l.id != c.left_id || r.id != c.right_id) {
      continue;
    }
    l.id = c.result;
    l.next = r.next;
    r.alive = false;
    if (r.next >= 0) sym[r.next].prev = c.left;
    push(l.prev, c.left);
    push(c.left, l.next);
  }
  for (int i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

void BpeTokenizer::encode_plain(
    std::string_view text, std::vector<int32_t>& out,
    std::unordered_map<std::string, std::vector<int32_t>>& cache) const {
  std::string normalized;
  if (nfc_) {
    normalized = nfc(text);
    text = normalized;
  }
  auto piece = [&](size_t begin, size_t end) {
    if (begin >= end) return;
    const std::string_view p = text.substr(begin, end - begin);
    if (p.size() == 1) {
      out.push_back(byte_id_[static_cast<unsigned char>(p[0])]);
      return;
    }
    // Prose repeats its words, so most pieces are merged once per call.
    auto [it, fresh] = cache.try_emplace(std::string(p));
    if (fresh) encode_piece(p, it->second);
    out.insert(out.end(), it->second.begin(), it->second.end());
  };
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re_->code, nullptr);
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, done = 0;  // pos: where the search resumes; done: end of the last piece
  while (pos < text.size()) {
    const int rc = pcre2_match(re_->code, subject, text.size(), pos, 0, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw RuntimeFailure(fmt::format("{}: pre-tokenizer failed at byte {}: {}", name_, pos,
                                       reinterpret_cast<const char*>(msg)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    if (ov[1] == ov[0]) {  // an empty match (a user pattern may allow one): step past it
      pos = ov[0] + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    piece(done, ov[0]);  // the unmatched gap (invalid UTF-8, or what a Split pattern skips)
    piece(ov[0], ov[1]);
    done = pos = ov[1];
  }
  pcre2_match_data_free(md);
  piece(done, text.size());
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3);
  std::unordered_map<std::string, std::vector<int32_t>> cache;
  if (added_.empty()) {
    encode_plain(text, out, cache);
    return out;
  }
  size_t begin = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t hit = -1;
    for (const int32_t k : added_by_first_byte_[static_cast<unsigned char>(text[i])]) {
      if (text.substr(i).starts_with(added_[k].content)) {
        hit = k;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    encode_plain(text.substr(begin, i - begin), out, cache);
    out.push_back(added_[hit].id);
    i += added_[hit].content.size();
    begin = i;
  }
  encode_plain(text.substr(begin), out, cache);
  return out;
}

std::string BpeTokenizer::decode(std::span<const int32_t> tokens) const {
  std::string out;
  for (const int32_t t : tokens) {
    if (t < 0 || t >= static_cast<int32_t>(id_to_bytes_.size()) || !id_present_[t]) {
      throw std::out_of_range(fmt::format("{}: token {} is not in the vocabulary", name_, t));
    }
    out += id_to_bytes_[t];
  }
  return out;
}

}  // namespace gatedlm
