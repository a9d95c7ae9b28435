/* CSanABI — umbrella header for the SAN SPI on Linux. A C program needs only
 * `cc -I Sources/CSanABI/include` and `#include <CSanABI.h>`. */
#ifndef CSAN_ABI_H
#define CSAN_ABI_H
#include "san_types.h"
#include "san_spi.h"
#include "san_ext.h"
#endif
