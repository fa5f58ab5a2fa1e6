/* The vectorizable exp and erf of backend/cpu/vec.h against libm (their scalar
 * references), over the ranges the kernels use, with the bounds the header states; and the
 * activation spans built on them at every kernel level up to the one in force (xtc/cpu.h),
 * which must agree bit for bit: element-wise code runs the same IEEE operations at every
 * vector width (no contraction into FMA, backend/cpu/dispatch.h). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/vec.h"
#include "check.h"
#include "xtc/cpu.h"

#define NA 5003 /* not a multiple of any vector width */

static void spans_every_level(void) {
    static float x[NA], dy[NA], y0[NA], dx0[NA], y[NA], dx[NA];
    for (int i = 0; i < NA; i++) {
        x[i] = -9.0f + 18.0f * (float)i / NA;
        dy[i] = 1.0f - (float)(i % 17) / 8.0f;
    }
    const enum xtc_cpu_level top = xtc_cpu_level();
    for (int a = XTC_FF_GELU; a <= XTC_FF_RELU_SQUARED; a++) {
        xtc_cpu_set_max_level(XTC_CPU_PORTABLE);
        xtc_cpu_act_forward(y0, x, NA, (enum xtc_ff_activation)a);
        xtc_cpu_act_backward(dx0, dy, x, NA, (enum xtc_ff_activation)a);
        for (int l = XTC_CPU_PORTABLE + 1; l <= (int)top; l++) {
            xtc_cpu_set_max_level((enum xtc_cpu_level)l);
            xtc_cpu_act_forward(y, x, NA, (enum xtc_ff_activation)a);
            xtc_cpu_act_backward(dx, dy, x, NA, (enum xtc_ff_activation)a);
            CHECK(memcmp(y, y0, sizeof y) == 0 && memcmp(dx, dx0, sizeof dx) == 0,
                  "activation %d: level %s gives the portable level's bits", a, xtc_cpu_level_name(l));
        }
    }
    xtc_cpu_set_max_level(top);
}

int main(void) {
    double max_rel = 0, max_abs = 0;
    for (float x = -87.3f; x < 88.0f; x += 0.00037f) {
        double want = exp((double)x);
        double rel = fabs(xtc_vec_expf(x) - want) / want;
        max_rel = rel > max_rel ? rel : max_rel;
    }
    CHECK(max_rel < 2e-7, "expf relative error %g (bound 2e-7)", max_rel);
    CHECK(xtc_vec_expf(-FLT_MAX) == 0.0f && xtc_vec_expf(-200.0f) == 0.0f, "masked logits give exactly 0");
    CHECK(xtc_vec_expf(0.0f) == 1.0f, "exp(0) = 1");
    CHECK(isnan(xtc_vec_expf(NAN)) && isnan(xtc_vec_erff(NAN)), "NaN in, NaN out (and no undefined conversion)");
    CHECK(xtc_vec_expf(INFINITY) > 1e38f && xtc_vec_expf(-INFINITY) == 0.0f, "infinities clamp");
    for (float x = -8.0f; x < 8.0f; x += 0.00011f) {
        double d = fabs(xtc_vec_erff(x) - erf((double)x));
        max_abs = d > max_abs ? d : max_abs;
    }
    CHECK(max_abs < 4e-7, "erf absolute error %g (bound 4e-7)", max_abs);
    double max_rel1 = 0;
    for (float z = -4.0f; z < 6.0f; z += 0.00013f) {
        double want = z < 0 ? erfc(-(double)z) : 1.0 + erf((double)z);
        double rel = fabs(xtc_vec_one_plus_erff(z) - want) / want;
        max_rel1 = rel > max_rel1 ? rel : max_rel1;
    }
    CHECK(max_rel1 < 2e-6, "1 + erf relative error %g (bound 2e-6), for z >= -4", max_rel1);
    CHECK(xtc_vec_erff(0.0f) == 0.0f || fabsf(xtc_vec_erff(0.0f)) < 1e-7f, "erf(0) = 0");
    spans_every_level();
    return xtc_check_report("test_vec");
}
