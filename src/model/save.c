/* Saving a model as a directory x-transformers can load: config.json (the
 * constructor call) and model.safetensors (the state_dict, persistent buffers
 * included, x-transformers' names). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/atomic_file.h"
#include "model/model.h"
#include "xtc/safetensors.h"

xtc_status xtc_model_save_dir(const struct xtc_model *m, const char *dir, struct xtc_error *err) {
    if (!m || !dir)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_save_dir: NULL argument");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    XTC_TRY(xtc_write_file_atomic(path, m->config_json, strlen(m->config_json), err));
    struct xtc_safetensors_tensor *t = calloc((size_t)(m->n_params ? m->n_params : 1), sizeof *t);
    if (!t)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the list of %d tensors", m->n_params);
    for (int i = 0; i < m->n_params; i++) {
        const struct xtc_param *p = &m->params[i];
        t[i].name = p->name;
        t[i].dtype = XTC_DTYPE_F32;
        t[i].ndim = p->ndim;
        memcpy(t[i].shape, p->shape, sizeof(int64_t) * (size_t)p->ndim);
        t[i].data = m->data + p->offset;
    }
    static const char *meta[] = {"format", "pt", "producer", "xtc"};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    xtc_status rc = xtc_safetensors_write(path, t, (size_t)m->n_params, meta, 2, err);
    free(t);
    return rc;
}
