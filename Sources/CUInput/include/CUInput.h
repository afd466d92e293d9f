// CUInput: the parts of the kernel's uinput and evdev interfaces that Swift cannot reach.
//
// Function-like ioctl macros (UI_SET_EVBIT, EVIOCGNAME(len), ...) and the layout of
// struct input_event do not import into Swift, so the ioctl calls live here. Every
// function returns 0 (or a count) on success and -errno on failure; none keeps state.
#ifndef CUINPUT_H
#define CUINPUT_H

#ifdef __linux__

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
// Re-exported so that Swift sees the event-code constants (KEY_*, BTN_*, ABS_*, BUS_*, ...).
#include <linux/input.h>
#include <linux/uinput.h>

/// One event code a device can send, e.g. {EV_KEY, KEY_A}.
typedef struct cuinput_capability {
    uint16_t type;
    uint16_t code;
} cuinput_capability;

/// One absolute axis, with the fields of struct input_absinfo that describe its range.
typedef struct cuinput_axis {
    uint16_t code;
    int32_t minimum;
    int32_t maximum;
    int32_t fuzz;
    int32_t flat;
    int32_t resolution;
} cuinput_axis;

/// Everything uinput needs to create one device.
typedef struct cuinput_description {
    /// At most UINPUT_MAX_NAME_SIZE - 1 bytes.
    const char *name;
    /// NULL or "" for none.
    const char *phys;
    uint16_t bustype;
    uint16_t vendor;
    uint16_t product;
    uint16_t version;
    /// Event types to enable (EV_KEY, EV_REP, ...). EV_SYN is always on.
    const uint16_t *event_types;
    size_t event_type_count;
    /// Codes to enable; EV_ABS codes come from `axes` instead.
    const cuinput_capability *capabilities;
    size_t capability_count;
    const cuinput_axis *axes;
    size_t axis_count;
    /// INPUT_PROP_* bits.
    const uint16_t *properties;
    size_t property_count;
    /// Must be non-zero when EV_FF is enabled.
    uint32_t ff_effects_max;
} cuinput_description;

/// Configures and creates the device on an open /dev/uinput descriptor.
/// Returns 0, or -errno with `*failed_operation` naming the call that failed
/// (e.g. "ioctl(UI_DEV_CREATE)"). On failure the device was not created.
int cuinput_create(int fd, const cuinput_description *description, const char **failed_operation);

/// UI_DEV_DESTROY. Returns 0 or -errno.
int cuinput_destroy(int fd);

/// UI_GET_SYSNAME: the device's name under /sys/class/input ("input17"). Returns 0 or -errno.
int cuinput_sysname(int fd, char *buffer, size_t length);

/// One event as Swift sees it: no timestamp (the kernel stamps events on delivery).
typedef struct cuinput_event {
    uint16_t type;
    uint16_t code;
    int32_t value;
} cuinput_event;

/// Writes `count` events with a single write(2), so a reader never sees half a batch.
/// Returns 0 or -errno (-EIO for a short write).
int cuinput_write_events(int fd, const cuinput_event *events, size_t count);

/// The kernel's `struct input_event` as bytes, for a batch that Swift fills in place and
/// write(2) takes as it is (the session socket's one copy): a zeroed timestamp (the kernel
/// stamps events), then type, code and value at these offsets. Checked against
/// <linux/input.h> in cuinput.c; the struct itself does not import into Swift.
enum {
    CUINPUT_KERNEL_EVENT_SIZE = 2 * sizeof(unsigned long) + 8,
    CUINPUT_KERNEL_EVENT_TYPE_OFFSET = 2 * sizeof(unsigned long),
    CUINPUT_KERNEL_EVENT_CODE_OFFSET = 2 * sizeof(unsigned long) + 2,
    CUINPUT_KERNEL_EVENT_VALUE_OFFSET = 2 * sizeof(unsigned long) + 4,
};

/// Writes `count` events already in the kernel's layout with a single write(2), retrying on
/// EINTR. Returns 0 or -errno (-EIO for a short write).
int cuinput_write_kernel_events(int fd, const void *events, size_t count);

/// What a uinput device was asked to do by the programs that use it.
enum cuinput_feedback_kind {
    /// A force-feedback effect was uploaded (and acknowledged): `effect_*` fields are set.
    CUINPUT_FEEDBACK_UPLOAD = 1,
    /// The effect `effect_id` was erased (and the erase acknowledged).
    CUINPUT_FEEDBACK_ERASE = 2,
    /// The effect `effect_id` was played `value` times (0: stopped).
    CUINPUT_FEEDBACK_PLAY = 3,
    /// The force-feedback gain was set to `value`.
    CUINPUT_FEEDBACK_GAIN = 4,
    /// The LED `code` was set to `value` (0 off, 1 on).
    CUINPUT_FEEDBACK_LED = 5,
};

/// One item of feedback; which fields are meaningful depends on `kind`.
typedef struct cuinput_feedback {
    enum cuinput_feedback_kind kind;
    uint16_t code;
    int32_t value;
    int16_t effect_id;
    uint16_t effect_type;
    uint16_t strong_magnitude;
    uint16_t weak_magnitude;
    uint16_t length_ms;
} cuinput_feedback;

/// Reads what is pending on a non-blocking uinput descriptor, serving force-feedback
/// uploads and erases on the way (the requester blocks in EVIOCSFF/EVIOCRMFF until served).
/// Fills at most `capacity` entries and returns how many, or -errno with
/// `*failed_operation` set. Returns 0 when nothing is pending.
ssize_t cuinput_read_feedback(int fd, cuinput_feedback *out, size_t capacity, const char **failed_operation);

/// The highest code of an event type (KEY_MAX for EV_KEY, ...), or -1 for an unknown type.
int cuinput_event_type_max(unsigned int type);

/// The kernel's name of an event type ("EV_KEY"), or NULL.
const char *cuinput_event_type_name(unsigned int type);

/// The kernel's name of an event code ("KEY_A", "ABS_X"), or NULL.
const char *cuinput_event_code_name(unsigned int type, unsigned int code);

// Force-feedback requests on a device's /dev/input/eventN node, for the programs (and tests)
// on the other side of a uinput device. Reading names, ids and capabilities is libevdev's job.

/// EVIOCSFF: uploads a rumble effect (id -1 for a new one). Blocks until the uinput owner
/// serves the upload. Returns the effect id (>= 0) or -errno.
int cuinput_evdev_upload_rumble(int fd, int16_t id, uint16_t strong, uint16_t weak, uint16_t length_ms);

/// EVIOCRMFF: erases an effect. Blocks until the uinput owner serves the erase. Returns 0 or -errno.
int cuinput_evdev_erase_effect(int fd, int16_t id);

#endif // __linux__

#endif // CUINPUT_H
