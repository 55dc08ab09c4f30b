// The version and git commit this binary was built from. CMake writes their definitions into a
// generated source at configure time, so a new commit recompiles one file, not the library.
#pragma once

namespace gatedlm {

const char* gatedlm_version();
const char* gatedlm_git_commit();

}  // namespace gatedlm
