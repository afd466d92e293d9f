// Compiles fractal_session.h as a C target so that its layouts are checked at build time
// against the wire format (docs/SESSION-PROTOCOL.md).
#include "fractal_session.h"

_Static_assert(sizeof(struct fs_header) == FS_HEADER_SIZE, "header is 8 bytes");
_Static_assert(offsetof(struct fs_header, type) == 0, "type at 0");
_Static_assert(offsetof(struct fs_header, flags) == 2, "flags at 2");
_Static_assert(offsetof(struct fs_header, length) == 4, "length at 4");
_Static_assert(sizeof(struct fs_version) == 4, "version is 4 bytes");
_Static_assert(offsetof(struct fs_version, minor) == 2, "minor at 2");
_Static_assert(sizeof(struct fs_events) == FS_EVENTS_HEADER_SIZE, "events header is 4 bytes");
_Static_assert(offsetof(struct fs_events, count) == 2, "count at 2");
_Static_assert(sizeof(struct fs_event) == FS_EVENT_SIZE, "event is 8 bytes");
_Static_assert(offsetof(struct fs_event, code) == 2, "code at 2");
_Static_assert(offsetof(struct fs_event, value) == 4, "value at 4");
_Static_assert(sizeof(struct fs_ping) == 4, "ping is 4 bytes");
_Static_assert(sizeof(struct fs_error) == 8, "error header is 8 bytes");
_Static_assert(sizeof(struct fs_rumble) == 8, "rumble is 8 bytes");
_Static_assert(offsetof(struct fs_rumble, strong) == 2, "strong at 2");
_Static_assert(offsetof(struct fs_rumble, weak) == 4, "weak at 4");
_Static_assert(offsetof(struct fs_rumble, duration_ms) == 6, "duration at 6");
_Static_assert(sizeof(struct fs_led) == 6, "led is 6 bytes");
_Static_assert(offsetof(struct fs_led, code) == 2, "led code at 2");
_Static_assert(offsetof(struct fs_led, on) == 4, "led on at 4");
_Static_assert(sizeof(struct fs_text) == FS_TEXT_HEADER_SIZE, "text header is 4 bytes");
_Static_assert(offsetof(struct fs_text, options_length) == 3, "options length at 3");
_Static_assert(sizeof(struct fs_lightbar) == 4, "lightbar is 4 bytes");
_Static_assert(offsetof(struct fs_lightbar, blue) == 3, "blue at 3");
_Static_assert(sizeof(struct fs_player_lights) == 2, "player lights are 2 bytes");
_Static_assert(FS_MAX_EVENTS_PER_FRAME == (FS_MAX_PAYLOAD - FS_EVENTS_HEADER_SIZE) / FS_EVENT_SIZE, "the most events that fit a payload");
