#ifndef _GNU_SOURCE
#error "CFractalLinux must be compiled with _GNU_SOURCE (Package.swift's gnuSource)"
#endif

#include "CFractalLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

// Both arrived in Linux 5.8; older userspace headers lack the names, not the kernel support.
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

int cfl_mount_position(int dirfd, const char *path, struct cfl_mount_position *out) {
    struct statx stx;
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (path[0] == '\0' ? AT_EMPTY_PATH : 0);
    int result;
    do {
        result = statx(dirfd, path, flags, STATX_MNT_ID, &stx);
    } while (result < 0 && errno == EINTR);
    if (result < 0) {
        return -errno;
    }
    // A kernel that predates mount IDs in statx leaves the bits clear rather than failing.
    if (!(stx.stx_mask & STATX_MNT_ID) || !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
        return -ENOSYS;
    }
    out->mount_id = stx.stx_mnt_id;
    out->is_mount_root = (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    return 0;
}
