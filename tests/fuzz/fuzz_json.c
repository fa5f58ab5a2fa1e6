/* libFuzzer target for the strict JSON check that guards every JSON xtc reads (case files,
 * configs, training states): arbitrary bytes must be accepted or refused with a message,
 * never crash, and an accepted text must parse with cJSON to one document. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "xtc/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct xtc_error err;
    err.msg[0] = '\0';
    xtc_status rc = xtc_json_validate((const char *)data, size, "fuzz", &err);
    if (rc != XTC_OK) {
        if (!err.msg[0])
            __builtin_trap();
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (!j)
        __builtin_trap(); /* validated text that cJSON refuses */
    cJSON_Delete(j);
    return 0;
}
