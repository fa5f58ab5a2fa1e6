#!/bin/sh
# CLI test: beam search from the bundled x-transformers checkpoint prints what x-transformers
# 2.31.10 itself returns (AutoregressiveWrapper.beam_search, 4 beams, 40 tokens, greedy
# proposals; the smallest deciding score gap is 1.2e-3), with and without the KV cache; every
# beam with --all-beams; stochastic beam search repeats itself for a seed; malformed numbers are
# refused. Usage: cli_beam.sh XTC MODEL_DIR
set -eu
xtc=$1 model=$2
prompt="This program is free software; you can redistribute it and/or mod"
want="$prompt""ify
    it under the terms of the GNU Ge"
for cache in "" "--no-cache"; do
    got=$("$xtc" generate "$model" --prompt "$prompt" --beams 4 --max-tokens 40 $cache 2>/dev/null)
    if [ "$got" != "$want" ]; then
        printf 'beam search %s printed:\n%s\nexpected:\n%s\n' "$cache" "$got" "$want"
        exit 1
    fi
done
all=$("$xtc" generate "$model" --prompt "$prompt" --beams 4 --max-tokens 40 --all-beams 2>/dev/null)
for line in "beam 0  score -0.626" "beam 1  score -2.768" "For the developers' and autho" \
            "beam 2  score -3.291" "it under the terms of this Licen" "beam 3  score -4.285" \
            "it under the infringement under "; do
    case "$all" in
    *"$line"*) ;;
    *) printf -- '--all-beams printed:\n%s\nwithout: %s\n' "$all" "$line"; exit 1 ;;
    esac
done
a=$("$xtc" generate "$model" --prompt "$prompt" --beams 3 --stochastic --seed 7 --max-tokens 20 2>/dev/null)
b=$("$xtc" generate "$model" --prompt "$prompt" --beams 3 --stochastic --seed 7 --max-tokens 20 2>/dev/null)
[ "$a" = "$b" ] || { printf 'stochastic beam search with one seed printed\n%s\nand\n%s\n' "$a" "$b"; exit 1; }
for bad in "--beams 0" "--beams 4x" "--beams 1025" "--max-tokens -1" "--max-tokens 1e3" "--temperature nan" \
           "--top-p 0" "--seed -1" "--seed 12abc" "--tokens 1,,2" "--tokens 1,2,99999999999999999999" "--stochastic"; do
    set +e
    case "$bad" in --tokens*) input="" ;; *) input="--prompt x" ;; esac
    "$xtc" generate "$model" $input $bad >/dev/null 2>/tmp/xtc_cli_beam_err.$$
    rc=$?
    set -e
    if [ $rc -ne 2 ] || [ ! -s /tmp/xtc_cli_beam_err.$$ ]; then
        echo "'$bad' exited $rc (expected 2 with a message)"
        rm -f /tmp/xtc_cli_beam_err.$$
        exit 1
    fi
done
rm -f /tmp/xtc_cli_beam_err.$$
echo "beam search matches x-transformers, with and without the KV cache; bad numbers refused"
