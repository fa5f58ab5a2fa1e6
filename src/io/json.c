/* Strict JSON (xtc/json.h): one document, no repeated keys, errors with positions. */
#include <cjson/cJSON.h>
#include <math.h>
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

static bool digit(char ch) { return ch >= '0' && ch <= '9'; }

/* What cJSON lets through and RFC 8259 does not: numbers with leading zeros ("02"), a
 * fraction or exponent without digits ("1.", "1e"), numbers beyond double ("1e999" parses as
 * inf), and raw control characters in strings. Returns the offset of the first, or len. */
static size_t lax_at(const char *t, size_t len, const char **why) {
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
            else if ((unsigned char)ch < 0x20)
                return *why = "a control character inside a string must be escaped", i;
            continue;
        }
        if (ch == '"') {
            in_string = true;
            continue;
        }
        if (ch != '-' && !digit(ch))
            continue;
        size_t start = i;
        if (ch == '-')
            i++;
        if (i < len && t[i] == '0' && i + 1 < len && digit(t[i + 1]))
            return *why = "a number with a leading zero", start;
        while (i < len && digit(t[i]))
            i++;
        if (i < len && t[i] == '.') {
            if (!(i + 1 < len && digit(t[i + 1])))
                return *why = "a number whose fraction has no digits", start;
            for (i++; i < len && digit(t[i]); i++) {}
        }
        if (i < len && (t[i] == 'e' || t[i] == 'E')) {
            i++;
            if (i < len && (t[i] == '+' || t[i] == '-'))
                i++;
            if (!(i < len && digit(t[i])))
                return *why = "a number whose exponent has no digits", start;
            while (i < len && digit(t[i]))
                i++;
        }
        char small[64], *buf = i - start < sizeof small ? small : malloc(i - start + 1);
        if (!buf)
            return *why = "a number too long to check (out of memory)", start;
        memcpy(buf, t + start, i - start);
        buf[i - start] = '\0';
        bool finite = isfinite(strtod(buf, NULL));
        if (buf != small)
            free(buf);
        if (!finite)
            return *why = "a number beyond the range of a double", start;
        i--; /* the loop's i++ moves to the character after the number */
    }
    return len;
}

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
    const char *why = NULL;
    size_t at = lax_at(text, len, &why);
    if (at < len) {
        cJSON_Delete(root);
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: not valid JSON (%s, at byte %zu)", what, why, at);
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
