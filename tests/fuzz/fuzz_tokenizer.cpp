// Tokenizer load + encode/decode. The first byte picks the file format:
//   even: a Hugging Face tokenizer.json, then NUL, then text to encode;
//   odd:  vocab.json (encoder.json), NUL, merges.txt (vocab.bpe), NUL, text.
// A tokenizer that loads must give decode(encode(text)) == text for any bytes, invalid UTF-8
// included (bpe_tokenizer.h), unless it NFC-normalises.
#include "fuzz_support.h"
#include "gatedlm/data/bpe_tokenizer.h"
#include "gatedlm/data/tokenizer_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatedlm;
  if (size == 0) return 0;
  const bool hf_json = data[0] % 2 == 0;
  const std::vector<std::string_view> parts =
      fuzz::split_input(data + 1, size - 1, hf_json ? 2 : 3);
  const std::string_view text = parts.back();
  BpeModel model;
  const bool loaded = fuzz::accepts([&] {
    model = hf_json ? parse_hf_tokenizer_json(parts[0], "tokenizer.json")
                    : parse_bpe_vocab_merges(parts[0], "vocab.json", parts[1], "merges.txt");
  });
  if (!loaded) return 0;
  const bool nfc = model.nfc;
  std::unique_ptr<BpeTokenizer> tokenizer;
  if (!fuzz::accepts([&] { tokenizer = std::make_unique<BpeTokenizer>(std::move(model)); }))
    return 0;
  fuzz::accepts([&] {
    const std::vector<int32_t> ids = tokenizer->encode(text);
    for (const int32_t id : ids)
      if (id < 0 || id >= tokenizer->vocab_size())
        fuzz::fail("encode", "id outside the vocabulary");
    const std::string back = tokenizer->decode(ids);
    if (!nfc && back != text) fuzz::fail("round trip", "decode(encode(text)) != text");
  });
  return 0;
}
