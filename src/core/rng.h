/* Deterministic random numbers (xoshiro256**, seeded by splitmix64). The whole
 * state is four words, saved in training checkpoints so a resumed run draws
 * exactly the numbers the uninterrupted run would have. */
#ifndef XTC_RNG_H
#define XTC_RNG_H

#include <stdint.h>

struct xtc_rng {
    uint64_t s[4];
};

void xtc_rng_seed(struct xtc_rng *r, uint64_t seed);
uint64_t xtc_rng_next(struct xtc_rng *r);
/* uniform in [0, n) without modulo bias; n >= 1 */
uint64_t xtc_rng_below(struct xtc_rng *r, uint64_t n);
/* uniform in [0, 1) with 53 random bits */
double xtc_rng_uniform(struct xtc_rng *r);
/* standard normal (Box-Muller) */
double xtc_rng_normal(struct xtc_rng *r);

#endif
