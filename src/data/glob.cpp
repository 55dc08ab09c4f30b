#include <glob.h>

#include <algorithm>

#include "gatedlm/core/error.h"
#include "gatedlm/data/loader.h"

namespace gatedlm {

std::vector<std::string> expand_data_glob(const std::string& pattern) {
  glob_t matches{};
  // GLOB_MARK appends '/' to directories so they can be dropped: only files are shards.
  const int rc = ::glob(pattern.c_str(), GLOB_MARK, nullptr, &matches);
  std::vector<std::string> files;
  if (rc == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) {
      std::string path = matches.gl_pathv[i];
      if (!path.empty() && path.back() != '/') files.push_back(std::move(path));
    }
  }
  globfree(&matches);
  if (rc != 0 && rc != GLOB_NOMATCH) {
    throw RuntimeFailure(pattern + ": cannot expand the pattern (out of memory or read error)");
  }
  if (files.empty()) throw InputError(pattern + ": no files match");
  // Byte order, not the locale's collation, so every machine sees the same shard order.
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace gatedlm
