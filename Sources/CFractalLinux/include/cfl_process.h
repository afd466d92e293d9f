// Processes by descriptor (process.c): a pidfd names one process for good, where a PID may be
// reused once that process is gone.
#ifndef CFL_PROCESS_H
#define CFL_PROCESS_H

#ifdef __linux__

#include <sys/types.h>

/// pidfd_open(2) (Linux 5.3): a descriptor for the process `pid` is now. Returns it, or -errno.
int cfl_pidfd_open(pid_t pid);

/// Whether the process behind `pidfd` still runs (pidfd_send_signal with signal 0): 0 if so,
/// else -errno (ESRCH once it has exited).
int cfl_pidfd_alive(int pidfd);

#endif
#endif
