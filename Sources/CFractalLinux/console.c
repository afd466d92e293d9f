#include "cfl_console.h"

#include <errno.h>
#include <linux/kd.h>
#include <linux/vt.h>
#include <sys/ioctl.h>

_Static_assert(CFL_K_OFF == K_OFF, "K_OFF");

int cfl_vt_state(int fd, unsigned short *active, unsigned short *in_use) {
    struct vt_stat state;
    if (ioctl(fd, VT_GETSTATE, &state) != 0) return -errno;
    *active = state.v_active;
    // Bit 0 is unused: v_state's bit N is ttyN.
    *in_use = state.v_state & (unsigned short)~1u;
    return 0;
}

int cfl_vt_keyboard_mode(int fd) {
    int mode = 0;
    if (ioctl(fd, KDGKBMODE, &mode) != 0) return -errno;
    return mode;
}

int cfl_vt_set_keyboard_mode(int fd, int mode) {
    if (ioctl(fd, KDSKBMODE, (unsigned long)mode) != 0) return -errno;
    return 0;
}
