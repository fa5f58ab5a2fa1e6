/* The cpu backend's kernel families and the code each runs at the current kernel level
 * (xtc_cpu_kernels, for `xtc info --cpu` and the benchmarks' output). A family lists the
 * levels it has code for; a higher level runs the best of them (avx512_bf16 and amx: the
 * avx512 code). Kept next to the kernels: a new level's version of a family adds its entry here. */
#include <cblas.h>

#include "core/cpu.h"

struct family {
    const char *name;
    const char *path[XTC_CPU_BEST]; /* per level; NULL: the level below's */
};

static const struct family families[] = {
    {"matvec-f32 (decoding, fp32 weights)",
     {"portable (compiler-vectorized C)", "avx2 (AVX2+FMA intrinsics)", "avx512 (AVX-512+FMA, vector-extension C)"}},
    {"matvec-bf16 (decoding, bf16 weights)",
     {"portable (compiler-vectorized C)", "avx2 (AVX2+FMA intrinsics)", "avx512 (AVX-512+FMA, vector-extension C)"}},
    {"matvec-q8 (decoding, int8 weights)",
     {"portable (compiler-vectorized C)", "avx2 (AVX2+FMA intrinsics)", "avx512 (AVX-512+FMA, vector-extension C)"}},
    {"activations (GELU, SiLU, squared ReLU)",
     {"portable (baseline build)", "avx2 (AVX2 build of the same C)", "avx512 (AVX-512 build of the same C)"}},
    {"attention (tile softmax, one-query products)",
     {"portable (baseline build)", "avx2 (AVX2 build of the same C)", "avx512 (AVX-512 build of the same C)"}},
};

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
    return n + 1;
}
