/* xtc: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xtc/xtc.h"

static void usage(FILE *f) {
    fprintf(f, "usage: xtc <command> [options]\n"
               "       xtc --version\n\n"
               "commands:\n"
               "  check CASE_DIR...   run x-transformers golden cases and compare every output\n"
               "  info MODEL_DIR      configuration, parameter count and warnings of a model\n"
               "  info --cpu          the CPU, the kernel level (XTC_CPU caps it) and each kernel's code\n"
               "  forward MODEL_DIR --tokens 1,2,3 [--top K] | --input FILE.safetensors\n"
               "                      run a forward pass and print the top next-token predictions\n"
               "                      (or, with float inputs, the output's shape and last position)\n"
               "  generate MODEL_DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] ...\n"
               "                      stream a continuation (KV cache, samplers), report tokens/s\n"
               "  train [--config FILE] [--data FILE|DIR] [--out DIR] [--xl N] [--resume] ...\n"
               "                      byte-level language-model training with checkpoints and a loss plot\n\n"
               "A MODEL_DIR holds config.json (the x-transformers constructor call as JSON)\n"
               "and model.safetensors (x-transformers parameter names).\n"
               "Run 'xtc <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        /* the library's version: the one this binary runs with */
        printf("xtc %s\n", xtc_version());
        return 0;
    }
    if (strcmp(argv[1], "check") == 0)
        return xtc_cli_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0)
        return xtc_cli_info(argc - 1, argv + 1);
    if (strcmp(argv[1], "generate") == 0)
        return xtc_cli_generate(argc - 1, argv + 1);
    if (strcmp(argv[1], "train") == 0)
        return xtc_cli_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "forward") == 0)
        return xtc_cli_forward(argc - 1, argv + 1);
    fprintf(stderr, "xtc: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
