#include <sqlite3.h>

/* sqlite3_config is variadic: Swift cannot call it directly. */

/* Turns off SQLite's allocation statistics, which take a global mutex on every
 * malloc and free. Must run before SQLite initializes (later: SQLITE_MISUSE, harmless). */
static inline int nt_sqlite3_disable_memstatus(void) {
	return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
