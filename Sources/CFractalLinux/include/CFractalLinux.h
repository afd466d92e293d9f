// C for the Linux system calls Swift cannot reach on its own: openat2(2), which glibc 2.36
// has no wrapper for, and statx(2) fields and open flags that glibc only declares under
// _GNU_SOURCE (which Swift's Glibc module is not built with). Every symbol is prefixed cfl_
// ("C Fractal Linux"); the target was first named CSystem, which clashes with swift-system's.
#ifndef CFRACTALLINUX_H
#define CFRACTALLINUX_H

#ifdef __linux__

#include <stdint.h>

#include "cfl_console.h"
#include "cfl_process.h"
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

// Unix sockets and epoll for the session sockets (sessionsocket.c): accept4, SCM_RIGHTS,
// SO_PEERCRED and the packed struct epoll_event are beyond Swift's Glibc module.

#include <stddef.h>
#include <sys/types.h>

/// Bytes in sockaddr_un's sun_path; a socket path must be shorter (room for the NUL).
#define CFL_UNIX_PATH_MAX 108
/// The most descriptors one cfl_send_with_fds/cfl_recv_with_fds carries.
#define CFL_MAX_PASSED_FDS 16

#define CFL_EPOLLIN 0x001
#define CFL_EPOLLOUT 0x004
#define CFL_EPOLLERR 0x008
#define CFL_EPOLLHUP 0x010
#define CFL_EPOLLRDHUP 0x2000
#define CFL_EPOLLONESHOT 0x40000000u

/// Makes a non-blocking, close-on-exec unix stream socket bound to `path` and listening.
/// Returns the descriptor, or -errno (-ENAMETOOLONG for a path that does not fit sun_path).
int cfl_unix_listen(const char *path, int backlog);

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC. Returns the descriptor or -errno (-EAGAIN: none waiting).
int cfl_unix_accept(int listener);

/// Connects a blocking, close-on-exec unix stream socket to `path`. Returns the descriptor or -errno.
int cfl_unix_connect(const char *path);

/// SO_PEERCRED: who is on the other end of a connected unix socket. Returns 0 or -errno.
int cfl_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// Bytes sent on the stream socket `fd` that its peer has not read yet (SIOCOUTQ), or -errno.
long cfl_socket_unread(int fd);

/// send(2) with MSG_NOSIGNAL (and MSG_DONTWAIT if `nonblocking`), retrying on EINTR.
/// Returns the bytes sent or -errno.
ssize_t cfl_send(int fd, const void *data, size_t length, int nonblocking);

/// Like cfl_send, with `fd_count` (at most CFL_MAX_PASSED_FDS) descriptors attached as one
/// SCM_RIGHTS message. The descriptors stay open here; the peer gets its own copies.
ssize_t cfl_send_with_fds(int fd, const void *data, size_t length, const int *fds, size_t fd_count, int nonblocking);

/// recvmsg(2) with MSG_CMSG_CLOEXEC: up to `capacity` bytes, and up to `fd_capacity`
/// descriptors into `fds` (`*fd_count` of them). Descriptors beyond that are closed and
/// `*fds_truncated` set; MSG_DONTWAIT if `nonblocking`. Returns the bytes received (0 at end
/// of stream) or -errno.
ssize_t cfl_recv_with_fds(int fd, void *data, size_t capacity, int *fds, size_t fd_capacity, size_t *fd_count, int *fds_truncated, int nonblocking);

/// One ready descriptor from cfl_epoll_wait: CFL_EPOLL* bits and the token it was added with.
struct cfl_epoll_event {
    uint32_t events;
    uint64_t token;
};

/// epoll_create1(EPOLL_CLOEXEC). Returns the descriptor or -errno.
int cfl_epoll_create(void);
/// EPOLL_CTL_ADD / _MOD / _DEL; `token` comes back with each readiness. Return 0 or -errno.
int cfl_epoll_add(int epfd, int fd, uint32_t events, uint64_t token);
int cfl_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token);
int cfl_epoll_remove(int epfd, int fd);
/// epoll_wait(2) for at most `capacity` (at most 64) events, retrying on EINTR. Returns the count or -errno.
int cfl_epoll_wait(int epfd, struct cfl_epoll_event *out, int capacity, int timeout_ms);

/// A non-blocking eventfd, to wake an epoll loop. Returns the descriptor or -errno.
int cfl_eventfd(void);
/// Adds 1 to an eventfd. Returns 0 or -errno.
int cfl_eventfd_signal(int fd);
/// Reads (and so resets) an eventfd's counter.
void cfl_eventfd_drain(int fd);

#endif // __linux__

#endif // CFRACTALLINUX_H
