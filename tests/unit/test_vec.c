/* The vectorizable exp and erf of backend/cpu/vec.h against libm (their scalar
 * references), over the ranges the kernels use, with the bounds the header states. */
#include <float.h>
#include <math.h>

#include "backend/cpu/vec.h"
#include "check.h"

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
    return xtc_check_report("test_vec");
}
