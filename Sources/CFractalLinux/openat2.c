#ifndef _GNU_SOURCE
#error "CFractalLinux must be compiled with _GNU_SOURCE (Package.swift's gnuSource)"
#endif

#include "CFractalLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

// The header spells these out for Swift; hold it to the system's values.
_Static_assert(CFL_O_PATH == O_PATH, "CFL_O_PATH differs from O_PATH on this architecture");
_Static_assert(CFL_AT_EMPTY_PATH == AT_EMPTY_PATH, "CFL_AT_EMPTY_PATH differs from AT_EMPTY_PATH");
_Static_assert(CFL_RESOLVE_NO_XDEV == RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV");
_Static_assert(CFL_RESOLVE_NO_MAGICLINKS == RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS");
_Static_assert(CFL_RESOLVE_NO_SYMLINKS == RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS");
_Static_assert(CFL_RESOLVE_BENEATH == RESOLVE_BENEATH, "RESOLVE_BENEATH");
_Static_assert(CFL_RESOLVE_IN_ROOT == RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT");
// openat2 is versioned by size; this is OPEN_HOW_SIZE_VER0, the layout we fill.
_Static_assert(sizeof(struct open_how) == 24, "struct open_how is not the 24-byte version 0");

#ifndef SYS_openat2
#define SYS_openat2 437 // The same number on every architecture (added in 5.6 after the syscall table unification).
#endif

int cfl_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    long result;
    do {
        result = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : (int)result;
}

int cfl_openat2_beneath(int dirfd, const char *path, uint64_t flags, uint64_t mode) {
    return cfl_openat2(dirfd, path, flags, mode,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}
