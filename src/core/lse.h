/* log(sum(exp(row))) of one row of logits, in double with the maximum subtracted (private):
 * the reference cross-entropy and beam search's log-probabilities share it. */
#ifndef XTC_CORE_LSE_H
#define XTC_CORE_LSE_H

#include <math.h>
#include <stdint.h>

static inline double xtc_row_logsumexp(const float *row, int64_t n) {
    float mx = row[0];
    for (int64_t v = 1; v < n; v++)
        mx = row[v] > mx ? row[v] : mx;
    double s = 0;
    for (int64_t v = 0; v < n; v++)
        s += exp((double)row[v] - mx);
    return mx + log(s);
}

#endif
