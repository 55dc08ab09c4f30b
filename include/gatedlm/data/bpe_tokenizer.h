// Byte-level BPE, the scheme of GPT-2, Qwen2/Qwen3 and Llama 3. Text is split by added tokens,
// NFC-normalised when the tokenizer asks for it, cut into pieces by a PCRE2 pre-tokenizer regex,
// and each piece's bytes are merged by rank. The loaders (tokenizer_files.h) turn files into a
// BpeModel; this class trusts it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gatedlm/data/tokenizer.h"

namespace gatedlm {

// GPT-2's pre-tokenizer; tokenizer.json files may give their own (Qwen's, Llama 3's).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct BpeModel {
  struct Merge {
    int32_t left, right, result;  // token ids; the rank is the position in `merges`
  };
  struct AddedToken {
    std::string content;  // UTF-8, matched verbatim in the text before anything else
    int32_t id = -1;
  };
  // (raw bytes, id): byte-level characters are already mapped back to bytes. All 256 single
  // bytes must be present so that any input can be encoded.
  std::vector<std::pair<std::string, int32_t>> tokens;
  std::vector<Merge> merges;  // in rank order
  std::vector<AddedToken> added;
  std::string pattern = kGpt2Pattern;  // PCRE2 syntax
  bool nfc = false;
  bool ignore_merges = false;  // a piece that is a whole vocabulary entry skips merging
  int32_t eos_id = -1, bos_id = -1;
  std::string name = "bpe";
  std::string source;  // file it came from, for error messages
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Compiles the pattern (an invalid one is an InputError naming model.source).
  explicit BpeTokenizer(BpeModel model);
  ~BpeTokenizer() override;
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  // Thread-safe. Invalid UTF-8 is never rejected: the regex cannot match an invalid sequence,
  // so those bytes become pieces of their own and are encoded as byte tokens; they are left out
  // of NFC. decode(encode(s)) == s for every byte string s, except that NFC tokenizers return
  // the NFC form of the valid UTF-8 runs.
  std::vector<int32_t> encode(std::string_view text) const override;
  // An id outside the vocabulary is std::out_of_range. Returns raw bytes (may be invalid UTF-8
  // when a token sequence splits a character).
  std::string decode(std::span<const int32_t> tokens) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_bytes_.size()); }
  int32_t eos_id() const override { return eos_id_; }
  int32_t bos_id() const { return bos_id_; }
  std::string name() const override { return name_; }
  // The id of a vocabulary entry or added token given as raw bytes, or -1.
  int32_t token_id(std::string_view bytes) const;
  size_t merge_count() const { return merge_rank_.size(); }

 private:
  struct Pcre;
  void encode_plain(std::string_view text, std::vector<int32_t>& out,
                    std::unordered_map<std::string, std::vector<int32_t>>& cache) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

  std::vector<std::string> id_to_bytes_;
  std::vector<bool> id_present_;
  std::unordered_map<std::string, int32_t> bytes_to_id_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merge_rank_;  // pair -> rank, result
  int32_t byte_id_[256] = {};
  std::vector<BpeModel::AddedToken> added_;
  std::vector<std::vector<int32_t>> added_by_first_byte_;  // indices into added_, longest first
  std::unique_ptr<Pcre> re_;
  bool nfc_ = false, ignore_merges_ = false;
  int32_t eos_id_ = -1, bos_id_ = -1;
  std::string name_;
};

}  // namespace gatedlm
