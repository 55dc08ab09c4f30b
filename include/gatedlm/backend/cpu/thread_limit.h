// The most CPU threads a command accepts (--threads, GATEDLM_THREADS, OMP_NUM_THREADS): more
// than any node has, and few enough that OpenMP can start them all.
#pragma once

namespace gatedlm {

constexpr int kMaxCpuThreads = 1024;

}  // namespace gatedlm
