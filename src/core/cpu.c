/* The CPU's vector features and the kernel level: detected once, capped by XTC_CPU or
 * xtc_cpu_set_max_level. Every kernel choice of the cpu backend reads xtc_cpu_level(), so
 * one cap moves them all (and a test can run each level the machine has). */
#include "core/cpu.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XTC_X86 1
#include <cpuid.h>
#endif

static const char *const level_names[] = {"portable", "avx2", "avx512", "avx512_bf16", "amx", "best"};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_set_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xtc_cpu_features g_feat;
static enum xtc_cpu_level g_detected;
/* -1 until the first call; read on every kernel call, hence a relaxed atomic of its own */
static atomic_int g_level = -1;
static atomic_int g_cap = XTC_CPU_BEST;
/* where the cap comes from, for xtc_cpu_describe: none, XTC_CPU, or the API */
enum cap_source { CAP_NONE, CAP_ENV, CAP_API };
static atomic_int g_cap_source = CAP_NONE;
/* XTC_CPU as read (truncated), and whether it was refused: for xtc_cpu_describe */
static char g_env[24];
static bool g_env_unknown;

#ifdef XTC_X86
/* XCR0: the register state the operating system saves on a context switch */
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* cpuid directly, rather than __builtin_cpu_supports: gcc 12 knows no avx512bf16 or amx names
 * there, and the OS checks for the AMX state are ours to do anyway. (AMX kernels, when added,
 * must also ask Linux for the tile data state, arch_prctl(ARCH_REQ_XCOMP_PERM), and fall back
 * when it is refused.) */
static void detect(struct xtc_cpu_features *f) {
    unsigned a, b, c, d;
    if ((unsigned)__get_cpuid_max(0, NULL) < 7 || !__get_cpuid(1, &a, &b, &c, &d))
        return;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm = avx && (xcr0 & 0x6) == 0x6;    /* SSE and AVX state */
    const bool zmm = ymm && (xcr0 & 0xE0) == 0xE0;  /* opmask, upper zmm, zmm16-31 */
    const bool tiles = (xcr0 & 0x60000) == 0x60000; /* tile config and data */
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned leaf7_max = a;
    f->avx2 = ymm && (b & (1u << 5));
    f->fma = ymm && fma;
    f->avx512f = zmm && (b & (1u << 16));
    f->avx512bw = zmm && (b & (1u << 30));
    f->avx512vl = zmm && (b & (1u << 31));
    f->amx_tile = tiles && (d & (1u << 24));
    f->amx_bf16 = tiles && (d & (1u << 22));
    if (leaf7_max >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avx512_bf16 = zmm && (a & (1u << 5));
    }
}
#else
/* elsewhere: the portable kernels only */
static void detect(struct xtc_cpu_features *f) {
    (void)f;
}
#endif

enum xtc_cpu_level xtc_cpu_level_of(const struct xtc_cpu_features *f) {
    if (!(f->avx2 && f->fma))
        return XTC_CPU_PORTABLE;
    if (!(f->avx512f && f->avx512bw && f->avx512vl))
        return XTC_CPU_AVX2;
    if (!f->avx512_bf16)
        return XTC_CPU_AVX512;
    if (!(f->amx_tile && f->amx_bf16))
        return XTC_CPU_AVX512_BF16;
    return XTC_CPU_AMX;
}

int xtc_cpu_level_parse(const char *s) {
    for (int i = XTC_CPU_PORTABLE; i <= XTC_CPU_BEST; i++) {
        const char *n = level_names[i];
        size_t k = 0;
        while (n[k] && s[k] && tolower((unsigned char)s[k]) == n[k])
            k++;
        if (!n[k] && !s[k])
            return i;
    }
    return -1;
}

static enum xtc_cpu_level min_level(int a, int b) {
    return (enum xtc_cpu_level)(a < b ? a : b);
}

static void init(void) {
    detect(&g_feat);
    g_detected = xtc_cpu_level_of(&g_feat);
    int cap = XTC_CPU_BEST;
    const char *env = getenv("XTC_CPU");
    if (env && *env) {
        snprintf(g_env, sizeof g_env, "%s", env);
        int l = xtc_cpu_level_parse(env);
        if (l < 0) {
            g_env_unknown = true;
            xtc_log(XTC_LOG_WARN,
                    "XTC_CPU=%s: unknown kernel level (portable, avx2, avx512, avx512_bf16, amx, best); ignored", env);
        } else {
            cap = l;
            atomic_store(&g_cap_source, CAP_ENV);
            if (l != XTC_CPU_BEST && l > (int)g_detected)
                xtc_log(XTC_LOG_WARN, "XTC_CPU=%s: this CPU supports at most %s; running %s kernels", env,
                        level_names[g_detected], level_names[g_detected]);
        }
    }
    atomic_store(&g_cap, cap);
    atomic_store(&g_level, min_level(cap, g_detected));
}

const struct xtc_cpu_features *xtc_cpu_features(void) {
    pthread_once(&g_once, init);
    return &g_feat;
}

enum xtc_cpu_level xtc_cpu_level(void) {
    int l = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (l >= 0)
        return (enum xtc_cpu_level)l;
    pthread_once(&g_once, init);
    return (enum xtc_cpu_level)atomic_load(&g_level);
}

enum xtc_cpu_level xtc_cpu_detected_level(void) {
    pthread_once(&g_once, init);
    return g_detected;
}

enum xtc_cpu_level xtc_cpu_set_max_level(enum xtc_cpu_level max) {
    pthread_once(&g_once, init);
    int cap = (int)max < XTC_CPU_PORTABLE || (int)max > XTC_CPU_BEST ? XTC_CPU_BEST : (int)max;
    pthread_mutex_lock(&g_set_lock); /* cap, its source and the level change together */
    atomic_store(&g_cap, cap);
    atomic_store(&g_cap_source, cap == XTC_CPU_BEST ? CAP_NONE : CAP_API);
    enum xtc_cpu_level l = min_level(cap, g_detected);
    atomic_store(&g_level, l);
    pthread_mutex_unlock(&g_set_lock);
    return l;
}

const char *xtc_cpu_level_name(enum xtc_cpu_level level) {
    return (int)level >= XTC_CPU_PORTABLE && (int)level <= XTC_CPU_BEST ? level_names[level] : "?";
}

/* The model name: /proc/cpuinfo's first "model name" line, else cpuid's brand string. */
static void model_name(char *out, size_t size) {
    snprintf(out, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
                const char *v = strchr(line, ':') + 1;
                while (*v == ' ' || *v == '\t')
                    v++;
                snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
                fclose(f);
                return;
            }
        fclose(f);
    }
#ifdef XTC_X86
    unsigned r[12];
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        char brand[49];
        memcpy(brand, r, 48);
        brand[48] = 0;
        const char *v = brand;
        while (*v == ' ')
            v++;
        if (*v)
            snprintf(out, size, "%s", v);
    }
#endif
}

size_t xtc_cpu_describe(char *buf, size_t size) {
    const struct xtc_cpu_features *f = xtc_cpu_features();
    char model[128], flags[128] = "";
    model_name(model, sizeof model);
    const struct {
        bool on;
        const char *name;
    } fl[] = {{f->avx2, "avx2"},         {f->fma, "fma"},           {f->avx512f, "avx512f"},
              {f->avx512bw, "avx512bw"}, {f->avx512vl, "avx512vl"}, {f->avx512_bf16, "avx512_bf16"},
              {f->amx_tile, "amx_tile"}, {f->amx_bf16, "amx_bf16"}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        if (fl[i].on)
            n += (size_t)snprintf(flags + n, sizeof flags - n, "%s%s", n ? " " : "", fl[i].name);
    pthread_mutex_lock(&g_set_lock);
    const int cap = atomic_load(&g_cap), source = atomic_load(&g_cap_source);
    const enum xtc_cpu_level level = (enum xtc_cpu_level)atomic_load(&g_level);
    pthread_mutex_unlock(&g_set_lock);
    char why[96] = "";
    if (source == CAP_ENV)
        snprintf(why, sizeof why, " (XTC_CPU=%s)", g_env);
    else if (source == CAP_API)
        snprintf(why, sizeof why, " (capped at %s by xtc_cpu_set_max_level)", level_names[cap]);
    else if (g_env_unknown)
        snprintf(why, sizeof why, " (XTC_CPU=%s ignored: unknown level)", g_env);
    int len = snprintf(buf, size, "%s; features: %s; best level %s; kernels %s%s", model, n ? flags : "baseline only",
                       level_names[g_detected], level_names[level], why);
    return len < 0 ? 0 : (size_t)len;
}
