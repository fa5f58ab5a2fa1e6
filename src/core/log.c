/* The log callback (ggml's ggml_log_set): the library reports soft problems,
 * such as a rotary dimension below 32, here and never on stdout/stderr. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>

static xtc_log_fn g_log_fn;
static void *g_log_user;

void xtc_log_set(xtc_log_fn fn, void *user_data) {
    g_log_fn = fn;
    g_log_user = user_data;
}

void xtc_log(enum xtc_log_level level, const char *fmt, ...) {
    if (!g_log_fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_log_fn(level, msg, g_log_user);
}
