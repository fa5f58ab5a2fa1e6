/* Strict JSON (xtc/json.h): one document, no repeated keys, errors with positions. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/json.h"
#include "xtc/json.h"

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key repeated in an object of the tree under node, its path written into path
 * (buffer of n bytes, holding the path of node on entry); NULL when there is none.
 * *nomem is set when the key list could not be allocated. */
static const char *find_repeat(const cJSON *node, char *path, size_t n, bool *nomem) {
    size_t at = strlen(path);
    if (cJSON_IsObject(node)) {
        size_t count = 0;
        for (const cJSON *c = node->child; c; c = c->next)
            count++;
        const char **keys = malloc(sizeof(char *) * (count ? count : 1));
        if (!keys) {
            *nomem = true;
            return NULL;
        }
        size_t k = 0;
        for (const cJSON *c = node->child; c; c = c->next)
            keys[k++] = c->string ? c->string : "";
        qsort(keys, count, sizeof(char *), cmp_key);
        const char *dup = NULL;
        for (size_t i = 1; i < count && !dup; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0)
                dup = keys[i];
        free(keys);
        if (dup) {
            snprintf(path + at, n - at, "%s%s", at ? "." : "", dup);
            return dup;
        }
    }
    size_t index = 0;
    for (const cJSON *c = node->child; c; c = c->next, index++) {
        if (cJSON_IsObject(node))
            snprintf(path + at, n - at, "%s%s", at ? "." : "", c->string ? c->string : "");
        else
            snprintf(path + at, n - at, "[%zu]", index);
        const char *dup = find_repeat(c, path, n, nomem);
        if (dup || *nomem)
            return dup;
        path[at] = '\0';
    }
    return NULL;
}

static bool blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

xtc_status xtc_json_parse_strict(const char *text, size_t len, const char *what, cJSON **out, struct xtc_error *err) {
    *out = NULL;
    if (!text)
        XTC_FAIL(err, XTC_ERR_ARG, "%s: no text", what);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        if (at >= len)
            XTC_FAIL(err, XTC_ERR_FORMAT, "%s: not valid JSON (the text ends early, at byte %zu)", what, len);
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: not valid JSON (at byte %zu)", what, at);
    }
    const char *p = end ? end : text + len;
    while (p < text + len && blank(*p))
        p++;
    if (p < text + len) {
        cJSON_Delete(root);
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: trailing content after the JSON document at byte %zu", what,
                 (size_t)(p - text));
    }
    char path[512] = "";
    bool nomem = false;
    const char *dup = find_repeat(root, path, sizeof path, &nomem);
    if (dup || nomem) {
        cJSON_Delete(root);
        if (nomem)
            XTC_FAIL(err, XTC_ERR_NOMEM, "%s: out of memory checking keys", what);
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: key '%s' appears twice", what, path);
    }
    *out = root;
    return XTC_OK;
}

xtc_status xtc_json_validate(const char *text, size_t len, const char *what, struct xtc_error *err) {
    cJSON *root;
    XTC_TRY(xtc_json_parse_strict(text, len, what ? what : "JSON", &root, err));
    cJSON_Delete(root);
    return XTC_OK;
}
