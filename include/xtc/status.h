/* xtc — status codes, error messages and the log callback.
 *
 * Every fallible call returns an xtc_status and, when the caller passes a
 * struct xtc_error, writes a readable message into it. The library never
 * prints, exits or aborts on bad input. */
#ifndef XTC_STATUS_H
#define XTC_STATUS_H

#include "xtc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xtc_status {
    XTC_OK = 0,
    XTC_ERR_ARG,         /* a caller argument is invalid (NULL, out of range) */
    XTC_ERR_SHAPE,       /* tensor shapes do not fit each other or the model */
    XTC_ERR_CONFIG,      /* a model configuration is invalid */
    XTC_ERR_IO,          /* a file could not be opened, read or written */
    XTC_ERR_FORMAT,      /* a file is malformed (safetensors, JSON) */
    XTC_ERR_NOMEM,       /* an allocation failed */
    XTC_ERR_UNSUPPORTED, /* valid for x-transformers, not implemented by xtc */
    XTC_ERR_BACKEND,     /* BLAS / CUDA failure */
    XTC_ERR_NUMERIC,     /* a computation gave non-finite values (e.g. NaN logits while generating) */
} xtc_status;

#define XTC_ERROR_MSG_MAX 512

/* Filled by failing calls; the caller owns it (stack allocation is fine).
 * Passing NULL where a struct xtc_error * is expected is allowed: the
 * message is then dropped and only the status is returned. */
struct xtc_error {
    xtc_status code;
    char msg[XTC_ERROR_MSG_MAX];
};

/* Fixed, static text for a status ("shape mismatch", ...). Never NULL. */
XTC_API const char *xtc_status_str(xtc_status status);

enum xtc_log_level { XTC_LOG_DEBUG, XTC_LOG_INFO, XTC_LOG_WARN, XTC_LOG_ERROR };

typedef void (*xtc_log_fn)(enum xtc_log_level level, const char *msg, void *user_data);

/* Routes the library's log messages (e.g. "rotary dim 8 below 32" warnings)
 * to fn. With fn == NULL (the default) messages are dropped.
 * Thread safety: the callback is process-wide (one for all handles and threads).
 * xtc_log_set may be called from any thread at any time: fn and user_data are
 * swapped together, so a message goes to one consistent pair, but a message
 * being delivered while the pair changes may still reach the old one (keep the
 * old user_data alive until no thread is inside the library). fn is called from
 * whichever thread is running the library call that logs, possibly from several
 * threads at once, so it must be thread-safe itself; it may call xtc_log_set. */
XTC_API void xtc_log_set(xtc_log_fn fn, void *user_data);

#ifdef __cplusplus
}
#endif
#endif
