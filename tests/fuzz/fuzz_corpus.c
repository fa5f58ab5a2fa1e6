/* libFuzzer target for xtc train's corpus reader (cli/corpus.c). The input describes a
 * directory: records of (kind, name, content) become regular files, symbolic links (to an
 * earlier entry or dangling), subdirectories, FIFOs, hidden and .dat files in a scratch
 * directory, and the reader is run on the directory or on its first entry. The result is
 * compared with an independent model of the rules: the regular files (links followed) that
 * are neither hidden nor .dat, in byte-wise name order, concatenated; nothing readable is an
 * error with a message. A FIFO must never block (the fuzzer's timeout catches a hang). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ENTRIES 12

enum kind { FILE_, LINK, DANGLING, SUBDIR, FIFO, N_KINDS };

struct entry {
    char name[24];
    enum kind kind;
    int target;           /* LINK: index of the entry it names */
    const uint8_t *bytes; /* FILE_: content */
    size_t len;
};

static char root[64];

static void clear_root(void) {
    DIR *d = opendir(root);
    struct dirent *e;
    char path[256];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (unlink(path) != 0) { /* a subdirectory, holding one file */
            char inner[300];
            snprintf(inner, sizeof inner, "%s/inner", path);
            unlink(inner);
            rmdir(path);
        }
    }
    if (d)
        closedir(d);
}


/* The entry a path resolves to (links followed); -1 when it resolves to nothing. */
static int resolve(const struct entry *e, int i) {
    for (int hops = 0; i >= 0 && e[i].kind == LINK && hops < MAX_ENTRIES; hops++)
        i = e[i].target;
    return i >= 0 && e[i].kind == LINK ? -1 : i;
}

static int counted(const struct entry *e, int i) {
    size_t l = strlen(e[i].name);
    int r = resolve(e, i);
    return r >= 0 && e[r].kind == FILE_ && e[i].name[0] != '.' && !(l > 4 && !strcmp(e[i].name + l - 4, ".dat"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root[0]) {
        snprintf(root, sizeof root, "%s/xtc-fuzz-corpus-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(root))
            __builtin_trap();
    }
    clear_root();
    struct entry e[MAX_ENTRIES];
    int n = 0;
    size_t p = 1;
    while (n < MAX_ENTRIES && p + 2 < size) {
        struct entry *x = &e[n];
        x->kind = (enum kind)(data[p] % N_KINDS);
        size_t nl = 1 + (data[p + 1] & 15);
        p += 2;
        if (p + nl > size)
            break;
        for (size_t k = 0; k < nl; k++) { /* any byte but '/' and NUL */
            uint8_t c = data[p + k];
            x->name[k] = (char)(c == '/' || c == 0 ? '_' : c);
        }
        x->name[nl] = '\0';
        p += nl;
        if (!strcmp(x->name, ".") || !strcmp(x->name, ".."))
            x->name[0] = '_';
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= !strcmp(e[k].name, x->name);
        size_t len = p < size ? data[p++] : 0;
        len = len < size - p ? len : size - p;
        x->bytes = data + p, x->len = len;
        p += len;
        x->target = n ? (int)(len ? x->bytes[0] : 0) % n : -1;
        if (dup || (x->kind == LINK && n == 0))
            continue;
        char path[256], target[256];
        snprintf(path, sizeof path, "%s/%s", root, x->name);
        int ok = 0;
        if (x->kind == FILE_) {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
            ok = fd >= 0 && write(fd, x->bytes, x->len) == (ssize_t)x->len;
            if (fd >= 0)
                close(fd);
        } else if (x->kind == LINK || x->kind == DANGLING) {
            snprintf(target, sizeof target, "%s", x->kind == LINK ? e[x->target].name : "no-such-entry");
            if (x->kind == DANGLING)
                x->kind = LINK, x->target = -1;
            ok = symlink(target, path) == 0;
        } else if (x->kind == SUBDIR) {
            snprintf(target, sizeof target, "%s/inner", path);
            int fd = mkdir(path, 0755) == 0 ? open(target, O_WRONLY | O_CREAT, 0644) : -1;
            ok = fd >= 0 && write(fd, "x", 1) == 1;
            if (fd >= 0)
                close(fd);
        } else {
            ok = mkfifo(path, 0644) == 0;
        }
        if (!ok)
            __builtin_trap(); /* the scratch directory itself failed: not a finding of the reader */
        n++;
    }
    /* what the reader must return */
    int whole_dir = !(size && (data[0] & 1) && n > 0);
    uint8_t *want = malloc(size * MAX_ENTRIES + 1); /* links may repeat a file */
    size_t want_len = 0, want_files = 0;
    if (!want)
        return 0;
    if (whole_dir) {
        int order[MAX_ENTRIES];
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = 1; i < n; i++) /* insertion sort by name, independent of the reader's qsort */
            for (int k = i; k > 0 && strcmp(e[order[k - 1]].name, e[order[k]].name) > 0; k--) {
                int t = order[k];
                order[k] = order[k - 1], order[k - 1] = t;
            }
        for (int k = 0; k < n; k++) {
            int i = order[k];
            if (!counted(e, i))
                continue;
            int r = resolve(e, i);
            memcpy(want + want_len, e[r].bytes, e[r].len);
            want_len += e[r].len;
            want_files++;
        }
    } else {
        int r = resolve(e, 0);
        if (r >= 0 && e[r].kind == FILE_) {
            memcpy(want, e[r].bytes, e[r].len);
            want_len = e[r].len;
        } else if (r >= 0 && e[r].kind == SUBDIR) { /* a directory: its one file */
            want[0] = 'x';
            want_len = 1;
        }
    }
    char path[256], msg[512] = "";
    snprintf(path, sizeof path, "%s%s%s", root, whole_dir ? "" : "/", whole_dir ? "" : e[0].name);
    size_t len = 0, n_files = 0;
    uint8_t *got = xtc_cli_read_corpus(path, &len, &n_files, msg, sizeof msg);
    if (want_len == 0) {
        if (got || !msg[0])
            __builtin_trap(); /* nothing to read is an error, with a message */
    } else if (!got || len != want_len || memcmp(got, want, len) != 0 || (whole_dir && n_files != want_files)) {
        __builtin_trap();
    }
    free(got);
    free(want);
    return 0;
}
