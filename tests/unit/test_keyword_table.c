/* The README's keyword table ("Every x-transformers keyword") against the parser.
 *
 * Each table row names one keyword, the class whose constructor takes it, a probe (a JSON
 * object of keywords added to a small model of that class: the keyword at a value other
 * than its default, with whatever companions it needs) and xtc's answer: "yes" or
 * "rejected". This test builds every probe with xtc_model_create and checks that
 *   - a "yes" row builds;
 *   - a "rejected" row fails (config parsing or model construction) with a message that
 *     names the keyword (nothing is silently ignored);
 *   - every keyword of reference §A that must be listed (P0 / P1 and the positional P2
 *     ones: `required` below) has a row, and no (keyword, class) pair has two.
 * So the table cannot go stale: changing what the parser accepts fails this test until the
 * row changes with it.
 *
 *   test_keyword_table [README]          the check (README defaults to the source tree's)
 *   test_keyword_table --print [README]  prints every row with the parser's actual answer and
 *                                        message, to write or update rows from
 *
 * main() returns non-zero if any check fails. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "xtc/xtc.h"

#ifndef XTC_README
#define XTC_README "README.md"
#endif

#define BEGIN_MARK "<!-- keyword-table begin -->"
#define END_MARK "<!-- keyword-table end -->"

/* Keywords reference §A lists as P0 / P1, and its positional P2 ones, by the class taking them. */
static const char *const required[][2] = {
    /* A.1 embedding and positions */
    {"num_tokens", "TransformerWrapper"}, {"max_seq_len", "TransformerWrapper"},
    {"attn_layers", "TransformerWrapper"}, {"use_abs_pos_emb", "TransformerWrapper"},
    {"scaled_sinu_pos_emb", "TransformerWrapper"}, {"emb_dim", "TransformerWrapper"},
    {"post_emb_norm", "TransformerWrapper"}, {"emb_dropout", "TransformerWrapper"},
    {"tie_embedding", "TransformerWrapper"}, {"logits_dim", "TransformerWrapper"},
    {"return_only_embed", "TransformerWrapper"}, {"input_not_include_cache", "TransformerWrapper"},
    {"max_mem_len", "TransformerWrapper"}, {"num_memory_tokens", "TransformerWrapper"},
    {"rotary_pos_emb", "Decoder"}, {"rotary_emb_dim", "Decoder"}, {"rotary_xpos", "Decoder"},
    {"rotary_xpos_scale_base", "Decoder"}, {"rotary_interpolation_factor", "Decoder"},
    {"rotary_base_rescale_factor", "Decoder"}, {"rotate_num_heads", "Decoder"}, {"alibi_pos_bias", "Decoder"},
    {"alibi_num_heads", "Decoder"}, {"rel_pos_bias", "Decoder"}, {"rel_pos_num_buckets", "Decoder"},
    {"rel_pos_max_distance", "Decoder"}, {"rel_pos_kwargs", "Decoder"}, {"dynamic_pos_bias", "Decoder"},
    {"dynamic_pos_bias_log_distance", "Decoder"}, {"dynamic_pos_bias_mlp_depth", "Decoder"},
    {"dynamic_pos_bias_norm", "Decoder"}, {"polar_pos_emb", "Decoder"}, {"polar_bias_uniform_init", "Decoder"},
    {"disable_abs_pos_emb", "Decoder"}, {"attn_use_cope", "Decoder"}, {"attn_cope_max_pos", "Decoder"},
    {"attn_cope_soft_onehot_pos", "Decoder"}, {"attn_cope_talking_heads", "Decoder"},
    {"attn_data_dependent_alibi", "Decoder"}, {"attn_data_dependent_alibi_per_row", "Decoder"},
    {"attn_data_dependent_alibi_per_row_dim_head", "Decoder"}, {"attn_data_dependent_alibi_kwargs", "Decoder"},
    {"attn_use_rel_proj_pos_bias", "Decoder"}, {"attn_rel_proj_num_distance_basis", "Decoder"},
    {"attn_rel_proj_max_dist", "Decoder"},
    /* A.2 attention */
    {"heads", "Decoder"}, {"attn_dim_head", "Decoder"}, {"causal", "Decoder"}, {"attn_num_mem_kv", "Decoder"},
    {"cross_attn_dim_context", "Decoder"}, {"attn_flash", "Decoder"}, {"attn_dropout", "Decoder"},
    {"attn_kv_heads", "Decoder"}, {"attn_one_kv_head", "Decoder"}, {"attn_qk_norm", "Decoder"},
    {"attn_qk_norm_groups", "Decoder"}, {"attn_qk_norm_scale", "Decoder"}, {"attn_qk_norm_dim_scale", "Decoder"},
    {"attn_qk_rmsnorm", "Decoder"}, {"attn_k_rmsnorm", "Decoder"}, {"attn_value_rmsnorm", "Decoder"},
    {"attn_sparse_topk", "Decoder"}, {"attn_sparse_topk_straight_through", "Decoder"},
    {"attn_pre_talking_heads", "Decoder"}, {"attn_post_talking_heads", "Decoder"},
    {"attn_pre_scale_post_talking_heads", "Decoder"}, {"attn_head_scale", "Decoder"},
    {"attn_gate_values", "Decoder"}, {"attn_gate_values_rank", "Decoder"}, {"attn_gate_values_headwise", "Decoder"},
    {"attn_output_gate", "Decoder"}, {"attn_output_gate_rank", "Decoder"}, {"attn_output_gate_headwise", "Decoder"},
    {"attn_low_rank_silu_gates", "Decoder"}, {"attn_swiglu_values", "Decoder"}, {"attn_gate_value_heads", "Decoder"}, {"attn_on_attn", "Decoder"},
    {"attn_onnxable", "Decoder"},
    /* A.3 layer stack */
    {"dim", "Decoder"}, {"depth", "Decoder"}, {"cross_attend", "Decoder"}, {"only_cross", "Decoder"},
    {"norm_add_unit_offset", "Decoder"}, {"pre_norm", "Decoder"}, {"pre_norm_has_final_norm", "Decoder"},
    {"use_rmsnorm", "Decoder"}, {"use_scalenorm", "Decoder"}, {"sandwich_norm", "Decoder"},
    {"residual_attn", "Decoder"}, {"cross_residual_attn", "Decoder"}, {"macaron", "Decoder"},
    {"weight_tie_layers", "Decoder"}, {"custom_layers", "Decoder"}, {"par_ratio", "Decoder"},
    {"sandwich_coef", "Decoder"}, {"layers_execute_order", "Decoder"}, {"shift_tokens", "Decoder"},
    {"scale_residual", "Decoder"}, {"scale_residual_constant", "Decoder"}, {"gate_residual", "Decoder"},
    {"layer_dropout", "Decoder"}, {"cross_attn_tokens_dropout", "Decoder"},
    /* A.4 feed-forward */
    {"ff_mult", "Decoder"}, {"ff_glu", "Decoder"}, {"ff_swish", "Decoder"}, {"ff_relu_squared", "Decoder"},
    {"ff_no_bias", "Decoder"}, {"ff_post_act_ln", "Decoder"}, {"ff_dropout", "Decoder"},
    /* A.6 wrappers */
    {"dim", "XTransformer"}, {"tie_token_emb", "XTransformer"}, {"ignore_index", "XTransformer"},
    {"pad_value", "XTransformer"}, {"cross_attn_tokens_dropout", "XTransformer"},
    {"dim_in", "ContinuousTransformerWrapper"}, {"dim_out", "ContinuousTransformerWrapper"},
    {"max_seq_len", "ContinuousTransformerWrapper"}, {"max_mem_len", "ContinuousTransformerWrapper"},
    {"num_memory_tokens", "ContinuousTransformerWrapper"}, {"post_emb_norm", "ContinuousTransformerWrapper"},
    {"emb_dropout", "ContinuousTransformerWrapper"}, {"use_abs_pos_emb", "ContinuousTransformerWrapper"},
    {"scaled_sinu_pos_emb", "ContinuousTransformerWrapper"}, {"average_pool_embed", "ContinuousTransformerWrapper"},
    {"probabilistic", "ContinuousTransformerWrapper"},
};

struct row {
    char kw[96], on[64], probe[512];
    bool yes;
    int line;
};

#define MAX_ROWS 512
static struct row rows[MAX_ROWS];
static int n_rows;

/* The text between the first pair of backticks of cell s, or "" */
static void backticked(const char *s, char *out, size_t cap) {
    out[0] = 0;
    const char *a = strchr(s, '`');
    const char *b = a ? strchr(a + 1, '`') : NULL;
    if (!b || (size_t)(b - a - 1) >= cap)
        return;
    memcpy(out, a + 1, (size_t)(b - a - 1));
    out[b - a - 1] = 0;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    size_t i = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* Rows between the markers: | `keyword` | class | `probe` | yes/rejected ... | why | */
static bool read_table(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return false;
    }
    char line[4096];
    bool in = false, seen_end = false;
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (strstr(line, BEGIN_MARK)) {
            in = true;
            continue;
        }
        if (strstr(line, END_MARK)) {
            seen_end = in;
            break;
        }
        if (!in || line[0] != '|' || strstr(line, "|---") || strstr(line, "| keyword "))
            continue;
        char *cell[6] = {0};
        int nc = 0;
        for (char *p = line + 1; *p && nc < 6; nc++) {
            cell[nc] = p;
            char *bar = strchr(p, '|');
            if (!bar)
                break;
            *bar = 0;
            p = bar + 1;
        }
        CHECK(nc >= 5, "README line %d: expected 5 cells", ln);
        if (nc < 5 || n_rows == MAX_ROWS)
            continue;
        struct row *r = &rows[n_rows++];
        r->line = ln;
        backticked(cell[0], r->kw, sizeof r->kw);
        snprintf(r->on, sizeof r->on, "%s", cell[1]);
        trim(r->on);
        backticked(cell[2], r->probe, sizeof r->probe);
        char ans[64];
        snprintf(ans, sizeof ans, "%s", cell[3]);
        trim(ans);
        r->yes = strncmp(ans, "yes", 3) == 0;
        CHECK(r->kw[0] && r->probe[0] == '{', "README line %d: keyword and probe must be in backticks", ln);
        CHECK(r->yes || strncmp(ans, "rejected", 8) == 0, "README line %d: answer '%s' is neither yes nor rejected",
              ln, ans);
    }
    fclose(f);
    CHECK(seen_end, "%s: no keyword table between %s and %s", path, BEGIN_MARK, END_MARK);
    return seen_end;
}

/* The base model of class `on`, as JSON text. */
static const char *base_config(const char *on) {
    if (!strcmp(on, "Decoder") || !strcmp(on, "Encoder") || !strcmp(on, "TransformerWrapper"))
        return "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 8, "
               "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
               "\"attn_dim_head\": 8}}}}";
    if (!strcmp(on, "ContinuousTransformerWrapper"))
        return "{\"class\": \"ContinuousTransformerWrapper\", \"kwargs\": {\"max_seq_len\": 8, \"dim_in\": 4, "
               "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
               "\"attn_dim_head\": 8}}}}";
    if (!strcmp(on, "XTransformer"))
        return "{\"class\": \"XTransformer\", \"kwargs\": {\"dim\": 16, \"enc_num_tokens\": 16, \"enc_depth\": 1, "
               "\"enc_heads\": 2, \"enc_attn_dim_head\": 8, \"enc_max_seq_len\": 8, \"dec_num_tokens\": 16, "
               "\"dec_depth\": 1, \"dec_heads\": 2, \"dec_attn_dim_head\": 8, \"dec_max_seq_len\": 8}}";
    return NULL;
}

/* The row's model: the base of its class with the probe's members set (replacing the base's
 * value of the same key) in the kwargs of the stack (Decoder, Encoder) or of the class.
 * Returns malloc'd JSON text, or NULL. */
static char *build_config(const struct row *r) {
    const char *base = base_config(r->on);
    cJSON *root = base ? cJSON_Parse(base) : NULL, *probe = cJSON_Parse(r->probe);
    char *text = NULL;
    if (root && cJSON_IsObject(probe)) {
        cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(root, "kwargs");
        if (!strcmp(r->on, "Decoder") || !strcmp(r->on, "Encoder")) {
            cJSON *al = cJSON_GetObjectItemCaseSensitive(kwargs, "attn_layers");
            cJSON_ReplaceItemInObjectCaseSensitive(al, "class", cJSON_CreateString(r->on));
            kwargs = cJSON_GetObjectItemCaseSensitive(al, "kwargs");
        }
        /* the row's keyword first: the parser reports the first keyword it refuses, and a
         * companion xtc also lacks must not answer for it */
        for (int pass = 0; pass < 2; pass++)
            for (cJSON *v = probe->child; v; v = v->next) {
                if ((strcmp(v->string, r->kw) == 0) != (pass == 0))
                    continue;
                cJSON_DeleteItemFromObjectCaseSensitive(kwargs, v->string);
                cJSON_AddItemToObject(kwargs, v->string, cJSON_Duplicate(v, 1));
            }
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    cJSON_Delete(probe);
    return text;
}

/* Builds the row's model: XTC_OK, or the failure's message in err. */
static xtc_status try_row(const struct row *r, struct xtc_error *err) {
    memset(err, 0, sizeof *err);
    char *cfg = build_config(r);
    if (!cfg) {
        snprintf(err->msg, sizeof err->msg, "class '%s' or probe %s is not valid in the table", r->on, r->probe);
        return XTC_ERR_ARG;
    }
    xtc_model_t m = NULL;
    xtc_status rc = xtc_model_create(&m, cfg, strlen(cfg), 1, err);
    xtc_model_free(m);
    free(cfg);
    return rc;
}

static void quiet(enum xtc_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
}

int main(int argc, char **argv) {
    bool print = argc > 1 && !strcmp(argv[1], "--print");
    const char *path = argc > 1 + print ? argv[1 + print] : XTC_README;
    xtc_log_set(quiet, NULL); /* small heads warn about their rotary dimension */
    if (!read_table(path))
        return xtc_check_report("keyword_table");
    for (int i = 0; i < n_rows; i++) {
        const struct row *r = &rows[i];
        struct xtc_error err;
        xtc_status rc = try_row(r, &err);
        if (print) {
            printf("| `%s` | %s | `%s` | %s | %s |\n", r->kw, r->on, r->probe, rc == XTC_OK ? "yes" : "rejected",
                   rc == XTC_OK ? "" : err.msg);
            continue;
        }
        if (r->yes)
            CHECK(rc == XTC_OK, "README line %d: %s on %s is listed as supported, but %s", r->line, r->kw, r->on,
                  err.msg);
        else
            CHECK(rc != XTC_OK && strstr(err.msg, r->kw),
                  "README line %d: %s on %s is listed as rejected, but the probe %s (message: '%s'; a refusal must "
                  "name the keyword)", r->line, r->kw, r->on, rc == XTC_OK ? "is accepted" : "fails otherwise",
                  err.msg);
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%.100s\"", r->kw);
        /* attn_layers is in every base model: its probe adds nothing */
        CHECK(strstr(r->probe, quoted) || !strcmp(r->kw, "attn_layers"), "README line %d: the probe of %s does not set it",
              r->line, r->kw);
        int dup = -1;
        for (int j = 0; j < i && dup < 0; j++)
            if (!strcmp(rows[j].kw, r->kw) && !strcmp(rows[j].on, r->on))
                dup = j;
        CHECK(dup < 0, "README lines %d and %d: %s on %s twice", dup < 0 ? 0 : rows[dup].line, r->line, r->kw, r->on);
    }
    if (print)
        return 0;
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        bool found = false;
        for (int i = 0; i < n_rows && !found; i++)
            found = !strcmp(rows[i].kw, required[k][0]) && !strcmp(rows[i].on, required[k][1]);
        CHECK(found, "README keyword table: no row for %s on %s (reference section A lists it)", required[k][0],
              required[k][1]);
    }
    return xtc_check_report("keyword_table");
}
