/* Strict JSON parsing for the library's own readers (private side of xtc/json.h). */
#ifndef XTC_IO_JSON_H
#define XTC_IO_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "xtc/status.h"

/* xtc_json_validate, keeping the parsed tree in *out (cJSON_Delete it) on success. */
xtc_status xtc_json_parse_strict(const char *text, size_t len, const char *what, cJSON **out, struct xtc_error *err);

#endif
