/* xtc — strict JSON for untrusted text (configs, golden case files, training states).
 * cJSON alone accepts trailing content after the first value ({...}{} or {...} garbage) and
 * keeps both values of a repeated key; xtc refuses both everywhere it reads JSON. */
#ifndef XTC_JSON_H
#define XTC_JSON_H

#include <stddef.h>

#include "xtc/export.h"
#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks that text (len bytes) holds exactly one JSON document, with only whitespace around
 * it, and that no object in it repeats a key. `what` names the text in the message (a file
 * name, say). Errors: XTC_ERR_FORMAT, with the byte offset of a syntax error or of the
 * trailing content, or the key path of a repeated key (e.g. "kwargs.attn_layers.kwargs.dim");
 * XTC_ERR_NOMEM. Thread safety: reentrant (only a failed parse writes cJSON's error pointer,
 * which xtc never reads). */
XTC_API xtc_status xtc_json_validate(const char *text, size_t len, const char *what, struct xtc_error *err);

#ifdef __cplusplus
}
#endif
#endif
