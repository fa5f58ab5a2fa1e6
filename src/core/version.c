/* The library's version (xtc/version.h): compiled in, so a program can tell which
 * libxtc it runs with, whatever headers it was built against. */
#include "xtc/version.h"

const char *xtc_version(void) { return XTC_VERSION; }
