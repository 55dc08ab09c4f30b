// Tokenizer files -> tokenizers. Each format has its own small parser that works on text in
// memory, so it can be fuzzed without touching the file system. Every defect is an InputError
// (exit 2), one line: "FILE: offset N: expected ...", "FILE: line N: expected ..." or, for
// tokenizer.json's structure, "FILE: at /json/pointer: expected ...".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatedlm/data/bpe_tokenizer.h"
#include "gatedlm/data/tokenizer.h"

namespace gatedlm {

// GPT-2 style: encoder.json / vocab.json (a flat JSON object, byte-level token -> id) plus
// vocab.bpe / merges.txt (an optional "#version" line, then one "left right" merge per line).
// EOS is "<|endoftext|>" when the vocabulary has it. No added tokens are matched in text.
BpeModel parse_bpe_vocab_merges(std::string_view vocab_json, const std::string& vocab_name,
                                std::string_view merges_txt, const std::string& merges_name);

// Hugging Face tokenizer.json with model.type "BPE": a ByteLevel pre-tokenizer (alone, using
// GPT-2's regex, or after one Split with a Regex pattern), an optional NFC normalizer, and
// added_tokens (all matched in the text before BPE). EOS/BOS come from well-known added token
// names (<|endoftext|>, <|end_of_text|>, </s>; <|begin_of_text|>, <s>).
BpeModel parse_hf_tokenizer_json(std::string_view json, const std::string& name);

// GPT-2's bytes_to_unicode: how byte-level vocabularies spell `byte` (UTF-8).
std::string byte_level_spelling(unsigned char byte);
// The byte tokenizer ("bytes": id = byte) as a Hugging Face tokenizer.json: byte-level BPE whose
// vocabulary is the 256 bytes and which has no merges, so tokenizers and transformers read it.
std::string byte_tokenizer_json();

// The files a tokenizer spec names (below), resolved as load_tokenizer resolves them: what an
// export copies beside the model. InputError as load_tokenizer for a spec that names none.
struct TokenizerFiles {
  enum class Kind { bytes, hf_json, bpe_pair, sentencepiece } kind;
  std::vector<std::string> paths;  // hf_json, sentencepiece: the file; bpe_pair: vocab, merges
};
TokenizerFiles find_tokenizer_files(const std::string& spec);

// spec: "bytes"; a tokenizer.json file; encoder.json or vocab.json (its merges file beside it);
// a SentencePiece .model; or a directory holding tokenizer.json, encoder.json + vocab.bpe,
// vocab.json + merges.txt, or tokenizer.model / spm.model (first found, in that order).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec);

}  // namespace gatedlm
