#include "cfl_uevent.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

// libudev reads the header at these offsets, and its socket filter loads the magic and hashes
// by absolute offset: the layout must be exactly systemd's.
_Static_assert(sizeof(struct cfl_udev_monitor_header) == 40, "monitor_netlink_header is 40 bytes");
_Static_assert(offsetof(struct cfl_udev_monitor_header, magic) == 8, "magic after the prefix");
_Static_assert(offsetof(struct cfl_udev_monitor_header, filter_subsystem_hash) == 24, "subsystem hash offset");
_Static_assert(offsetof(struct cfl_udev_monitor_header, filter_tag_bloom_lo) == 36, "tag bloom offset");

// MurmurHash2 by Austin Appleby, as systemd's src/basic/MurmurHash2.c (seed 0, little-endian reads).
uint32_t cfl_udev_string_hash32(const char *string) {
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    size_t length = strlen(string);
    uint32_t h = 0 ^ (uint32_t)length;
    const unsigned char *data = (const unsigned char *)string;
    while (length >= 4) {
        uint32_t k;
        memcpy(&k, data, 4);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
        data += 4;
        length -= 4;
    }
    switch (length) {
    case 3: h ^= (uint32_t)data[2] << 16; // fall through
    case 2: h ^= (uint32_t)data[1] << 8;  // fall through
    case 1: h ^= data[0]; h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

uint64_t cfl_udev_string_bloom64(const char *tag) {
    uint32_t hash = cfl_udev_string_hash32(tag);
    uint64_t bits = 0;
    bits |= UINT64_C(1) << (hash & 63);
    bits |= UINT64_C(1) << ((hash >> 6) & 63);
    bits |= UINT64_C(1) << ((hash >> 12) & 63);
    bits |= UINT64_C(1) << ((hash >> 18) & 63);
    return bits;
}

int cfl_uevent_socket_in_netns(int netns_fd) {
    // setns(CLONE_NEWNET) moves only this thread; a socket keeps the namespace it was made in.
    int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) return -errno;
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
        int error = errno;
        close(own);
        return -error;
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    int error = fd < 0 ? errno : 0;
    if (setns(own, CLONE_NEWNET) != 0) {
        // The thread cannot go home: it must not run anything else. Nothing sane is left to do.
        abort();
    }
    close(own);
    if (fd < 0) return -error;
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
        error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int cfl_udev_monitor_send(int socket_fd, const char *subsystem, const char *devtype, const char *const *tags,
                          const char *properties, size_t length) {
    struct cfl_udev_monitor_header header;
    memset(&header, 0, sizeof header);
    memcpy(header.prefix, "libudev", 8);
    header.magic = htobe32(0xfeedcafe);
    header.header_size = sizeof header;
    header.properties_off = sizeof header;
    header.properties_len = (uint32_t)length;
    header.filter_subsystem_hash = htobe32(cfl_udev_string_hash32(subsystem));
    if (devtype) header.filter_devtype_hash = htobe32(cfl_udev_string_hash32(devtype));
    uint64_t bloom = 0;
    for (const char *const *tag = tags; tag && *tag; tag++) bloom |= cfl_udev_string_bloom64(*tag);
    header.filter_tag_bloom_hi = htobe32((uint32_t)(bloom >> 32));
    header.filter_tag_bloom_lo = htobe32((uint32_t)(bloom & 0xffffffff));

    struct sockaddr_nl destination = {.nl_family = AF_NETLINK, .nl_groups = CFL_UDEV_MONITOR_GROUP};
    struct iovec parts[2] = {
        {.iov_base = &header, .iov_len = sizeof header},
        {.iov_base = (void *)properties, .iov_len = length},
    };
    struct msghdr message = {
        .msg_name = &destination, .msg_namelen = sizeof destination, .msg_iov = parts, .msg_iovlen = 2,
    };
    ssize_t sent;
    do {
        sent = sendmsg(socket_fd, &message, 0);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        // No listener in the group: the message had nowhere to go, which is fine.
        if (errno == ECONNREFUSED || errno == ESRCH) return 0;
        return -errno;
    }
    return 0;
}
