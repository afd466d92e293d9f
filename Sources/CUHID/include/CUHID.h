// CUHID: the kernel's uhid interface (/dev/uhid) as plain calls Swift can make.
//
// struct uhid_event is a 4380-byte packed union with 4 KiB arrays: Swift imports such arrays as
// tuples and would copy the union at every step, so the events are filled and read here. The
// interface is write(2) and read(2) only, no ioctls. Every function returns 0 (or a count) on
// success and -errno on failure; none keeps state.
#ifndef CUHID_H
#define CUHID_H

#ifdef __linux__

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// The largest report, descriptor or reply a uhid event carries (UHID_DATA_MAX,
/// HID_MAX_DESCRIPTOR_SIZE); checked against <linux/uhid.h> in cuhid.c.
enum { CUHID_DATA_MAX = 4096, CUHID_DESCRIPTOR_MAX = 4096 };

/// The fields of UHID_CREATE2 besides the descriptor. Strings are NUL-terminated and are cut
/// to the kernel's fields (name 127, phys and uniq 63 bytes): callers validate lengths first.
typedef struct cuhid_create_description {
    const char *name;
    const char *phys;
    const char *uniq;
    uint16_t bus;
    uint32_t vendor;
    uint32_t product;
    uint32_t version;
    uint32_t country;
    const uint8_t *descriptor;
    size_t descriptor_size;
} cuhid_create_description;

/// UHID_CREATE2: asks the kernel to add the HID device. Returns 0, -EINVAL for a descriptor over
/// CUHID_DESCRIPTOR_MAX, or -errno. The device's driver probes it later, in a kernel worker.
int cuhid_create(int fd, const cuhid_create_description *description);

/// UHID_DESTROY: removes the device (closing the descriptor does too). Returns 0 or -errno.
int cuhid_destroy(int fd);

/// UHID_INPUT2: one input report (report ID first when the descriptor numbers its reports).
/// Returns 0, -EINVAL over CUHID_DATA_MAX, or -errno.
int cuhid_input(int fd, const uint8_t *report, size_t size);

/// UHID_GET_REPORT_REPLY for request `id`: `error` 0 with the report, or an errno with none.
int cuhid_get_report_reply(int fd, uint32_t id, uint16_t error, const uint8_t *report, size_t size);

/// UHID_SET_REPORT_REPLY for request `id`: `error` 0 or an errno.
int cuhid_set_report_reply(int fd, uint32_t id, uint16_t error);

/// What the kernel asked of the device, one event at a time.
enum cuhid_request_kind {
    /// UHID_START: a driver started the device; `flags` holds UHID_DEV_NUMBERED_* bits.
    CUHID_REQUEST_START = 1,
    /// UHID_STOP: the driver stopped it (also when a probe failed).
    CUHID_REQUEST_STOP = 2,
    /// UHID_OPEN / UHID_CLOSE: the first reader opened it, the last one closed it.
    CUHID_REQUEST_OPEN = 3,
    CUHID_REQUEST_CLOSE = 4,
    /// UHID_OUTPUT: an output (or feature) report a driver or a hidraw writer sent; `data`.
    CUHID_REQUEST_OUTPUT = 5,
    /// UHID_GET_REPORT: answer `id` with cuhid_get_report_reply (the kernel waits up to 5 s).
    CUHID_REQUEST_GET_REPORT = 6,
    /// UHID_SET_REPORT: `data` to store for report `report_number`; answer `id`.
    CUHID_REQUEST_SET_REPORT = 7,
    /// An event type this header does not know; ignored.
    CUHID_REQUEST_OTHER = 8,
};

/// One request; which fields are meaningful depends on `kind`.
typedef struct cuhid_request {
    enum cuhid_request_kind kind;
    uint32_t id;
    uint8_t report_number;
    /// UHID_FEATURE_REPORT (0), UHID_OUTPUT_REPORT (1) or UHID_INPUT_REPORT (2).
    uint8_t report_type;
    /// Bytes of `data` the request carried; they are copied to the caller's buffer (cut to its
    /// capacity, which should be CUHID_DATA_MAX).
    uint16_t size;
    uint64_t flags;
    /// The raw UHID_* event type, for CUHID_REQUEST_OTHER.
    uint32_t raw_type;
} cuhid_request;

/// Reads one event from a (non-blocking) /dev/uhid descriptor, retrying on EINTR.
/// Returns 1 with `*request` (and `data`) filled, 0 when nothing is pending, or -errno.
int cuhid_read_request(int fd, cuhid_request *request, uint8_t *data, size_t capacity);

#endif // __linux__

#endif // CUHID_H
