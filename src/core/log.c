/* The log callback (ggml's ggml_log_set): the library reports soft problems,
 * such as a rotary dimension below 32, here and never on stdout/stderr. */
#include "core/status.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

/* The callback and its user data change together: a tiny spin lock guards the pair (held for
 * two pointer copies; never while the callback runs, so a callback may call xtc_log_set).
 * Logging is rare (configuration warnings), never on a hot path. */
static atomic_flag g_log_lock = ATOMIC_FLAG_INIT;
static xtc_log_fn g_log_fn;
static void *g_log_user;

static void lock(void) {
    while (atomic_flag_test_and_set_explicit(&g_log_lock, memory_order_acquire))
        ;
}

static void unlock(void) { atomic_flag_clear_explicit(&g_log_lock, memory_order_release); }

void xtc_log_set(xtc_log_fn fn, void *user_data) {
    lock();
    g_log_fn = fn;
    g_log_user = user_data;
    unlock();
}

void xtc_log(enum xtc_log_level level, const char *fmt, ...) {
    lock();
    xtc_log_fn fn = g_log_fn;
    void *user = g_log_user;
    unlock();
    if (!fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(level, msg, user);
}
