// Megatron-LM's indexed dataset (MMIDIDX): PREFIX.idx describes PREFIX.bin, a flat
// concatenation of token sequences. The .idx layout, all little-endian:
//   0  magic "MMIDIDX\0\0" (9 bytes)    9  version, uint64 = 1    17 dtype code, uint8
//   18 sequence count S, uint64          26 document index count D, uint64
//   34 sequence lengths, int32[S]; then sequence byte pointers into .bin, int64[S]; then
//      document indices (sequence boundaries, 0 ... S), int64[D].
// dtype codes: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16.
#pragma once

#include <string_view>

#include "gatedlm/data/token_stream.h"

namespace gatedlm {

inline constexpr std::string_view kMegatronIndexMagic{"MMIDIDX\0\0", 9};

// Reads IDX_PATH, checks it and maps the .bin beside it as one token stream (all sequences in
// file order). InputError "FILE: offset N: expected ..." for a bad magic, version or dtype, a
// size that disagrees with the counts, pointers that do not tile the .bin, or a .bin of the
// wrong size. Tokens are not checked here (TokenStream::check_tokens).
TokenStream open_megatron_stream(const std::string& idx_path);

}  // namespace gatedlm
