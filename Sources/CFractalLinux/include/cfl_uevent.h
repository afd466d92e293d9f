// Announcing devices to a container's libudev: the udev monitor message format and a
// netlink socket made inside another network namespace (libudev listens in the container's).
#ifndef CFL_UEVENT_H
#define CFL_UEVENT_H

#ifdef __linux__

#include <stddef.h>
#include <stdint.h>

/// The header udevd puts before a device's properties on NETLINK_KOBJECT_UEVENT group 2
/// (systemd's `monitor_netlink_header`): libudev checks the prefix and magic, and its
/// in-kernel socket filter compares the hashes.
struct cfl_udev_monitor_header {
    /// "libudev", NUL-terminated, where a kernel uevent has "ACTION@DEVPATH".
    char prefix[8];
    /// 0xfeedcafe, big-endian.
    uint32_t magic;
    /// sizeof(struct cfl_udev_monitor_header), host order.
    uint32_t header_size;
    /// Where the NUL-separated KEY=value properties start, and their length, host order.
    uint32_t properties_off;
    uint32_t properties_len;
    /// MurmurHash2 of SUBSYSTEM and DEVTYPE (0 when none), big-endian.
    uint32_t filter_subsystem_hash;
    uint32_t filter_devtype_hash;
    /// A 64-bit bloom filter of the device's tags, big-endian halves.
    uint32_t filter_tag_bloom_hi;
    uint32_t filter_tag_bloom_lo;
};

/// The netlink multicast group libudev listens on (the kernel's own uevents go to group 1).
#define CFL_UDEV_MONITOR_GROUP 2u

/// systemd's string_hash32: MurmurHash2 with seed 0.
uint32_t cfl_udev_string_hash32(const char *string);

/// systemd's string_bloom64: four bits of the tag's hash.
uint64_t cfl_udev_string_bloom64(const char *tag);

/// Opens a NETLINK_KOBJECT_UEVENT socket inside the network namespace `netns_fd` (an open
/// /proc/PID/ns/net), switching only the calling thread there and back.
/// Returns the socket, or -errno (EPERM without CAP_SYS_ADMIN).
int cfl_uevent_socket_in_netns(int netns_fd);

/// Sends one udev monitor message: header, then `properties` (`length` bytes of NUL-terminated
/// KEY=value strings), to group CFL_UDEV_MONITOR_GROUP. `subsystem` and `devtype` (may be NULL)
/// feed the filter hashes, `tags` (NULL-terminated array, may be NULL) the bloom filter.
/// Returns 0, or -errno (ECONNREFUSED/ESRCH when nobody listens is not an error: returns 0).
int cfl_udev_monitor_send(int socket_fd, const char *subsystem, const char *devtype, const char *const *tags,
                          const char *properties, size_t length);

#endif // __linux__

#endif // CFL_UEVENT_H
