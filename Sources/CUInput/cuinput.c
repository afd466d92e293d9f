#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift sets it for CUInput)"
#endif

#include "CUInput.h"

#ifdef __linux__

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <libevdev/libevdev.h>

// The kernel ABI this file writes and reads byte for byte. A mismatch means the headers
// describe a different ABI from the one the code was written against: stop the build.
_Static_assert(sizeof(struct input_event) == 2 * sizeof(unsigned long) + 8,
               "struct input_event: timestamp of two longs, then type, code, value");
_Static_assert(offsetof(struct input_event, type) == 2 * sizeof(unsigned long), "input_event.type");
_Static_assert(sizeof(struct input_event) == CUINPUT_KERNEL_EVENT_SIZE, "CUINPUT_KERNEL_EVENT_SIZE");
_Static_assert(offsetof(struct input_event, type) == CUINPUT_KERNEL_EVENT_TYPE_OFFSET, "CUINPUT_KERNEL_EVENT_TYPE_OFFSET");
_Static_assert(offsetof(struct input_event, code) == CUINPUT_KERNEL_EVENT_CODE_OFFSET, "CUINPUT_KERNEL_EVENT_CODE_OFFSET");
_Static_assert(offsetof(struct input_event, value) == CUINPUT_KERNEL_EVENT_VALUE_OFFSET, "CUINPUT_KERNEL_EVENT_VALUE_OFFSET");
_Static_assert(sizeof(struct uinput_setup) == 92, "struct uinput_setup: input_id, name[80], ff_effects_max");
_Static_assert(sizeof(((struct uinput_setup *)0)->name) == UINPUT_MAX_NAME_SIZE, "uinput_setup.name");
_Static_assert(sizeof(struct uinput_abs_setup) == 28, "struct uinput_abs_setup: code, pad, input_absinfo");
_Static_assert(offsetof(struct uinput_abs_setup, absinfo) == 4, "uinput_abs_setup.absinfo");
_Static_assert(sizeof(struct ff_effect) == (sizeof(void *) == 8 ? 48 : 44),
               "struct ff_effect: header, then a union holding a user pointer");
_Static_assert(offsetof(struct ff_effect, id) == 2, "ff_effect.id");
_Static_assert(sizeof(struct uinput_ff_upload) == 8 + 2 * sizeof(struct ff_effect),
               "struct uinput_ff_upload: request_id, retval, effect, old");
_Static_assert(sizeof(struct uinput_ff_erase) == 12, "struct uinput_ff_erase: request_id, retval, effect_id");

// ioctl, retried when a signal interrupts it.
static int xioctl(int fd, unsigned long request, void *argument) {
    int result;
    do {
        result = ioctl(fd, request, argument);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

// The UI_SET_*BIT request for codes of an event type, or 0 for types whose codes cannot be set.
static unsigned long set_bit_request(uint16_t type, const char **name) {
    switch (type) {
    case EV_KEY: *name = "ioctl(UI_SET_KEYBIT)"; return UI_SET_KEYBIT;
    case EV_REL: *name = "ioctl(UI_SET_RELBIT)"; return UI_SET_RELBIT;
    case EV_ABS: *name = "ioctl(UI_SET_ABSBIT)"; return UI_SET_ABSBIT;
    case EV_MSC: *name = "ioctl(UI_SET_MSCBIT)"; return UI_SET_MSCBIT;
    case EV_LED: *name = "ioctl(UI_SET_LEDBIT)"; return UI_SET_LEDBIT;
    case EV_SND: *name = "ioctl(UI_SET_SNDBIT)"; return UI_SET_SNDBIT;
    case EV_FF: *name = "ioctl(UI_SET_FFBIT)"; return UI_SET_FFBIT;
    case EV_SW: *name = "ioctl(UI_SET_SWBIT)"; return UI_SET_SWBIT;
    default: *name = "event type"; return 0;
    }
}

int cuinput_create(int fd, const cuinput_description *d, const char **failed_operation) {
    const char *unused;
    if (failed_operation == NULL) failed_operation = &unused;
    int result;

    for (size_t i = 0; i < d->event_type_count; i++) {
        if ((result = xioctl(fd, UI_SET_EVBIT, (void *)(uintptr_t)d->event_types[i])) < 0) {
            *failed_operation = "ioctl(UI_SET_EVBIT)";
            return result;
        }
    }
    for (size_t i = 0; i < d->capability_count; i++) {
        unsigned long request = set_bit_request(d->capabilities[i].type, failed_operation);
        if (request == 0) return -EINVAL;
        if ((result = xioctl(fd, request, (void *)(uintptr_t)d->capabilities[i].code)) < 0) return result;
    }
    // UI_ABS_SETUP also sets the axis' bit in absbit.
    for (size_t i = 0; i < d->axis_count; i++) {
        const cuinput_axis *axis = &d->axes[i];
        struct uinput_abs_setup setup = {
            .code = axis->code,
            .absinfo = {
                .minimum = axis->minimum,
                .maximum = axis->maximum,
                .fuzz = axis->fuzz,
                .flat = axis->flat,
                .resolution = axis->resolution,
            },
        };
        if ((result = xioctl(fd, UI_ABS_SETUP, &setup)) < 0) {
            *failed_operation = "ioctl(UI_ABS_SETUP)";
            return result;
        }
    }
    for (size_t i = 0; i < d->property_count; i++) {
        if ((result = xioctl(fd, UI_SET_PROPBIT, (void *)(uintptr_t)d->properties[i])) < 0) {
            *failed_operation = "ioctl(UI_SET_PROPBIT)";
            return result;
        }
    }
    if (d->phys != NULL && d->phys[0] != '\0') {
        if ((result = xioctl(fd, UI_SET_PHYS, (void *)d->phys)) < 0) {
            *failed_operation = "ioctl(UI_SET_PHYS)";
            return result;
        }
    }

    // UI_DEV_SETUP rather than libevdev_uinput: it is the only way to set ff_effects_max.
    struct uinput_setup setup;
    memset(&setup, 0, sizeof setup);
    setup.id.bustype = d->bustype;
    setup.id.vendor = d->vendor;
    setup.id.product = d->product;
    setup.id.version = d->version;
    setup.ff_effects_max = d->ff_effects_max;
    size_t name_length = d->name == NULL ? 0 : strlen(d->name);
    if (name_length == 0 || name_length >= sizeof setup.name) {
        *failed_operation = "name";
        return -EINVAL;
    }
    memcpy(setup.name, d->name, name_length);
    if ((result = xioctl(fd, UI_DEV_SETUP, &setup)) < 0) {
        *failed_operation = "ioctl(UI_DEV_SETUP)";
        return result;
    }
    if ((result = xioctl(fd, UI_DEV_CREATE, NULL)) < 0) {
        *failed_operation = "ioctl(UI_DEV_CREATE)";
        return result;
    }
    return 0;
}

int cuinput_destroy(int fd) {
    int result = xioctl(fd, UI_DEV_DESTROY, NULL);
    return result < 0 ? result : 0;
}

int cuinput_sysname(int fd, char *buffer, size_t length) {
    if (length == 0) return -EINVAL;
    memset(buffer, 0, length);
    // The kernel copies at most length bytes and may leave them unterminated.
    int result = xioctl(fd, UI_GET_SYSNAME(length - 1), buffer);
    return result < 0 ? result : 0;
}

int cuinput_write_events(int fd, const cuinput_event *events, size_t count) {
    if (count == 0) return 0;
    if (count > SIZE_MAX / sizeof(struct input_event)) return -EOVERFLOW;

    // Small batches (the usual case) stay on the stack.
    struct input_event stack[64];
    struct input_event *batch = stack;
    if (count > sizeof stack / sizeof stack[0]) {
        batch = calloc(count, sizeof *batch);
        if (batch == NULL) return -ENOMEM;
    } else {
        memset(stack, 0, count * sizeof stack[0]);
    }
    for (size_t i = 0; i < count; i++) {
        batch[i].type = events[i].type;
        batch[i].code = events[i].code;
        batch[i].value = events[i].value;
    }

    int result = cuinput_write_kernel_events(fd, batch, count);
    if (batch != stack) free(batch);
    return result;
}

int cuinput_write_kernel_events(int fd, const void *events, size_t count) {
    if (count == 0) return 0;
    if (count > SIZE_MAX / sizeof(struct input_event)) return -EOVERFLOW;
    size_t size = count * sizeof(struct input_event);
    ssize_t written;
    do {
        written = write(fd, events, size);
    } while (written < 0 && errno == EINTR);
    return written < 0 ? -errno : ((size_t)written == size ? 0 : -EIO);
}

// Acknowledges an upload and describes it. Always ends the upload once begun: the program
// in EVIOCSFF waits for the end (up to 30 s in the kernel) and then fails.
static int serve_upload(int fd, int32_t request_id, cuinput_feedback *out, const char **failed_operation) {
    struct uinput_ff_upload upload;
    memset(&upload, 0, sizeof upload);
    upload.request_id = (uint32_t)request_id;
    int result = xioctl(fd, UI_BEGIN_FF_UPLOAD, &upload);
    if (result < 0) {
        *failed_operation = "ioctl(UI_BEGIN_FF_UPLOAD)";
        return result;
    }
    memset(out, 0, sizeof *out);
    out->kind = CUINPUT_FEEDBACK_UPLOAD;
    out->effect_id = upload.effect.id;
    out->effect_type = upload.effect.type;
    out->length_ms = upload.effect.replay.length;
    if (upload.effect.type == FF_RUMBLE) {
        out->strong_magnitude = upload.effect.u.rumble.strong_magnitude;
        out->weak_magnitude = upload.effect.u.rumble.weak_magnitude;
    }
    upload.retval = 0;
    result = xioctl(fd, UI_END_FF_UPLOAD, &upload);
    if (result < 0) {
        *failed_operation = "ioctl(UI_END_FF_UPLOAD)";
        return result;
    }
    return 0;
}

static int serve_erase(int fd, int32_t request_id, cuinput_feedback *out, const char **failed_operation) {
    struct uinput_ff_erase erase;
    memset(&erase, 0, sizeof erase);
    erase.request_id = (uint32_t)request_id;
    int result = xioctl(fd, UI_BEGIN_FF_ERASE, &erase);
    if (result < 0) {
        *failed_operation = "ioctl(UI_BEGIN_FF_ERASE)";
        return result;
    }
    memset(out, 0, sizeof *out);
    out->kind = CUINPUT_FEEDBACK_ERASE;
    out->effect_id = (int16_t)erase.effect_id;
    erase.retval = 0;
    result = xioctl(fd, UI_END_FF_ERASE, &erase);
    if (result < 0) {
        *failed_operation = "ioctl(UI_END_FF_ERASE)";
        return result;
    }
    return 0;
}

ssize_t cuinput_read_feedback(int fd, cuinput_feedback *out, size_t capacity, const char **failed_operation) {
    const char *unused;
    if (failed_operation == NULL) failed_operation = &unused;
    size_t filled = 0;
    // Each event yields at most one entry, so never read more events than there is room for:
    // the rest stay queued in the kernel for the next call.
    struct input_event events[16];
    while (filled < capacity) {
        size_t wanted = capacity - filled;
        if (wanted > sizeof events / sizeof events[0]) wanted = sizeof events / sizeof events[0];
        // Read only what is pending, even if the descriptor lost O_NONBLOCK: it is shared with
        // any session client it was handed to, and a blocked read here would stall the feedback
        // of every lease.
        struct pollfd pending = {.fd = fd, .events = POLLIN};
        if (poll(&pending, 1, 0) <= 0) break;
        ssize_t got;
        do {
            got = read(fd, events, wanted * sizeof events[0]);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            *failed_operation = "read";
            return -errno;
        }
        size_t count = (size_t)got / sizeof events[0];
        if (count == 0) break;

        for (size_t i = 0; i < count; i++) {
            const struct input_event *event = &events[i];
            cuinput_feedback *entry = &out[filled];
            int result;
            switch (event->type) {
            case EV_UINPUT:
                if (event->code == UI_FF_UPLOAD) {
                    if ((result = serve_upload(fd, event->value, entry, failed_operation)) < 0) return result;
                    filled++;
                } else if (event->code == UI_FF_ERASE) {
                    if ((result = serve_erase(fd, event->value, entry, failed_operation)) < 0) return result;
                    filled++;
                }
                break;
            case EV_FF:
                memset(entry, 0, sizeof *entry);
                entry->code = event->code;
                entry->value = event->value;
                // uinput passes gain and autocentre as EV_FF with these codes; every other
                // code is an effect id (always below FF_GAIN, the kernel's effect limit).
                if (event->code == FF_GAIN) {
                    entry->kind = CUINPUT_FEEDBACK_GAIN;
                    filled++;
                } else if (event->code < FF_GAIN) {
                    entry->kind = CUINPUT_FEEDBACK_PLAY;
                    entry->effect_id = (int16_t)event->code;
                    filled++;
                }
                break;
            case EV_LED:
                memset(entry, 0, sizeof *entry);
                entry->kind = CUINPUT_FEEDBACK_LED;
                entry->code = event->code;
                entry->value = event->value;
                filled++;
                break;
            default:
                // EV_SND, EV_REP settings and the like: nothing to report.
                break;
            }
        }
    }
    return (ssize_t)filled;
}

int cuinput_event_type_max(unsigned int type) {
    return libevdev_event_type_get_max(type);
}

const char *cuinput_event_type_name(unsigned int type) {
    return libevdev_event_type_get_name(type);
}

const char *cuinput_event_code_name(unsigned int type, unsigned int code) {
    return libevdev_event_code_get_name(type, code);
}

int cuinput_evdev_upload_rumble(int fd, int16_t id, uint16_t strong, uint16_t weak, uint16_t length_ms) {
    struct ff_effect effect;
    memset(&effect, 0, sizeof effect);
    effect.type = FF_RUMBLE;
    effect.id = id;
    effect.replay.length = length_ms;
    effect.u.rumble.strong_magnitude = strong;
    effect.u.rumble.weak_magnitude = weak;
    int result = xioctl(fd, EVIOCSFF, &effect);
    return result < 0 ? result : effect.id;
}

int cuinput_evdev_erase_effect(int fd, int16_t id) {
    int result = xioctl(fd, EVIOCRMFF, (void *)(intptr_t)id);
    return result < 0 ? result : 0;
}

#endif // __linux__
