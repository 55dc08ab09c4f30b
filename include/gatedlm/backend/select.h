// Choosing a backend by name, for the CLI's --device option.
#pragma once

#include <memory>
#include <string>

#include "gatedlm/backend/backend.h"

namespace gatedlm {

// "cpu" or "cuda". Throws InputError (exit 2) for another name, and for "cuda" when the binary
// was built without CUDA or no CUDA device is usable.
std::unique_ptr<Backend> make_backend(const std::string& device);

}  // namespace gatedlm
