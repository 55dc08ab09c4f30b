#include "gatedlm/train/signals.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

namespace gatedlm {
namespace {

volatile std::sig_atomic_t g_received = 0;

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGUSR1};
struct sigaction g_previous[3];
struct sigaction g_previous_xfsz;

void write_stderr(const char* text) {
  // Only async-signal-safe calls here.
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_stop_signal(int signal) {
  if (g_received != 0) {
    if (signal != SIGINT) return;  // repeated SIGTERM/SIGUSR1: the stop is already under way
    write_stderr("gatedlm: second interrupt, aborting without a checkpoint\n");
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_received = signal;
  write_stderr(signal == SIGINT
                   ? "gatedlm: interrupt: stopping after this step with a checkpoint (interrupt "
                     "again to abort)\n"
                   : "gatedlm: stop signal: stopping after this step with a checkpoint\n");
}

// Instances nest: the train command installs the handlers before it loads anything, and the
// trainer's own instance then keeps what arrived meanwhile.
int g_depth = 0;

}  // namespace

StopSignals::StopSignals() {
  if (g_depth++ > 0) return;
  g_received = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes resume
  for (int i = 0; i < 3; ++i) sigaction(kStopSignals[i], &action, &g_previous[i]);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGXFSZ, &ignore, &g_previous_xfsz);
}

StopSignals::~StopSignals() {
  if (--g_depth > 0) return;
  for (int i = 0; i < 3; ++i) sigaction(kStopSignals[i], &g_previous[i], nullptr);
  sigaction(SIGXFSZ, &g_previous_xfsz, nullptr);
}

int StopSignals::received() const { return g_received; }

const char* StopSignals::name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "signal";
  }
}

}  // namespace gatedlm
