/* Scaled sinusoidal absolute positions (x-transformers ScaledSinusoidalEmbedding):
 * [sin(p w_k), cos(p w_k)] * scale with w_k = 10000^(-k / (C/2)), the table
 * built in float32 like the module's inv_freq buffer. */
#include <math.h>

#include "pos/pos.h"

void xtc_sinusoidal_forward(float *out, int64_t pos, int C, float scale) {
    int half = C / 2;
    for (int k = 0; k < half; k++) {
        float e = (float)k / (float)half;
        float w = powf(10000.0f, -e);
        float angle = (float)pos * w;
        out[k] = (float)sin((double)angle) * scale;
        out[half + k] = (float)cos((double)angle) * scale;
    }
}
