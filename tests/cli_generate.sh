#!/bin/sh
# CLI test: greedy generation from the bundled x-transformers checkpoint prints exactly what
# x-transformers 2.26.4 itself generates (AutoregressiveWrapper.generate, temperature 0,
# cache_kv=True, 60 tokens), with and without xtc's KV cache. Usage: cli_generate.sh XTC MODEL_DIR
set -eu
xtc=$1 model=$2
prompt="This program is free software; you can redistribute it and/or mod"
want="$prompt""ify
    it under the terms of the GNU General Public License"
for cache in "" "--no-cache"; do
    got=$("$xtc" generate "$model" --prompt "$prompt" --temperature 0 --max-tokens 60 $cache 2>/dev/null)
    if [ "$got" != "$want" ]; then
        printf 'generate %s printed:\n%s\nexpected:\n%s\n' "$cache" "$got" "$want"
        exit 1
    fi
done
echo "greedy generation matches x-transformers, with and without the KV cache"
