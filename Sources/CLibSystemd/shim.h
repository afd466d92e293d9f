// libsystemd's sd-daemon: readiness and status (sd_notify), the watchdog, and the
// file-descriptor store (FDSTORE=1 with sd_pid_notify_with_fds, sd_listen_fds_with_names).
#include <systemd/sd-daemon.h>
