/* csan_replay.c — everything is inline in include/csan_replay.h; SwiftPM needs one source file. */
#include "csan_replay.h"
