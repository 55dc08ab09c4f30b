// Megatron indexed-dataset reading (data/megatron_index.h): the input is a PREFIX.idx and its
// PREFIX.bin. The first two bytes give the .idx's length (little-endian, modulo what is left);
// the .idx is next, the .bin the rest. An accepted pair must describe exactly the .bin's bytes,
// and its tokens must read back once they pass check_tokens.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "fuzz_support.h"
#include "gatedlm/data/megatron_index.h"

namespace {

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) gatedlm::fuzz::fail("write", path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatedlm;
  if (size < 2) return 0;
  static const std::string prefix =
      std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/gatedlm-fuzz-mmidx-" +
      std::to_string(getpid());
  const size_t idx_size = (data[0] | (size_t{data[1]} << 8)) % (size - 1);
  write_file(prefix + ".idx", data + 2, idx_size);
  write_file(prefix + ".bin", data + 2 + idx_size, size - 2 - idx_size);
  TokenStream stream;
  if (!fuzz::accepts([&] { stream = open_megatron_stream(prefix + ".idx"); })) return 0;
  const int64_t bin_size = static_cast<int64_t>(size - 2 - idx_size);
  if (stream.count < 0 || stream.byte_offset(stream.count) > bin_size)
    fuzz::fail("megatron index", "accepted a stream that runs past its .bin");
  if (!fuzz::accepts([&] { stream.check_tokens(0); })) return 0;
  std::vector<int32_t> tokens(static_cast<size_t>(std::min<int64_t>(stream.count, 64)));
  stream.copy_to(0, static_cast<int64_t>(tokens.size()), tokens.data());
  for (const int32_t token : tokens)
    if (token < 0) fuzz::fail("megatron index", "negative token accepted");
  return 0;
}
