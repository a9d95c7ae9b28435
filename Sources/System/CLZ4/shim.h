/* LZ4 frame API (lz4frame.h) and block API, through pkg-config liblz4. */
#include <lz4.h>
#include <lz4frame.h>
