// The tokenizer beside an exported model: the files the run's data.tokenizer names, copied
// under the names Hugging Face loads (tokenizer.json; vocab.json + merges.txt; tokenizer.model),
// the byte tokenizer written as a byte-level tokenizer.json, and a tokenizer_config.json; the
// BOS/EOS ids go to generation_config.json (docs/interop.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gatedlm {

struct HfTokenizerExport {
  std::vector<std::string> files;    // written into the export directory, names only
  int32_t bos_id = -1, eos_id = -1;  // -1: the tokenizer has none
};

// Writes the tokenizer files of `spec` (as for prepare --tokenizer) into `out`. InputError when
// `spec` names no tokenizer; one whose vocabulary exceeds `model_vocab` is refused too.
HfTokenizerExport write_hf_tokenizer(const std::string& spec, int64_t model_vocab,
                                     int64_t max_length, const std::filesystem::path& out);

// generation_config.json: greedy by default, with the tokenizer's BOS/EOS when it has them
// (null otherwise, so nothing stops at an id that is not end-of-text).
nlohmann::json hf_generation_config_json(int32_t bos_id, int32_t eos_id);

}  // namespace gatedlm
