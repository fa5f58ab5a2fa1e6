/* xtc — umbrella header: every public header of libxtc.
 *
 * Naming, the same in every header:
 *   - Functions are xtc_<noun>_<verb> (xtc_model_load, xtc_kv_cache_reset, xtc_threads_set);
 *     names that mirror a PyTorch or x-transformers function keep its wording
 *     (xtc_cross_entropy, xtc_clip_grad_norm, xtc_generate). Macros and enum values are XTC_*.
 *   - One prefix per module, the header's name: xtc_safetensors_* (safetensors.h),
 *     xtc_rope_* (rope.h), xtc_model_* (model.h), ... Positional schemes are named as the
 *     literature does in C identifiers (rope, XTC_ROPE_*); configuration fields keep the
 *     x-transformers keyword they come from (rotary, rotary_emb_dim, rotary_layout).
 *   - Constructors, each paired with an xtc_<noun>_free that accepts NULL:
 *       _create(&handle, ...)  a new opaque handle from arguments in memory (xtc_model_create,
 *                              xtc_kv_cache_create, xtc_trainer_create);
 *       _load(&handle, path)   a new handle from files (xtc_model_load, xtc_model_load_dir);
 *       _open / _parse         a safetensors handle over a mapped file / a copied buffer;
 *       _init(struct *, ...)   fills a caller-owned struct, whose _free releases what init
 *                              allocated (xtc_adamw_init).
 *     Not constructors: _default(struct *) fills an options struct with defaults
 *     (xtc_gen_options_default); _make(...) returns a value struct that owns nothing
 *     (xtc_tensor_make).
 *   - Getters of a const handle return const data (xtc_model_param); writable access is a
 *     separate function taking the non-const handle (xtc_model_param_data).
 *   - Counts are n_* in structs; functions returning a count end in _count (number of
 *     entries: xtc_model_param_count, xtc_safetensors_count) or name what they count
 *     (xtc_model_num_params: trainable floats).
 *
 * Every function declared in these headers is marked XTC_API (export.h) and exported from
 * libxtc.so, and nothing else is: the test api/exports compares the two lists. */
#ifndef XTC_H
#define XTC_H

#include "xtc/backend.h"
#include "xtc/config.h"
#include "xtc/cpu.h"
#include "xtc/dist.h"
#include "xtc/export.h"
#include "xtc/file.h"
#include "xtc/generate.h"
#include "xtc/json.h"
#include "xtc/model.h"
#include "xtc/rope.h"
#include "xtc/safetensors.h"
#include "xtc/status.h"
#include "xtc/tensor.h"
#include "xtc/train.h"
#include "xtc/version.h"

#endif
