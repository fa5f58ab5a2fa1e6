/* Shared by the libFuzzer targets: a broken promise of the code under test is a crash the
 * fuzzer reports. */
#ifndef XTC_FUZZ_H
#define XTC_FUZZ_H

#define TRAP_UNLESS(c)        \
    do {                      \
        if (!(c))             \
            __builtin_trap(); \
    } while (0)

#endif
