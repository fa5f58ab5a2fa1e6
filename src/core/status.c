/* Status codes and error messages (SQLite-style fixed texts, plus a caller-owned
 * buffer for the detailed message so threads never overwrite each other's). */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *xtc_status_str(xtc_status status) {
    switch (status) {
    case XTC_OK: return "ok";
    case XTC_ERR_ARG: return "invalid argument";
    case XTC_ERR_SHAPE: return "shape mismatch";
    case XTC_ERR_CONFIG: return "invalid configuration";
    case XTC_ERR_IO: return "i/o error";
    case XTC_ERR_FORMAT: return "malformed file";
    case XTC_ERR_NOMEM: return "out of memory";
    case XTC_ERR_UNSUPPORTED: return "unsupported";
    case XTC_ERR_BACKEND: return "backend failure";
    case XTC_ERR_NUMERIC: return "non-finite values";
    }
    return "unknown status";
}

xtc_status xtc_error_set(struct xtc_error *err, xtc_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void xtc_error_prefix(struct xtc_error *err, const char *fmt, ...) {
    if (!err)
        return;
    char prefix[XTC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), mlen = strlen(err->msg);
    if (plen >= sizeof err->msg)
        plen = sizeof err->msg - 1;
    if (plen + mlen >= sizeof err->msg)
        mlen = sizeof err->msg - 1 - plen;
    memmove(err->msg + plen, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + mlen] = '\0';
}
