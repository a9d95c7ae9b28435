/* csan_support.h is header-only; this file exists because SwiftPM needs one source per C target. */
#include "csan_support.h"
