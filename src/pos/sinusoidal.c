/* Scaled sinusoidal absolute positions (x-transformers ScaledSinusoidalEmbedding):
 * [sin(p w_k), cos(p w_k)] * scale with w_k = 10000^(-k / (C/2)), the table
 * built in float32 like the module's inv_freq buffer. */
#include <math.h>

#include "pos/pos.h"

/* frequency k of C/2: 10000^(-k / (C/2)), float32 like the module's inv_freq buffer */
static inline float angle(int64_t pos, int k, int half) {
    float w = powf(10000.0f, -((float)k / (float)half));
    return (float)pos * w;
}

void xtc_sinusoidal_add(float *out, int64_t pos, int C, float scale) {
    int half = C / 2;
    for (int k = 0; k < half; k++) {
        float a = angle(pos, k, half);
        out[k] += (float)sin((double)a) * scale;
        out[half + k] += (float)cos((double)a) * scale;
    }
}

double xtc_sinusoidal_dot(const float *d, int64_t pos, int C) {
    int half = C / 2;
    double s = 0;
    for (int k = 0; k < half; k++) {
        float a = angle(pos, k, half);
        s += (double)d[k] * (float)sin((double)a) + (double)d[half + k] * (float)cos((double)a);
    }
    return s;
}
