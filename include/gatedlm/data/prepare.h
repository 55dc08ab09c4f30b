// `gatedlm prepare`: text files -> llm.c token shards, DIR/train-NNNNN.bin and DIR/val-NNNNN.bin.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/data/tokenizer.h"

namespace gatedlm {

// llm.c's shard size: bounds the memory one shard needs when a loader reads it.
constexpr int64_t kMaxShardTokens = 100'000'000;

struct PrepareStats {
  int64_t input_bytes = 0;
  int64_t train_tokens = 0;
  int64_t val_tokens = 0;
  std::vector<std::string> train_shards;  // paths written, in order
  std::vector<std::string> val_shards;
};

// Each input file is one document: it is encoded on its own (preceded by the tokenizer's EOS
// token when it has one) and the documents are concatenated in the order given. The last
// val_fraction (in [0, 1)) of that token stream becomes the val split, the rest train. Creates
// out_dir, writes shards of at most max_shard_tokens, and removes stale train-/val- shards that
// a previous, larger run left there. A missing input is an InputError naming it.
PrepareStats prepare_shards(const std::vector<std::string>& inputs, const std::string& out_dir,
                            double val_fraction, const Tokenizer& tokenizer,
                            int64_t max_shard_tokens = kMaxShardTokens);

// The byte-level path (vocab 256): prepare_shards with a ByteTokenizer.
PrepareStats prepare_bytes(const std::vector<std::string>& inputs, const std::string& out_dir,
                           double val_fraction);

}  // namespace gatedlm
