/* A deterministic text corpus for training tests: n bytes of words drawn by a seeded
 * generator (another seed: another corpus of the same kind). Caller frees; NULL when out of
 * memory. */
#ifndef XTC_TESTS_CORPUS_TEXT_H
#define XTC_TESTS_CORPUS_TEXT_H

#include <stdint.h>
#include <stdlib.h>

static inline uint8_t *xtc_test_corpus(size_t n, uint64_t seed) {
    static const char *words[] = {"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ", "and ",
                                  "runs ", "away\n"};
    uint8_t *c = malloc(n);
    for (size_t at = 0; c && at < n;) {
        seed = seed * 6364136223846793005ULL + 1;
        const char *w = words[(seed >> 33) % 11];
        for (size_t i = 0; w[i] && at < n; i++)
            c[at++] = (uint8_t)w[i];
    }
    return c;
}

#endif
