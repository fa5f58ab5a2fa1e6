#!/bin/sh
# CLI test: option values are parsed strictly. Each bad value must be rejected before any work
# is done, with exit status 2 and a message naming the flag and the value
# ("xtc train: --steps: 'abc' is not an integer"), never a crash. Good values still work.
# Usage: cli_bad_numbers.sh XTC MODEL_DIR
xtc=$1 model=$2
fails=0

# refuse_with TEXT COMMAND...: the command must fail with status 2 and TEXT in its message
refuse_with() {
    want=$1
    shift
    err=$("$xtc" "$@" 2>&1 >/dev/null)
    rc=$?
    case "$err" in
    *"$want"*) ok_msg=1 ;;
    *) ok_msg=0 ;;
    esac
    if [ "$rc" -ne 2 ] || [ "$ok_msg" -ne 1 ]; then
        echo "FAIL: xtc $* -> status $rc, stderr: $err"
        fails=$((fails + 1))
    else
        echo "ok: xtc $* -> $err"
    fi
}

# reject FLAG VALUE COMMAND...: the command (which contains FLAG VALUE) must fail naming both
reject() {
    flag=$1 value=$2
    shift 2
    refuse_with "$flag: '$value'" "$@"
}

reject --steps abc train --steps abc
reject --steps 1e4 train --steps 1e4
reject --steps 12x train --steps 12x
reject --steps '' train --steps ''
reject --batch 0 train --batch 0
reject --batch 99999999999999999999 train --batch 99999999999999999999
reject --lr fast train --lr fast
refuse_with "--dtype must be f32 or bf16 (got 'fp16')" train --dtype fp16
reject --lr nan train --lr nan
reject --lr -1 train --lr -1
reject --seed -1 train --seed -1
reject --xl 2.5 train --xl 2.5
reject --eval-every 0 train --eval-every 0
reject --temperature hot generate "$model" --prompt hi --temperature hot
reject --top-k 3.5 generate "$model" --prompt hi --top-k 3.5
reject --top-p 1.5 generate "$model" --prompt hi --top-p 1.5
reject --max-tokens ' 5' generate "$model" --prompt hi --max-tokens ' 5'
reject --tokens x generate "$model" --tokens 1,x,3
reject --tokens -4 generate "$model" --tokens 1,-4
reject --top 0 forward "$model" --tokens 1,2 --top 0
reject --top 1e1 forward "$model" --tokens 1,2 --top 1e1
reject --tokens 1,,2 forward "$model" --tokens 1,,2
reject --tokens 1,2, forward "$model" --tokens 1,2,

# flags that exclude each other are refused (status 2, both named) instead of one silently winning
refuse_with "mutually exclusive" generate "$model" --prompt hi --tokens 1,2
refuse_with "mutually exclusive" forward "$model" --text hi --tokens 1,2

# incomplete or empty options, and files that are not to be overwritten
refuse_with "without its value" forward "$model" --text
refuse_with "--text is empty" forward "$model" --text ''
refuse_with "output path is empty" forward "$model" --tokens 1,2 --out ''
refuse_with "--force only applies to --out" forward "$model" --tokens 1,2 --force
refuse_with "--prompt is empty" generate "$model" --prompt ''
refuse_with "without its value" generate "$model" --prompt
refuse_with "is not a token id" generate "$model" --prompt hi --eos 99999
reject --eos -1 generate "$model" --prompt hi --eos -1
refuse_with "--temperature has no effect on beam search" generate "$model" --prompt hi --beams 2 --temperature 0.5
refuse_with "--top-k has no effect on beam search" generate "$model" --prompt hi --beams 2 --top-k 3
out=$(mktemp)
echo keep >"$out"
refuse_with "use --force to replace it" forward "$model" --tokens 1,2 --out "$out"
if [ "$(cat "$out")" != keep ]; then
    echo "FAIL: a refused --out changed the file"
    fails=$((fails + 1))
fi
if ! "$xtc" forward "$model" --tokens 1,2 --out "$out" --force >/dev/null 2>&1 || [ "$(head -c 4 "$out")" = keep ]; then
    echo "FAIL: --out with --force did not replace the file"
    fails=$((fails + 1))
fi
rm -f "$out"

# good values are accepted
if ! "$xtc" forward "$model" --tokens 84,104,105,115 --top 3 >/dev/null 2>&1; then
    echo "FAIL: xtc forward --tokens 84,104,105,115 --top 3 was rejected"
    fails=$((fails + 1))
fi
if ! "$xtc" generate "$model" --prompt "The " --max-tokens 4 --temperature 0.5 --top-p 0.9 --top-k 5 --seed 7 \
    >/dev/null 2>&1; then
    echo "FAIL: xtc generate with valid sampling options was rejected"
    fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "every bad value was rejected with a message naming the flag"
exit "$fails"
