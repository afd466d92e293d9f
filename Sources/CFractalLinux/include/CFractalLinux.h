// C for the Linux system calls Swift cannot reach on its own: openat2(2), which glibc 2.36
// has no wrapper for, and statx(2) fields and open flags that glibc only declares under
// _GNU_SOURCE (which Swift's Glibc module is not built with). Every symbol is prefixed cfl_
// ("C Fractal Linux"); the target was first named CSystem, which clashes with swift-system's.
#ifndef CFRACTALLINUX_H
#define CFRACTALLINUX_H

#ifdef __linux__

#include <stdint.h>

#include "cfl_uevent.h"

// Values of GNU-only flags, spelled out so Swift can import them as constants; the .c files
// assert at compile time that they equal the system headers' values.

/// open(2)'s O_PATH: a descriptor that names a file without opening it for I/O.
#define CFL_O_PATH 010000000
/// *at(2)'s AT_EMPTY_PATH: operate on the directory descriptor itself when the path is "".
#define CFL_AT_EMPTY_PATH 0x1000

/// openat2(2)'s RESOLVE_NO_XDEV: refuse to cross a mount point.
#define CFL_RESOLVE_NO_XDEV 0x01
/// openat2(2)'s RESOLVE_NO_MAGICLINKS: refuse /proc/<pid>/fd-style magic links.
#define CFL_RESOLVE_NO_MAGICLINKS 0x02
/// openat2(2)'s RESOLVE_NO_SYMLINKS: refuse every symbolic link on the way.
#define CFL_RESOLVE_NO_SYMLINKS 0x04
/// openat2(2)'s RESOLVE_BENEATH: refuse any resolution that leaves the directory descriptor.
#define CFL_RESOLVE_BENEATH 0x08
/// openat2(2)'s RESOLVE_IN_ROOT: resolve as if the directory descriptor were the root (chroot-like),
/// so a container's absolute symlinks and ".." stay inside the container's root.
#define CFL_RESOLVE_IN_ROOT 0x10

/// Opens `path` relative to `dirfd` with openat2(2).
///
/// `flags` and `mode` are those of openat(2); `resolve` is a set of CFL_RESOLVE_* bits.
/// Returns the new descriptor, or -errno (ENOSYS on kernels before 5.6). Retries on EINTR.
int cfl_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// Opens `path` strictly beneath `dirfd`: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS, so neither "..", an absolute path nor any symbolic link (even one
/// swapped in while the kernel walks the path) can lead out of it.
/// Returns the new descriptor, or -errno: ELOOP for a symbolic link, EXDEV for an escape.
int cfl_openat2_beneath(int dirfd, const char *path, uint64_t flags, uint64_t mode);

/// Where a file sits among the mounts, from statx(2) (Linux 5.8 or later).
struct cfl_mount_position {
    /// The ID of the mount the file is on, as in /proc/self/mountinfo's first field.
    uint64_t mount_id;
    /// 1 if the file is the root of its mount (something is mounted there), else 0.
    int is_mount_root;
};

/// Fills `out` for `path` relative to `dirfd`, never following a symbolic link at the end of
/// `path`; with an empty `path`, describes `dirfd` itself.
/// Returns 0, or -errno (ENOSYS when the kernel does not report mount IDs).
int cfl_mount_position(int dirfd, const char *path, struct cfl_mount_position *out);

#endif // __linux__

#endif // CFRACTALLINUX_H
