// The host's virtual terminals (console.c): which VT is in front, which are in use, and each
// one's keyboard mode (linux/kd.h, linux/vt.h), for ConsoleKeyboardGuard.
#ifndef CFL_CONSOLE_H
#define CFL_CONSOLE_H

#ifdef __linux__

/// KDSKBMODE's K_OFF: the VT's keyboard handler passes nothing to the terminal, switches no VT
/// and acts on no Ctrl+Alt+Del (only a bound SAK key still acts).
#define CFL_K_OFF 0x04

/// The VT in front (1-based) and a bit mask of the VTs in use (bit N for ttyN, N <= 15), from
/// VT_GETSTATE on `fd` (any VT, e.g. /dev/tty0). Returns 0, or -errno.
int cfl_vt_state(int fd, unsigned short *active, unsigned short *in_use);

/// The keyboard mode (K_RAW, K_XLATE, K_MEDIUMRAW, K_UNICODE, K_OFF) of the VT open on `fd`,
/// or -errno.
int cfl_vt_keyboard_mode(int fd);

/// Sets the keyboard mode of the VT open on `fd`. Returns 0, or -errno.
int cfl_vt_set_keyboard_mode(int fd, int mode);

#endif
#endif
