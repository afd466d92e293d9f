// CBenchBaselines: the loops fractal-bench compares fractal-agent against, in plain C so that
// nothing but the system call (or the library call) is inside them, and the reader that
// timestamps events as a program blocked on /dev/input/eventN receives them.
//
// Every function returns 0 (or a count) on success and -errno on failure.
#ifndef CBENCHBASELINES_H
#define CBENCHBASELINES_H

#ifdef __linux__

#include <stddef.h>
#include <stdint.h>
#include <linux/input.h>
#include <libevdev/libevdev-uinput.h>

/// CLOCK_MONOTONIC in nanoseconds: the clock every latency in fractal-bench is measured on,
/// shared by all processes on the machine (python3-evdev's sender included).
int64_t cbench_now_ns(void);

/// The floor: one write(2) of one `struct input_event` per event. Returns 0 or -errno.
int cbench_write_each(int fd, const struct input_event *events, size_t count);

/// The events in chunks of `batch`, one write(2) per chunk: what the kernel costs for a batch
/// with nothing around the call.
int cbench_write_batches(int fd, const struct input_event *events, size_t count, size_t batch);

/// libevdev_uinput_write_event once per event (what inputtino does).
int cbench_libevdev_write_each(const struct libevdev_uinput *device, const struct input_event *events, size_t count);

/// How a latency sender writes one frame.
enum cbench_send_mode {
    /// One write(2) per event.
    CBENCH_SEND_EACH = 1,
    /// One write(2) for the frame.
    CBENCH_SEND_BATCH = 2,
    /// libevdev_uinput_write_event per event.
    CBENCH_SEND_LIBEVDEV = 3,
};

/// Sends `frames` copies of `frame`, with event `sequence_index` of the frame carrying the frame's
/// number as its value; stamps CLOCK_MONOTONIC into `sent_ns[i]` just before frame i's first
/// write, then waits for one acknowledgement byte on `ack_fd` (from the reader) and `gap_ns`
/// more, so that every frame finds the reader blocked and idle. Ends with a frame whose number
/// is -1, which stops the reader. `fd` is the uinput descriptor (unused for libevdev).
int cbench_send_frames(enum cbench_send_mode mode, int fd, const struct libevdev_uinput *device,
                       const struct input_event *frame, size_t frame_length, size_t sequence_index,
                       size_t frames, int ack_fd, int64_t gap_ns, int64_t *sent_ns);

/// A thread blocked in read(2) on an event node.
typedef struct cbench_reader cbench_reader;

/// Opens `path` (blocking reads) and starts a thread that reads it. For every MSC_SCAN event
/// with a value s in [0, capacity) it records the time right after the read(2) that returned
/// it, and writes one byte to `ack_fd` (if >= 0) once the frame's SYN_REPORT is in. It stops at
/// an MSC_SCAN of -1, after `capacity` frames, or on a read error (the device went away).
int cbench_reader_start(const char *path, size_t capacity, int ack_fd, cbench_reader **reader);

/// The same reader for a device whose events carry no frame number (a game pad made through
/// uhid reports only what its driver parses): frame i is the i-th frame (events up to a
/// SYN_REPORT) holding an EV_ABS event with `abs_code`, stamped at the read(2) that returned
/// that event. The sender must change that axis in every frame. It stops once it has
/// acknowledged frame `capacity - 1`, or on a read error.
int cbench_reader_start_counting(const char *path, size_t capacity, int ack_fd, uint16_t abs_code, cbench_reader **reader);

/// Waits up to `timeout_ms` for the reader to stop (cancelling it after that), copies the
/// receive times into `received_ns` (capacity entries; -1 where nothing arrived), frees the
/// reader and returns how many frames arrived.
long cbench_reader_finish(cbench_reader *reader, int64_t timeout_ms, int64_t *received_ns);

/// One write(2) of a UHID_INPUT2 event per report, with nothing else around the call: `count`
/// reports of `size` bytes each, back to back in `reports`, to the uhid descriptor `fd`. Only
/// the event's bytes in use are written, as fractal-agent's CUHID does.
int cbench_uhid_write_reports(int fd, const uint8_t *reports, size_t size, size_t count);

#endif // __linux__

#endif // CBENCHBASELINES_H
