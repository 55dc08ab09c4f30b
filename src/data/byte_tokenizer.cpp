#include <fmt/format.h>

#include <stdexcept>

#include "gatedlm/data/tokenizer.h"

namespace gatedlm {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> tokens(text.size());
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

std::string ByteTokenizer::decode(std::span<const int32_t> tokens) const {
  std::string text(tokens.size(), '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] > 255) {
      throw std::out_of_range(fmt::format("byte tokenizer: token {} is not a byte", tokens[i]));
    }
    text[i] = static_cast<char>(tokens[i]);
  }
  return text;
}

}  // namespace gatedlm
