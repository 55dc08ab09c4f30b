// Suggestions for misspelt names ("did you mean 'hidden_size'?").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatedlm {

// Levenshtein distance, ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `name` when it is close enough to be a typo: at most 1 edit for
// names of up to 3 characters, at most 2 otherwise. Ties go to the earlier candidate.
std::optional<std::string> closest_name(std::string_view name,
                                        const std::vector<std::string>& candidates);

}  // namespace gatedlm
