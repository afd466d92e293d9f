#ifndef _GNU_SOURCE
#error "CFractalLinux must be compiled with _GNU_SOURCE (Package.swift's gnuSource)"
#endif

#include "CFractalLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(CFL_EPOLLIN == EPOLLIN, "EPOLLIN");
_Static_assert(CFL_EPOLLOUT == EPOLLOUT, "EPOLLOUT");
_Static_assert(CFL_EPOLLERR == EPOLLERR, "EPOLLERR");
_Static_assert(CFL_EPOLLHUP == EPOLLHUP, "EPOLLHUP");
_Static_assert(CFL_EPOLLRDHUP == EPOLLRDHUP, "EPOLLRDHUP");
_Static_assert(CFL_EPOLLONESHOT == EPOLLONESHOT, "EPOLLONESHOT");
_Static_assert(CFL_MAX_PASSED_FDS <= 253, "SCM_MAX_FD is 253");
_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == CFL_UNIX_PATH_MAX, "sun_path is 108 bytes");

static int fill_address(const char *path, struct sockaddr_un *address, socklen_t *length) {
    size_t path_length = strlen(path);
    // A path that fills sun_path has no room for the NUL; refuse it rather than truncate.
    if (path_length == 0 || path_length >= sizeof(address->sun_path)) return -ENAMETOOLONG;
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    memcpy(address->sun_path, path, path_length + 1);
    *length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length + 1);
    return 0;
}

int cfl_unix_listen(const char *path, int backlog) {
    struct sockaddr_un address;
    socklen_t length;
    int result = fill_address(path, &address, &length);
    if (result < 0) return result;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&address, length) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int cfl_unix_accept(int listener) {
    int fd;
    do {
        fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int cfl_unix_connect(const char *path) {
    struct sockaddr_un address;
    socklen_t length;
    int result = fill_address(path, &address, &length);
    if (result < 0) return result;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    do {
        result = connect(fd, (struct sockaddr *)&address, length);
    } while (result < 0 && errno == EINTR);
    if (result < 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int cfl_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) return -errno;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

long cfl_socket_unread(int fd) {
    int queued = 0;
    if (ioctl(fd, SIOCOUTQ, &queued) != 0) return -errno;
    return queued;
}

ssize_t cfl_send(int fd, const void *data, size_t length, int nonblocking) {
    ssize_t sent;
    do {
        sent = send(fd, data, length, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
    } while (sent < 0 && errno == EINTR);
    return sent < 0 ? -errno : sent;
}

ssize_t cfl_send_with_fds(int fd, const void *data, size_t length, const int *fds, size_t fd_count, int nonblocking) {
    if (fd_count > CFL_MAX_PASSED_FDS) return -EINVAL;
    if (fd_count == 0) return cfl_send(fd, data, length, nonblocking);
    union {
        char buffer[CMSG_SPACE(sizeof(int) * CFL_MAX_PASSED_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec vector = {.iov_base = (void *)data, .iov_len = length};
    struct msghdr message = {
        .msg_iov = &vector,
        .msg_iovlen = 1,
        .msg_control = control.buffer,
        .msg_controllen = CMSG_SPACE(sizeof(int) * fd_count),
    };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
    ssize_t sent;
    do {
        sent = sendmsg(fd, &message, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
    } while (sent < 0 && errno == EINTR);
    return sent < 0 ? -errno : sent;
}

ssize_t cfl_recv_with_fds(int fd, void *data, size_t capacity, int *fds, size_t fd_capacity, size_t *fd_count, int *fds_truncated, int nonblocking) {
    union {
        char buffer[CMSG_SPACE(sizeof(int) * CFL_MAX_PASSED_FDS)];
        struct cmsghdr align;
    } control;
    if (fd_capacity > CFL_MAX_PASSED_FDS) fd_capacity = CFL_MAX_PASSED_FDS;
    struct iovec vector = {.iov_base = data, .iov_len = capacity};
    struct msghdr message = {
        .msg_iov = &vector,
        .msg_iovlen = 1,
        .msg_control = control.buffer,
        .msg_controllen = sizeof(control.buffer),
    };
    *fd_count = 0;
    *fds_truncated = 0;
    ssize_t got;
    do {
        got = recvmsg(fd, &message, MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0));
    } while (got < 0 && errno == EINTR);
    if (got < 0) return -errno;
    // The kernel discards descriptors that did not fit the control buffer (MSG_CTRUNC).
    if (message.msg_flags & MSG_CTRUNC) *fds_truncated = 1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *received = (int *)CMSG_DATA(header);
        for (size_t i = 0; i < count; i++) {
            int passed;
            memcpy(&passed, &received[i], sizeof(int));
            if (*fd_count < fd_capacity) {
                fds[(*fd_count)++] = passed;
            } else {
                // Never leak a descriptor the caller has no room for.
                close(passed);
                *fds_truncated = 1;
            }
        }
    }
    return got;
}

int cfl_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int epoll_change(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = {.events = events, .data.u64 = token};
    return epoll_ctl(epfd, op, fd, &event) < 0 ? -errno : 0;
}

int cfl_epoll_add(int epfd, int fd, uint32_t events, uint64_t token) {
    return epoll_change(epfd, EPOLL_CTL_ADD, fd, events, token);
}

int cfl_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token) {
    return epoll_change(epfd, EPOLL_CTL_MOD, fd, events, token);
}

int cfl_epoll_remove(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int cfl_epoll_wait(int epfd, struct cfl_epoll_event *out, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count;
    do {
        count = epoll_wait(epfd, events, capacity, timeout_ms);
    } while (count < 0 && errno == EINTR);
    if (count < 0) return -errno;
    for (int i = 0; i < count; i++) {
        out[i].events = events[i].events;
        out[i].token = events[i].data.u64;
    }
    return count;
}

int cfl_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cfl_eventfd_signal(int fd) {
    uint64_t one = 1;
    // EAGAIN: the counter is already at its maximum, so the reader wakes anyway.
    return (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) ? -errno : 0;
}

void cfl_eventfd_drain(int fd) {
    uint64_t value;
    (void)!read(fd, &value, sizeof(value));
}
