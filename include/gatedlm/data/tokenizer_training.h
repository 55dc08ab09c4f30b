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
};

// At most vocab_size pieces (fewer when the corpus cannot fill them). Ids: 0 <unk>, 1 <s>
// (BOS), 2 </s> (EOS), then the pieces; byte fallback is on, so any UTF-8
// text encodes without <unk>. InputError for a bad type, a missing input, an --out that does not
// end in .model, or what the library rejects (e.g. a vocab_size too large for the corpus).
void train_sentencepiece(const TokenizerTrainOptions& options);

}  // namespace gatedlm
