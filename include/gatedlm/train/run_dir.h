// The run directory the trainer writes: created when missing, and checked before anything is
// written, so that a file a user (or another program) placed there is never overwritten through
// a symbolic link or a FIFO.
#pragma once

#include <string>

namespace gatedlm {

// Creates RUN (and its parents) when missing: RuntimeFailure when that fails. Then throws
// InputError naming the first of RUN's own entries (config.yaml, metrics.jsonl, checkpoints/,
// checkpoints/latest, tb/, done.json, .lock) that is a symbolic link, or of the wrong kind (a
// FIFO, a directory where a file belongs). RUN itself may be a link (to scratch space).
void prepare_train_run_dir(const std::string& run_dir);

}  // namespace gatedlm
