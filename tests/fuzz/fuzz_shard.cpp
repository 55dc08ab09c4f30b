// Token-shard reading (llm.c format): the input is the file. The first header word selects
// nothing special; a vocabulary limit is applied too, so the "token >= vocab" path runs.
// Megatron's MMIDIDX pairs have their own harness (fuzz_megatron_index.cpp); a new format gets
// one too (tests/fuzz/CMakeLists.txt builds every fuzz_*.cpp).
#include "fuzz_support.h"
#include "gatedlm/data/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatedlm;
  static fuzz::MemoryFile file;
  const std::string& path = file.write({reinterpret_cast<const char*>(data), size});
  Shard shard;
  if (!fuzz::accepts([&] { shard = read_shard(path); })) return 0;
  const int64_t token_bytes = shard.token_bytes;
  if (static_cast<int64_t>(size) !=
      kShardHeaderBytes + token_bytes * static_cast<int64_t>(shard.tokens.size()))
    fuzz::fail("shard size", "accepted a shard whose size disagrees with its token count");
  for (const int32_t token : shard.tokens)
    if (token < 0) fuzz::fail("shard token", "negative token accepted");
  fuzz::accepts([&] { read_shard(path, 1000); });
  return 0;
}
