// `gatedlm tokenizer train`: a SentencePiece model (BPE or unigram) trained on text files with
// Debian's libsentencepiece. The .model it writes loads with load_tokenizer, so `prepare`,
// `generate` and the trainer's samples accept it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gatedlm {

struct TokenizerTrainOptions {
  std::string type = "bpe";  // bpe | unigram
  int64_t vocab_size = 8000;
  std::vector<std::string> inputs;  // text files; each line is one training sentence
  std::string out;                  // PATH.model (PATH.vocab is written beside it)
  int threads = 1;
  // SentencePiece's normalization rule: nmt_nfkc (its default: NFKC, newlines and control
  // characters to spaces), nfkc, nmt_nfkc_cf, nfkc_cf, or identity (text as it is:
  // newlines and repeated spaces survive, through byte fallback where no piece holds them).
  std::string normalization = "nmt_nfkc";
  bool byte_fallback = true;             // unknown characters as UTF-8 byte tokens, never <unk>
  bool remove_extra_whitespaces = true;  // collapse runs of spaces, trim lines
};

// At most vocab_size pieces (fewer when the corpus cannot fill them). Ids: 0 <unk>, 1 <s>
// (BOS), 2 </s> (EOS), then the pieces; with byte fallback (the default) any UTF-8 text
// encodes without <unk>. InputError for a bad type, a missing input, an --out that does not
// end in .model, or what the library rejects (e.g. a vocab_size too large for the corpus).
void train_sentencepiece(const TokenizerTrainOptions& options);

}  // namespace gatedlm
