#!/bin/sh
# CLI test: xtc forward --input runs a ContinuousTransformerWrapper on float inputs from a
# safetensors file (x and mask of call 0 of the golden case
# continuous_scaled_sinu_mem_kv_post_emb_norm, whose model this is), prints the output shape and
# the last position of row 0 as x-transformers computed it, writes the output with --out, and
# refuses inputs of the wrong width and token models; x from .npy files (float32, float64) gives the
# same row, malformed .npy files are refused.
# Usage: cli_forward_input.sh XTC DATA_DIR TOKEN_MODEL_DIR
xtc=$1 data=$2 tokmodel=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

out=$("$xtc" forward "$data" --input "$data/input.safetensors" --out "$tmp/out.safetensors") || fail "forward --input: $out"
echo "$out"
case "$out" in
*"output shape [2, 7, 4]"*) ;;
*) fail "expected output shape [2, 7, 4]" ;;
esac
# x-transformers 2.31.10: out[0, -1] = -0.5178, -0.5044, 0.5083, -0.2451
got=$(echo "$out" | sed -n 's/.*last position of row 0: *//p' | awk '{ printf "%.4f %.4f %.4f %.4f", $1, $2, $3, $4 }')
[ "$got" = "-0.5178 -0.5044 0.5083 -0.2451" ] || fail "last position '$got'"
[ -s "$tmp/out.safetensors" ] || fail "--out wrote nothing"

err=$("$xtc" forward "$data" --input "$data/input_narrow.safetensors" 2>&1 >/dev/null) && fail "narrow input accepted"
case "$err" in *"width 5"*) ;; *) fail "narrow input: $err" ;; esac
err=$("$xtc" forward "$tokmodel" --input "$data/input.safetensors" 2>&1 >/dev/null) && fail "token model accepted --input"
case "$err" in *"--tokens"*) ;; *) fail "token model: $err" ;; esac
"$xtc" forward "$data" --input "$data/input.safetensors" --tokens 1,2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--input with --tokens not refused with status 2"

# the same x as a .npy file (numpy.save; float32 and float64): row 0 has no masked position, so
# its last position is the one above
for f in input.npy input_f64.npy; do
    out=$("$xtc" forward "$data" --input "$data/$f") || fail "forward --input $f: $out"
    got=$(echo "$out" | sed -n 's/.*last position of row 0: *//p' | awk '{ printf "%.4f %.4f %.4f %.4f", $1, $2, $3, $4 }')
    [ "$got" = "-0.5178 -0.5044 0.5083 -0.2451" ] || fail "$f: last position '$got'"
done
# malformed .npy files are refused with the reason
head -c 1000 "$data/input.npy" >"$tmp/short.npy"
printf 'NUMPY\001\000' >"$tmp/nomagic.npy"
for case in "short.npy:needs 1792" "nomagic.npy:magic"; do
    f=${case%%:*} want=${case#*:}
    err=$("$xtc" forward "$data" --input "$tmp/$f" 2>&1 >/dev/null) && fail "$f accepted"
    case "$err" in *"$want"*) ;; *) fail "$f: $err" ;; esac
done
err=$("$xtc" forward "$data" --input "$data/input_fortran.npy" 2>&1 >/dev/null) && fail "Fortran order accepted"
case "$err" in *"Fortran order"*) ;; *) fail "Fortran order: $err" ;; esac

[ "$fails" -eq 0 ] && echo "all ok"
exit "$fails"
