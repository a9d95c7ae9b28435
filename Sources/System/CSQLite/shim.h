/* SQLite C API, through pkg-config sqlite3. Used only by SanTraceStore/SQLite*.swift. */
#include <sqlite3.h>
