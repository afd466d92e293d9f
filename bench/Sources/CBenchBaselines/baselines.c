#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift sets it for CBenchBaselines)"
#endif

#include "CBenchBaselines.h"

#ifdef __linux__

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/uhid.h>

_Static_assert(sizeof(struct input_event) == 24, "struct input_event on x86_64: 16 bytes of time, type, code, value");

int64_t cbench_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

// write(2) of exactly `size` bytes, retried on EINTR; -EIO for a short write.
static int write_all(int fd, const void *bytes, size_t size) {
    ssize_t written;
    do {
        written = write(fd, bytes, size);
    } while (written < 0 && errno == EINTR);
    if (written < 0) return -errno;
    return (size_t)written == size ? 0 : -EIO;
}

int cbench_write_each(int fd, const struct input_event *events, size_t count) {
    for (size_t i = 0; i < count; i++) {
        int result = write_all(fd, &events[i], sizeof events[i]);
        if (result < 0) return result;
    }
    return 0;
}

int cbench_write_batches(int fd, const struct input_event *events, size_t count, size_t batch) {
    if (batch == 0) return -EINVAL;
    for (size_t start = 0; start < count; start += batch) {
        size_t length = count - start < batch ? count - start : batch;
        int result = write_all(fd, &events[start], length * sizeof events[0]);
        if (result < 0) return result;
    }
    return 0;
}

int cbench_libevdev_write_each(const struct libevdev_uinput *device, const struct input_event *events, size_t count) {
    for (size_t i = 0; i < count; i++) {
        int result = libevdev_uinput_write_event(device, events[i].type, events[i].code, events[i].value);
        if (result < 0) return result;
    }
    return 0;
}

static void sleep_ns(int64_t ns) {
    if (ns <= 0) return;
    struct timespec pause = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&pause, &pause) < 0 && errno == EINTR) {}
}

static int send_one(enum cbench_send_mode mode, int fd, const struct libevdev_uinput *device,
                    const struct input_event *frame, size_t length) {
    switch (mode) {
    case CBENCH_SEND_EACH: return cbench_write_each(fd, frame, length);
    case CBENCH_SEND_BATCH: return cbench_write_batches(fd, frame, length, length);
    case CBENCH_SEND_LIBEVDEV: return cbench_libevdev_write_each(device, frame, length);
    default: return -EINVAL;
    }
}

int cbench_send_frames(enum cbench_send_mode mode, int fd, const struct libevdev_uinput *device,
                       const struct input_event *frame, size_t frame_length, size_t sequence_index,
                       size_t frames, int ack_fd, int64_t gap_ns, int64_t *sent_ns) {
    if (frame_length == 0 || frame_length > 64 || sequence_index >= frame_length) return -EINVAL;
    struct input_event copy[64];
    memcpy(copy, frame, frame_length * sizeof frame[0]);
    for (size_t i = 0; i < frames; i++) {
        copy[sequence_index].value = (int32_t)i;
        sent_ns[i] = cbench_now_ns();
        int result = send_one(mode, fd, device, copy, frame_length);
        if (result < 0) return result;
        char ack;
        ssize_t got;
        do {
            got = read(ack_fd, &ack, 1);
        } while (got < 0 && errno == EINTR);
        if (got < 0) return -errno;
        if (got == 0) return -EPIPE;
        sleep_ns(gap_ns);
    }
    copy[sequence_index].value = -1;
    return send_one(mode, fd, device, copy, frame_length);
}

struct cbench_reader {
    pthread_t thread;
    int fd;
    int ack_fd;
    // -1: frames are numbered by their MSC_SCAN; else the EV_ABS code whose events are counted.
    int abs_code;
    size_t capacity;
    int64_t *received_ns;
    atomic_long count;
    pthread_mutex_t lock;
    pthread_cond_t stopped;
    int done;
};

static void mark_done(cbench_reader *reader) {
    pthread_mutex_lock(&reader->lock);
    reader->done = 1;
    pthread_cond_signal(&reader->stopped);
    pthread_mutex_unlock(&reader->lock);
}

static void acknowledge_frame(const cbench_reader *reader) {
    if (reader->ack_fd < 0) return;
    ssize_t written;
    do {
        written = write(reader->ack_fd, "\n", 1);
    } while (written < 0 && errno == EINTR);
}

// Counting mode: the frame's axis event stamps it, its SYN_REPORT acknowledges it, and the loop
// ends only after the last frame's acknowledgement, which its sender waits for.
static void *count_loop(void *argument) {
    cbench_reader *reader = argument;
    struct input_event events[64];
    int acknowledge = 0;
    for (;;) {
        ssize_t got = read(reader->fd, events, sizeof events);
        int64_t now = cbench_now_ns();
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        size_t count = (size_t)got / sizeof events[0];
        int last = 0;
        for (size_t i = 0; i < count; i++) {
            const struct input_event *event = &events[i];
            if (event->type == EV_ABS && event->code == reader->abs_code && !acknowledge) {
                size_t index = (size_t)atomic_load(&reader->count);
                if (index < reader->capacity) {
                    reader->received_ns[index] = now;
                    acknowledge = 1;
                }
            } else if (event->type == EV_SYN && event->code == SYN_REPORT && acknowledge) {
                acknowledge = 0;
                if ((size_t)atomic_fetch_add(&reader->count, 1) + 1 >= reader->capacity) last = 1;
                acknowledge_frame(reader);
            }
        }
        if (last) break;
    }
    mark_done(reader);
    return NULL;
}

static void *read_loop(void *argument) {
    cbench_reader *reader = argument;
    struct input_event events[64];
    int stop = 0;
    int acknowledge = 0;
    while (!stop) {
        ssize_t got = read(reader->fd, events, sizeof events);
        int64_t now = cbench_now_ns();
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        size_t count = (size_t)got / sizeof events[0];
        for (size_t i = 0; i < count; i++) {
            const struct input_event *event = &events[i];
            if (event->type == EV_MSC && event->code == MSC_SCAN) {
                if (event->value == -1) {
                    stop = 1;
                } else if (event->value >= 0 && (size_t)event->value < reader->capacity) {
                    reader->received_ns[event->value] = now;
                    acknowledge = 1;
                    if ((size_t)atomic_fetch_add(&reader->count, 1) + 1 >= reader->capacity) stop = 1;
                }
            } else if (event->type == EV_SYN && event->code == SYN_REPORT && acknowledge) {
                acknowledge = 0;
                acknowledge_frame(reader);
            }
        }
    }
    mark_done(reader);
    return NULL;
}

static int start_reader(const char *path, size_t capacity, int ack_fd, int abs_code, cbench_reader **out) {
    cbench_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) return -ENOMEM;
    reader->received_ns = malloc((capacity ? capacity : 1) * sizeof reader->received_ns[0]);
    if (reader->received_ns == NULL) {
        free(reader);
        return -ENOMEM;
    }
    for (size_t i = 0; i < capacity; i++) reader->received_ns[i] = -1;
    reader->capacity = capacity;
    reader->ack_fd = ack_fd;
    reader->abs_code = abs_code;
    atomic_init(&reader->count, 0);
    pthread_mutex_init(&reader->lock, NULL);
    pthread_cond_init(&reader->stopped, NULL);
    reader->fd = open(path, O_RDONLY | O_CLOEXEC);
    int result = reader->fd < 0 ? -errno : 0;
    if (result == 0) {
        result = -pthread_create(&reader->thread, NULL, abs_code < 0 ? read_loop : count_loop, reader);
        if (result < 0) close(reader->fd);
    }
    if (result < 0) {
        free(reader->received_ns);
        free(reader);
        return result;
    }
    *out = reader;
    return 0;
}

int cbench_reader_start(const char *path, size_t capacity, int ack_fd, cbench_reader **out) {
    return start_reader(path, capacity, ack_fd, -1, out);
}

int cbench_reader_start_counting(const char *path, size_t capacity, int ack_fd, uint16_t abs_code, cbench_reader **out) {
    return start_reader(path, capacity, ack_fd, abs_code, out);
}

long cbench_reader_finish(cbench_reader *reader, int64_t timeout_ms, int64_t *received_ns) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&reader->lock);
    int waited = 0;
    while (!reader->done && waited == 0) waited = pthread_cond_timedwait(&reader->stopped, &reader->lock, &deadline);
    int done = reader->done;
    pthread_mutex_unlock(&reader->lock);
    // read(2) is a cancellation point: a reader still blocked gives up here.
    if (!done) pthread_cancel(reader->thread);
    pthread_join(reader->thread, NULL);
    close(reader->fd);
    memcpy(received_ns, reader->received_ns, reader->capacity * sizeof received_ns[0]);
    long count = atomic_load(&reader->count);
    pthread_mutex_destroy(&reader->lock);
    pthread_cond_destroy(&reader->stopped);
    free(reader->received_ns);
    free(reader);
    return count;
}

int cbench_uhid_write_reports(int fd, const uint8_t *reports, size_t size, size_t count) {
    if (size == 0 || size > UHID_DATA_MAX) return -EINVAL;
    static _Thread_local struct uhid_event event;
    event.type = UHID_INPUT2;
    event.u.input2.size = (uint16_t)size;
    size_t length = offsetof(struct uhid_event, u.input2.data) + size;
    for (size_t i = 0; i < count; i++) {
        memcpy(event.u.input2.data, reports + i * size, size);
        int result = write_all(fd, &event, length);
        if (result < 0) return result;
    }
    return 0;
}

#endif // __linux__
