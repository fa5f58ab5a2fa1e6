/* Config JSON helpers beyond parsing (private). */
#ifndef XTC_IO_CONFIG_JSON_H
#define XTC_IO_CONFIG_JSON_H

#include <stddef.h>

/* The config text with the defaults that differ between x-transformers releases written
 * out (a tied TransformerWrapper's tie_embedding_scale: 1.0 before 2.30.5, dim^-0.5
 * since), so that a checkpoint means the same under every release. Returns a malloc'd
 * string (free it), or NULL when the text is not JSON or memory ran out. */
char *xtc_config_json_explicit(const char *json, size_t len);

#endif
