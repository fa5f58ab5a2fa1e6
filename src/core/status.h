/* Private error helpers: one macro formats the message and returns. */
#ifndef XTC_CORE_STATUS_H
#define XTC_CORE_STATUS_H

#include "xtc/status.h"

#if defined(__GNUC__)
#define XTC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define XTC_PRINTF(a, b)
#endif

/* Writes code and the formatted message into err (if not NULL); returns code. */
xtc_status xtc_error_set(struct xtc_error *err, xtc_status code, const char *fmt, ...) XTC_PRINTF(3, 4);
/* Prepends "prefix" to the message already in err (for context such as a file name). */
void xtc_error_prefix(struct xtc_error *err, const char *fmt, ...) XTC_PRINTF(2, 3);

#define XTC_FAIL(err, code, ...) return xtc_error_set((err), (code), __VA_ARGS__)
#define XTC_TRY(expr)                   \
    do {                                \
        xtc_status xtc_try_ = (expr);   \
        if (xtc_try_ != XTC_OK)         \
            return xtc_try_;            \
    } while (0)

void xtc_log(enum xtc_log_level level, const char *fmt, ...) XTC_PRINTF(2, 3);

#endif
