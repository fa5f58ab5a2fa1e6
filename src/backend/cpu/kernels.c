/* The cpu backend's kernel families and the code each runs at the current kernel level
 * (xtc_cpu_kernels, for `xtc info --cpu` and the benchmarks' output). A family lists the
 * levels it has code for; a higher level runs the best of them (amx: the avx512_bf16 or
 * avx512 code). Kept next to the kernels: a new level's version of a family adds its entry here. */
#include <cblas.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backend/autocast.h"
#include "backend/cpu/matmul_dnnl.h"
#include "core/cpu.h"

struct family {
    const char *name;
    const char *path[XTC_CPU_BEST]; /* per level; NULL: the level below's */
};

static const struct family families[] = {
    {"matvec-f32 (decoding, fp32 weights)",
     {"portable (compiler-vectorized C)", "avx2 (AVX2+FMA intrinsics)", "avx512 (AVX-512+FMA, vector-extension C)"}},
    {"matvec-bf16 (decoding, bf16 weights)",
     {"portable (compiler-vectorized C)", "avx2 (AVX2+FMA intrinsics)", "avx512 (AVX-512+FMA, vector-extension C)",
      "avx512_bf16 (VDPBF16PS dot products, x in two bf16 halves)"}},
    {"matvec-q8 (decoding, int8 weights)",
     {"portable (compiler-vectorized C)", "avx2 (AVX2+FMA intrinsics)", "avx512 (AVX-512+FMA, vector-extension C)"}},
    {"activations (GELU, SiLU, squared ReLU)",
     {"portable (baseline build)", "avx2 (AVX2 build of the same C)", "avx512 (AVX-512 build of the same C)"}},
    {"attention (tile softmax, one-query products)",
     {"portable (baseline build)", "avx2 (AVX2 build of the same C)", "avx512 (AVX-512 build of the same C)"}},
    {"flash attention (8 queries and more)",
     {"none (query tiles through BLAS)", "avx2 (6x16 AVX2+FMA intrinsics, 8-float rows)",
      "avx512 (12x16 AVX-512+FMA, 16-float rows, vector-extension C)"}},
};

/* the bf16 products' descriptions, which name the oneDNN version: made once each */
static pthread_once_t g_native_once = PTHREAD_ONCE_INIT, g_emulated_once = PTHREAD_ONCE_INIT;
static char g_native[96], g_emulated[96];

static void describe_native(void) { snprintf(g_native, sizeof g_native, "%s (native bf16)", xtc_dnnl_version()); }

static void describe_emulated(void) {
    const char *v = xtc_dnnl_version();
    snprintf(g_emulated, sizeof g_emulated, "emulated (sgemm on bf16-rounded fp32; %s%s)", v,
             strcmp(v, "none") == 0 ? "" : ": no bf16 products at this level");
}

int xtc_cpu_kernels(struct xtc_cpu_kernel *out, int max) {
    const int n = (int)(sizeof families / sizeof families[0]);
    const enum xtc_cpu_level level = xtc_cpu_level();
    for (int i = 0; out && i < n && i < max; i++) {
        int l = (int)level;
        while (l > 0 && !families[i].path[l])
            l--;
        out[i] = (struct xtc_cpu_kernel){families[i].name, families[i].path[l]};
    }
    /* the matrix products of whole sequences: OpenBLAS picks its kernels itself (by the CPU,
     * or OPENBLAS_CORETYPE); XTC_CPU does not reach them */
    if (out && n < max)
        out[n] = (struct xtc_cpu_kernel){"sgemm (OpenBLAS; OPENBLAS_CORETYPE chooses)", openblas_get_corename()};
    /* mixed-precision training's products (backend/autocast.h): native where oneDNN has bf16
     * products on this CPU at this level, else emulated */
    if (out && n + 1 < max) {
        const bool native = xtc_autocast_path_default() == XTC_AUTOCAST_DNNL_BF16;
        pthread_once(native ? &g_native_once : &g_emulated_once, native ? describe_native : describe_emulated);
        out[n + 1] = (struct xtc_cpu_kernel){"bf16 products (--dtype bf16 training)", native ? g_native : g_emulated};
    }
    return n + 2;
}
