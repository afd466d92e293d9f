#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift sets it for CUHID)"
#endif

#include "CUHID.h"

#ifdef __linux__

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <linux/uhid.h>

// The ABI written and read byte for byte below. A mismatch means the headers describe another
// ABI than the one this file was written against: stop the build rather than corrupt events.
_Static_assert(UHID_DATA_MAX == CUHID_DATA_MAX, "UHID_DATA_MAX");
_Static_assert(sizeof(((struct uhid_create2_req *)0)->rd_data) == CUHID_DESCRIPTOR_MAX, "create2.rd_data");
// The union is create2's 4372 bytes rounded up to 8: uhid_start_req's __u64 is not packed.
_Static_assert(sizeof(struct uhid_event) == 4 + 4376, "struct uhid_event: type, then the union");
_Static_assert(offsetof(struct uhid_event, u) == 4, "uhid_event.u");
// UHID_CREATE2
_Static_assert(sizeof(struct uhid_create2_req) == 4372, "struct uhid_create2_req");
_Static_assert(offsetof(struct uhid_create2_req, phys) == 128, "create2.phys");
_Static_assert(offsetof(struct uhid_create2_req, uniq) == 192, "create2.uniq");
_Static_assert(offsetof(struct uhid_create2_req, rd_size) == 256, "create2.rd_size");
_Static_assert(offsetof(struct uhid_create2_req, bus) == 258, "create2.bus");
_Static_assert(offsetof(struct uhid_create2_req, vendor) == 260, "create2.vendor");
_Static_assert(offsetof(struct uhid_create2_req, product) == 264, "create2.product");
_Static_assert(offsetof(struct uhid_create2_req, version) == 268, "create2.version");
_Static_assert(offsetof(struct uhid_create2_req, country) == 272, "create2.country");
_Static_assert(offsetof(struct uhid_create2_req, rd_data) == 276, "create2.rd_data");
// UHID_INPUT2
_Static_assert(offsetof(struct uhid_input2_req, data) == 2, "input2.data");
_Static_assert(sizeof(struct uhid_input2_req) == 2 + UHID_DATA_MAX, "struct uhid_input2_req");
// UHID_OUTPUT
_Static_assert(offsetof(struct uhid_output_req, size) == UHID_DATA_MAX, "output.size");
_Static_assert(offsetof(struct uhid_output_req, rtype) == UHID_DATA_MAX + 2, "output.rtype");
// UHID_GET_REPORT and its reply
_Static_assert(sizeof(struct uhid_get_report_req) == 6, "struct uhid_get_report_req");
_Static_assert(offsetof(struct uhid_get_report_req, rnum) == 4, "get_report.rnum");
_Static_assert(offsetof(struct uhid_get_report_req, rtype) == 5, "get_report.rtype");
_Static_assert(offsetof(struct uhid_get_report_reply_req, err) == 4, "get_report_reply.err");
_Static_assert(offsetof(struct uhid_get_report_reply_req, size) == 6, "get_report_reply.size");
_Static_assert(offsetof(struct uhid_get_report_reply_req, data) == 8, "get_report_reply.data");
// UHID_SET_REPORT and its reply
_Static_assert(offsetof(struct uhid_set_report_req, rnum) == 4, "set_report.rnum");
_Static_assert(offsetof(struct uhid_set_report_req, rtype) == 5, "set_report.rtype");
_Static_assert(offsetof(struct uhid_set_report_req, size) == 6, "set_report.size");
_Static_assert(offsetof(struct uhid_set_report_req, data) == 8, "set_report.data");
_Static_assert(sizeof(struct uhid_set_report_reply_req) == 6, "struct uhid_set_report_reply_req");
// UHID_START
_Static_assert(sizeof(struct uhid_start_req) == 8, "struct uhid_start_req");
// The event numbers are ABI too (UHID_START/STOP/OPEN/CLOSE/DESTROY are plain events).
_Static_assert(UHID_DESTROY == 1 && UHID_START == 2 && UHID_STOP == 3 && UHID_OPEN == 4 && UHID_CLOSE == 5
               && UHID_OUTPUT == 6 && UHID_GET_REPORT == 9 && UHID_GET_REPORT_REPLY == 10
               && UHID_CREATE2 == 11 && UHID_INPUT2 == 12 && UHID_SET_REPORT == 13
               && UHID_SET_REPORT_REPLY == 14, "uhid event types");
_Static_assert(UHID_FEATURE_REPORT == 0 && UHID_OUTPUT_REPORT == 1 && UHID_INPUT_REPORT == 2, "uhid report types");

// Writes the first `length` bytes of `event` in one write(2); the kernel zero-fills the rest.
static int write_event(int fd, const struct uhid_event *event, size_t length) {
    ssize_t written;
    do {
        written = write(fd, event, length);
    } while (written < 0 && errno == EINTR);
    if (written < 0) return -errno;
    return (size_t)written == length ? 0 : -EIO;
}

static void copy_string(uint8_t *field, size_t field_size, const char *text) {
    if (text == NULL) return;
    size_t length = strnlen(text, field_size - 1);
    memcpy(field, text, length);
}

int cuhid_create(int fd, const cuhid_create_description *d) {
    if (d->descriptor_size > CUHID_DESCRIPTOR_MAX || (d->descriptor_size > 0 && d->descriptor == NULL)) return -EINVAL;
    struct uhid_event event;
    memset(&event, 0, sizeof(event));
    event.type = UHID_CREATE2;
    struct uhid_create2_req *create = &event.u.create2;
    copy_string(create->name, sizeof(create->name), d->name);
    copy_string(create->phys, sizeof(create->phys), d->phys);
    copy_string(create->uniq, sizeof(create->uniq), d->uniq);
    create->rd_size = (uint16_t)d->descriptor_size;
    create->bus = d->bus;
    create->vendor = d->vendor;
    create->product = d->product;
    create->version = d->version;
    create->country = d->country;
    if (d->descriptor_size > 0) memcpy(create->rd_data, d->descriptor, d->descriptor_size);
    return write_event(fd, &event, offsetof(struct uhid_event, u.create2.rd_data) + d->descriptor_size);
}

int cuhid_destroy(int fd) {
    struct uhid_event event;
    memset(&event, 0, sizeof(event));
    event.type = UHID_DESTROY;
    return write_event(fd, &event, sizeof(event.type));
}

int cuhid_input(int fd, const uint8_t *report, size_t size) {
    if (size > UHID_DATA_MAX || (size > 0 && report == NULL)) return -EINVAL;
    struct uhid_event event;
    event.type = UHID_INPUT2;
    event.u.input2.size = (uint16_t)size;
    if (size > 0) memcpy(event.u.input2.data, report, size);
    // Only the bytes in use: a frame is a few dozen bytes, the event 4 KiB.
    return write_event(fd, &event, offsetof(struct uhid_event, u.input2.data) + size);
}

int cuhid_get_report_reply(int fd, uint32_t id, uint16_t error, const uint8_t *report, size_t size) {
    if (size > UHID_DATA_MAX || (size > 0 && report == NULL)) return -EINVAL;
    struct uhid_event event;
    memset(&event, 0, offsetof(struct uhid_event, u.get_report_reply.data));
    event.type = UHID_GET_REPORT_REPLY;
    event.u.get_report_reply.id = id;
    event.u.get_report_reply.err = error;
    event.u.get_report_reply.size = error == 0 ? (uint16_t)size : 0;
    if (error == 0 && size > 0) memcpy(event.u.get_report_reply.data, report, size);
    return write_event(fd, &event, offsetof(struct uhid_event, u.get_report_reply.data) + event.u.get_report_reply.size);
}

int cuhid_set_report_reply(int fd, uint32_t id, uint16_t error) {
    struct uhid_event event;
    memset(&event, 0, sizeof(event.type) + sizeof(event.u.set_report_reply));
    event.type = UHID_SET_REPORT_REPLY;
    event.u.set_report_reply.id = id;
    event.u.set_report_reply.err = error;
    return write_event(fd, &event, sizeof(event.type) + sizeof(event.u.set_report_reply));
}

static uint16_t copy_data(uint8_t *data, size_t capacity, const uint8_t *source, uint16_t size) {
    if (data == NULL) return 0;
    size_t length = size > UHID_DATA_MAX ? UHID_DATA_MAX : size;
    if (length > capacity) length = capacity;
    if (length > 0) memcpy(data, source, length);
    return (uint16_t)length;
}

int cuhid_read_request(int fd, cuhid_request *request, uint8_t *data, size_t capacity) {
    struct uhid_event event;
    ssize_t length;
    do {
        length = read(fd, &event, sizeof(event));
    } while (length < 0 && errno == EINTR);
    if (length < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    if ((size_t)length < sizeof(event.type)) return -EIO;
    // The kernel may write short events; what it did not write reads as zeros.
    if ((size_t)length < sizeof(event)) memset((uint8_t *)&event + length, 0, sizeof(event) - (size_t)length);

    memset(request, 0, sizeof(*request));
    request->raw_type = event.type;
    switch (event.type) {
    case UHID_START:
        request->kind = CUHID_REQUEST_START;
        request->flags = event.u.start.dev_flags;
        break;
    case UHID_STOP: request->kind = CUHID_REQUEST_STOP; break;
    case UHID_OPEN: request->kind = CUHID_REQUEST_OPEN; break;
    case UHID_CLOSE: request->kind = CUHID_REQUEST_CLOSE; break;
    case UHID_OUTPUT:
        request->kind = CUHID_REQUEST_OUTPUT;
        request->report_type = event.u.output.rtype;
        request->size = copy_data(data, capacity, event.u.output.data, event.u.output.size);
        request->report_number = request->size > 0 ? data[0] : 0;
        break;
    case UHID_GET_REPORT:
        request->kind = CUHID_REQUEST_GET_REPORT;
        request->id = event.u.get_report.id;
        request->report_number = event.u.get_report.rnum;
        request->report_type = event.u.get_report.rtype;
        break;
    case UHID_SET_REPORT:
        request->kind = CUHID_REQUEST_SET_REPORT;
        request->id = event.u.set_report.id;
        request->report_number = event.u.set_report.rnum;
        request->report_type = event.u.set_report.rtype;
        request->size = copy_data(data, capacity, event.u.set_report.data, event.u.set_report.size);
        break;
    default: request->kind = CUHID_REQUEST_OTHER; break;
    }
    return 1;
}

#endif // __linux__
