// fractal_session.h: the fractal-agent session socket's wire format, version 1.1, for C
// streaming servers (docs/SESSION-PROTOCOL.md). Header-only: copy it into your project.
//
// Every frame is an 8-byte header (type, flags = 0, payload length) and a payload of at most
// FS_MAX_PAYLOAD bytes; every integer is little-endian. The structs below are the layouts;
// the fs_put_* encoders write them byte by byte, so they work on any host byte order.
#ifndef FRACTAL_SESSION_H
#define FRACTAL_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FS_VERSION_MAJOR 1
#define FS_VERSION_MINOR 1 /* 1.1: TEXT, LIGHTBAR, PLAYER_LIGHTS */
#define FS_HEADER_SIZE 8
#define FS_MAX_PAYLOAD 65536
#define FS_EVENT_SIZE 8
#define FS_EVENTS_HEADER_SIZE 4
/// The most events one EVENTS frame carries.
#define FS_MAX_EVENTS_PER_FRAME 8191 /* (FS_MAX_PAYLOAD - FS_EVENTS_HEADER_SIZE) / FS_EVENT_SIZE */
#define FS_TEXT_HEADER_SIZE 4
/// The most UTF-8 bytes of text one TEXT frame carries.
#define FS_MAX_TEXT_BYTES 4096

// Client to daemon.
#define FS_MSG_HELLO 0x0001
#define FS_MSG_EVENTS 0x0002
#define FS_MSG_GET_FDS 0x0003
#define FS_MSG_PING 0x0004
#define FS_MSG_TEXT 0x0005 /* 1.1 */
// Daemon to client.
#define FS_MSG_WELCOME 0x8001
#define FS_MSG_FDS 0x8003
#define FS_MSG_PONG 0x8004
#define FS_MSG_RUMBLE 0x8010
#define FS_MSG_LED 0x8011
#define FS_MSG_LIGHTBAR 0x8012 /* 1.1 */
#define FS_MSG_PLAYER_LIGHTS 0x8013 /* 1.1 */
#define FS_MSG_ERROR 0x80FF

// ERROR codes below 16 close the connection; the others leave it open.
#define FS_ERR_MALFORMED_HEADER 1
#define FS_ERR_UNKNOWN_TYPE 2
#define FS_ERR_PAYLOAD_TOO_LARGE 3
#define FS_ERR_BAD_PAYLOAD 4
#define FS_ERR_VERSION_MISMATCH 5
#define FS_ERR_HELLO_REQUIRED 6
#define FS_ERR_TOO_MANY_CONNECTIONS 7
#define FS_ERR_LEASE_RELEASED 8
#define FS_ERR_LEASE_CHANGED 9
#define FS_ERR_HELLO_TIMEOUT 10
#define FS_ERR_IDLE_TIMEOUT 11
#define FS_ERR_NO_SUCH_DEVICE 16
#define FS_ERR_DEVICE_REFUSED 17
#define FS_ERR_CAPABILITY_REFUSED 18
#define FS_ERR_FILTERED 19
#define FS_ERR_WRITE_FAILED 20
#define FS_ERR_FDS_UNAVAILABLE 21
#define FS_ERR_BUSY 22
#define FS_ERR_BAD_LAYOUT 23 /* 1.1 */
#define FS_ERR_UNTYPABLE 24 /* 1.1 */

/// Every frame starts with this.
struct __attribute__((packed)) fs_header {
    uint16_t type;
    uint16_t flags;  /* 0 */
    uint32_t length; /* payload bytes that follow */
};

/// HELLO, WELCOME (then the JSON manifest).
struct __attribute__((packed)) fs_version {
    uint16_t major;
    uint16_t minor;
};

/// EVENTS payload: this, then `count` fs_event.
struct __attribute__((packed)) fs_events {
    uint8_t device; /* index in the manifest */
    uint8_t reserved; /* 0 */
    uint16_t count;
};

/// One event: struct input_event without the timestamp.
struct __attribute__((packed)) fs_event {
    uint16_t type;
    uint16_t code;
    int32_t value;
};

/// PING, PONG.
struct __attribute__((packed)) fs_ping {
    uint32_t token;
};

/// ERROR payload: this, then a UTF-8 message (not NUL-terminated).
struct __attribute__((packed)) fs_error {
    uint32_t code;
    uint32_t reserved;
};

/// RUMBLE: strong = weak = 0 stops; duration_ms 0 plays until stopped.
struct __attribute__((packed)) fs_rumble {
    uint8_t device;
    uint8_t reserved;
    uint16_t strong;
    uint16_t weak;
    uint16_t duration_ms;
};

/// LED: `code` is LED_NUML, LED_CAPSL, ...; `on` is 0 or 1.
struct __attribute__((packed)) fs_led {
    uint8_t device;
    uint8_t reserved;
    uint16_t code;
    uint16_t on;
};

/// TEXT payload: this, then the layout, variant and options names (ASCII, not NUL-terminated),
/// then the UTF-8 text (at most FS_MAX_TEXT_BYTES).
struct __attribute__((packed)) fs_text {
    uint8_t device;
    uint8_t layout_length;  /* 0: us */
    uint8_t variant_length; /* 0: none */
    uint8_t options_length; /* 0: none */
};

/// LIGHTBAR (1.1): the pad's light bar colour; 0, 0, 0 is off.
struct __attribute__((packed)) fs_lightbar {
    uint8_t device;
    uint8_t red;
    uint8_t green;
    uint8_t blue;
};

/// PLAYER_LIGHTS (1.1): bit 0 of `mask` is the first (leftmost) player LED; a set bit is lit.
struct __attribute__((packed)) fs_player_lights {
    uint8_t device;
    uint8_t mask;
};

static inline void fs_put_u16(uint8_t *out, uint16_t value) {
    out[0] = (uint8_t)value;
    out[1] = (uint8_t)(value >> 8);
}

static inline void fs_put_u32(uint8_t *out, uint32_t value) {
    out[0] = (uint8_t)value;
    out[1] = (uint8_t)(value >> 8);
    out[2] = (uint8_t)(value >> 16);
    out[3] = (uint8_t)(value >> 24);
}

static inline uint16_t fs_get_u16(const uint8_t *in) {
    return (uint16_t)(in[0] | (in[1] << 8));
}

static inline uint32_t fs_get_u32(const uint8_t *in) {
    return (uint32_t)in[0] | ((uint32_t)in[1] << 8) | ((uint32_t)in[2] << 16) | ((uint32_t)in[3] << 24);
}

/// Writes a header; returns FS_HEADER_SIZE.
static inline size_t fs_put_header(uint8_t *out, uint16_t type, uint32_t length) {
    fs_put_u16(out, type);
    fs_put_u16(out + 2, 0);
    fs_put_u32(out + 4, length);
    return FS_HEADER_SIZE;
}

/// Reads a header; returns 0, or -1 if it is not valid in version 1 (flags, length).
static inline int fs_get_header(const uint8_t *in, struct fs_header *out) {
    out->type = fs_get_u16(in);
    out->flags = fs_get_u16(in + 2);
    out->length = fs_get_u32(in + 4);
    return (out->flags == 0 && out->length <= FS_MAX_PAYLOAD) ? 0 : -1;
}

/// HELLO frame (12 bytes). Returns the bytes written.
static inline size_t fs_encode_hello(uint8_t out[12]) {
    fs_put_header(out, FS_MSG_HELLO, 4);
    fs_put_u16(out + 8, FS_VERSION_MAJOR);
    fs_put_u16(out + 10, FS_VERSION_MINOR);
    return 12;
}

/// PING frame (12 bytes).
static inline size_t fs_encode_ping(uint8_t out[12], uint32_t token) {
    fs_put_header(out, FS_MSG_PING, 4);
    fs_put_u32(out + 8, token);
    return 12;
}

/// GET_FDS frame (8 bytes).
static inline size_t fs_encode_get_fds(uint8_t out[8]) {
    return fs_put_header(out, FS_MSG_GET_FDS, 0);
}

/// The size of an EVENTS frame with `count` events.
static inline size_t fs_events_frame_size(uint16_t count) {
    return FS_HEADER_SIZE + FS_EVENTS_HEADER_SIZE + (size_t)count * FS_EVENT_SIZE;
}

/// EVENTS frame into `out` (fs_events_frame_size(count) bytes); count at most
/// FS_MAX_EVENTS_PER_FRAME. Returns the bytes written, or 0 if count is too large.
static inline size_t fs_encode_events(uint8_t *out, uint8_t device, const struct fs_event *events, uint16_t count) {
    if (count > FS_MAX_EVENTS_PER_FRAME) return 0;
    uint8_t *at = out + fs_put_header(out, FS_MSG_EVENTS, (uint32_t)(FS_EVENTS_HEADER_SIZE + (size_t)count * FS_EVENT_SIZE));
    at[0] = device;
    at[1] = 0;
    fs_put_u16(at + 2, count);
    at += FS_EVENTS_HEADER_SIZE;
    for (uint16_t i = 0; i < count; i++, at += FS_EVENT_SIZE) {
        fs_put_u16(at, events[i].type);
        fs_put_u16(at + 2, events[i].code);
        fs_put_u32(at + 4, (uint32_t)events[i].value);
    }
    return (size_t)(at - out);
}

/// The size of a TEXT frame; names may be NULL (empty).
static inline size_t fs_text_frame_size(const char *layout, const char *variant, const char *options, size_t text_length) {
    return FS_HEADER_SIZE + FS_TEXT_HEADER_SIZE + (layout ? strlen(layout) : 0) + (variant ? strlen(variant) : 0)
        + (options ? strlen(options) : 0) + text_length;
}

/// TEXT frame into `out` (fs_text_frame_size(...) bytes): type `text_length` bytes of UTF-8
/// on the keyboard at `device` as the XKB `layout` (NULL or "": us), `variant` and `options`
/// (NULL or "": none) type it. Returns the bytes written, or 0 if the text is over
/// FS_MAX_TEXT_BYTES or a name over 255 bytes.
static inline size_t fs_encode_text(uint8_t *out, uint8_t device, const char *layout, const char *variant, const char *options,
                                    const char *text, size_t text_length) {
    const char *names[3] = {layout ? layout : "", variant ? variant : "", options ? options : ""};
    size_t lengths[3];
    size_t payload = FS_TEXT_HEADER_SIZE + text_length;
    if (text_length > FS_MAX_TEXT_BYTES) return 0;
    for (int i = 0; i < 3; i++) {
        lengths[i] = strlen(names[i]);
        if (lengths[i] > 255) return 0;
        payload += lengths[i];
    }
    uint8_t *at = out + fs_put_header(out, FS_MSG_TEXT, (uint32_t)payload);
    *at++ = device;
    for (int i = 0; i < 3; i++) *at++ = (uint8_t)lengths[i];
    for (int i = 0; i < 3; i++) {
        memcpy(at, names[i], lengths[i]);
        at += lengths[i];
    }
    memcpy(at, text, text_length);
    at += text_length;
    return (size_t)(at - out);
}

/// Decodes a RUMBLE payload of `length` bytes; returns 0, or -1 if too short.
static inline int fs_decode_rumble(const uint8_t *payload, uint32_t length, struct fs_rumble *out) {
    if (length < sizeof(struct fs_rumble)) return -1;
    out->device = payload[0];
    out->reserved = payload[1];
    out->strong = fs_get_u16(payload + 2);
    out->weak = fs_get_u16(payload + 4);
    out->duration_ms = fs_get_u16(payload + 6);
    return 0;
}

/// Decodes an LED payload; returns 0, or -1 if too short.
static inline int fs_decode_led(const uint8_t *payload, uint32_t length, struct fs_led *out) {
    if (length < sizeof(struct fs_led)) return -1;
    out->device = payload[0];
    out->reserved = payload[1];
    out->code = fs_get_u16(payload + 2);
    out->on = fs_get_u16(payload + 4);
    return 0;
}

/// Decodes a LIGHTBAR payload; returns 0, or -1 if too short.
static inline int fs_decode_lightbar(const uint8_t *payload, uint32_t length, struct fs_lightbar *out) {
    if (length < sizeof(struct fs_lightbar)) return -1;
    out->device = payload[0];
    out->red = payload[1];
    out->green = payload[2];
    out->blue = payload[3];
    return 0;
}

/// Decodes a PLAYER_LIGHTS payload; returns 0, or -1 if too short.
static inline int fs_decode_player_lights(const uint8_t *payload, uint32_t length, struct fs_player_lights *out) {
    if (length < sizeof(struct fs_player_lights)) return -1;
    out->device = payload[0];
    out->mask = payload[1];
    return 0;
}

/// Decodes an ERROR payload's code; the message is the `length - 8` bytes after it.
static inline int fs_decode_error(const uint8_t *payload, uint32_t length, struct fs_error *out) {
    if (length < sizeof(struct fs_error)) return -1;
    out->code = fs_get_u32(payload);
    out->reserved = fs_get_u32(payload + 4);
    return 0;
}

#endif // FRACTAL_SESSION_H
