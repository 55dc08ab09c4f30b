// The two failure kinds a user can meet, mapped to the exit codes in docs/interfaces:
// InputError (exit 2) for anything the user handed us, RuntimeFailure (exit 1) for the rest.
#pragma once

#include <stdexcept>
#include <string>

namespace gatedlm {

// Bad input: config, data, checkpoint or arguments. The message is one line that starts with
// the location ("file:line:col: ", "file: offset N: ", ...) and says what was expected.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

// A failure at run time that is not the user's input: I/O, divergence policy "stop", ...
class RuntimeFailure : public std::runtime_error {
 public:
  explicit RuntimeFailure(const std::string& message) : std::runtime_error(message) {}
};

// Formats "file:line:col: message" (line and col 1-based; omitted when <= 0).
std::string located(const std::string& file, int line, int col, const std::string& message);

}  // namespace gatedlm
