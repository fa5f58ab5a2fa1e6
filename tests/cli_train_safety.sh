#!/bin/sh
# xtc train never loses a run and refuses inputs that are not what they claim:
#   --out "" refused; --resume without DIR/latest, or with a dangling one, refused (and nothing
#   written); a second xtc train on the same --out refused while the first runs; SIGINT during
#   training: exit 130 with a checkpoint that resumes; options that differ from the checkpoint's
#   refused unless --override-options; another corpus refused unless --override-corpus; a FIFO as
#   --data refused at once; a directory of more than 4096 files plus a symbolic link read
#   completely in sorted order (same fingerprint as the files concatenated by sort order); a NaN
#   loss does not call a checkpoint that does not exist "the last good checkpoint"; a read-only
#   file system is reported as such (EROFS; needs unshare, else skipped), a directory without
#   write permission as EACCES (not as root, else skipped); a log that cannot be written (log.csv
#   a link to /dev/full) reported with ENOSPC and a non-zero status.
# Usage: cli_train_safety.sh XTC
set -u
xtc=$1
tmp=$(mktemp -d)
bg=
trap '[ -n "$bg" ] && kill -9 $bg 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

cat >"$tmp/tiny.json" <<'EOF'
{"class": "TransformerWrapper", "kwargs": {"num_tokens": 256, "max_seq_len": 32, "attn_layers": {"class": "Decoder",
 "kwargs": {"dim": 32, "depth": 1, "heads": 2, "attn_dim_head": 16}}}}
EOF
# a corpus of ~40 KB
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "line %d of the quick brown fox\n", i }' >"$tmp/a.txt"
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "LINE %d OF THE LAZY DOG.......\n", i }' >"$tmp/b.txt"
T="--config $tmp/tiny.json --batch 2 --seq-len 32 --eval-batches 1 --sample 0 --log-every 1000"
cd "$tmp"

# expect NAME STATUS PATTERN -- CMD...: exit status STATUS (or any non-zero with "nz") and PATTERN in stderr
expect() {
    name=$1 want=$2 pat=$3
    shift 4
    "$@" >out.txt 2>err.txt
    rc=$?
    if { [ "$want" = nz ] && [ $rc -ne 0 ]; } || [ "$rc" = "$want" ]; then
        if [ -z "$pat" ] || grep -q -- "$pat" err.txt; then ok "$name"; else fail "$name: stderr lacks '$pat':"; cat err.txt; fi
    else
        fail "$name: exit status $rc (want $want)"
        cat err.txt
    fi
}

# (a missing --data: a build that accepts --out "" must fail before it writes a run into /)
expect 'empty --out' 2 'path is empty' -- "$xtc" train $T --data missing.txt --out ""
expect 'empty --data' 2 'path is empty' -- "$xtc" train $T --data "" --out e
expect '--override-options without --resume' 2 'needs --resume' -- "$xtc" train $T --data a.txt --out e --override-options

expect 'resume without latest' 1 'holds no run' -- "$xtc" train $T --data a.txt --out none --resume
[ -e none/log.csv ] || [ -e none/latest ] && fail 'resume without latest wrote a run'

"$xtc" train $T --data a.txt --out run --steps 6 --save-every 3 >/dev/null 2>&1 || fail 'first run'
expect 'a new run into a used directory' 1 'already holds a run' -- "$xtc" train $T --data a.txt --out run --steps 6
mkdir logged && echo "someone's notes" >logged/log.csv
expect 'a new run over a log' 1 'already holds log.csv' -- "$xtc" train $T --data a.txt --out logged --steps 2
grep -q "someone's notes" logged/log.csv || fail 'a refused run changed the log it found'
expect '--force with --resume' 2 'cannot be combined' -- "$xtc" train $T --data a.txt --out run --resume --force
cp -r run forced
expect 'a new run over a run with --force' 0 '' -- "$xtc" train $T --data a.txt --out forced --steps 4 --save-every 2 --seed 9 --force
[ "$(readlink forced/latest)" = checkpoint-00000004 ] || fail "--force: latest is $(readlink forced/latest)"
[ -e forced/checkpoint-00000006 ] && fail '--force: the old run'"'"'s checkpoint was kept after the new one saved'
mkdir dangling && cp -r run/checkpoint-00000006 dangling/ && ln -s checkpoint-00000099 dangling/latest
expect 'resume with a dangling latest' 1 'does not exist' -- "$xtc" train $T --data a.txt --out dangling --resume
[ -e dangling/log.csv ] && fail 'resume with a dangling latest wrote a log'
[ -d dangling/checkpoint-00000006 ] || fail 'resume with a dangling latest removed a checkpoint'

expect 'the same options on resume' 0 '' -- "$xtc" train $T --data a.txt --out run --resume --lr 0.002 --batch 2 --steps 7
expect 'another --lr on resume' 2 '--lr 0.01 differs' -- "$xtc" train $T --data a.txt --out run --resume --lr 0.01 --steps 9
expect 'another --batch on resume' 2 '--batch 3 differs' -- "$xtc" train $T --data a.txt --out run --resume --batch 3 --steps 9
expect 'another --lr with --override-options' 0 'overrides' -- "$xtc" train $T --data a.txt --out run --resume --lr 0.01 \
    --steps 9 --override-options
expect 'another corpus on resume' 1 'another corpus' -- "$xtc" train $T --data b.txt --out run --resume --steps 12
expect 'another corpus with --override-corpus' 0 '' -- "$xtc" train $T --data b.txt --out run --resume --steps 12 \
    --override-corpus

mkfifo fifo
expect 'FIFO as --data' 1 'is a FIFO' -- timeout 20 "$xtc" train $T --data fifo --out f

# a directory of 5000 files, a symbolic link to a file outside, a FIFO (skipped) and a hidden file (skipped)
mkdir many
awk 'BEGIN { for (i = 0; i < 5000; i++) { f = sprintf("many/f%05d.txt", 4999 - i); print "text " i " of many" > f; close(f) } }'
ln -s ../a.txt many/zz-link.txt
mkfifo many/pipe
echo hidden >many/.hidden
(LC_ALL=C; for f in many/*; do [ -f "$f" ] && cat "$f"; done) >all.txt
fp() { sed -n 's/.*fingerprint \([0-9a-f]*\).*/\1/p' out.txt; }
timeout 120 "$xtc" train $T --data many --out m --steps 0 >out.txt 2>err.txt || { fail 'directory corpus'; cat err.txt; }
fp_dir=$(fp)
grep -q 'in 5001 files' out.txt || fail "directory corpus: not 5001 files: $(head -1 out.txt)"
"$xtc" train $T --data all.txt --out m2 --steps 0 >out.txt 2>err.txt || fail 'concatenated corpus'
fp_cat=$(fp)
if [ -n "$fp_dir" ] && [ "$fp_dir" = "$fp_cat" ]; then ok 'directory read completely in sorted order'; else
    fail "directory corpus fingerprint '$fp_dir' != the sorted concatenation's '$fp_cat'"; fi

# a second writer while the first runs; then SIGINT: exit 130 and a checkpoint that resumes
"$xtc" train $T --data a.txt --out busy --steps 100000 --save-every 5 >bg.txt 2>&1 &
bg=$!
i=0
while [ $i -lt 300 ] && ! grep -q '^6,' busy/log.csv 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
expect 'second writer (new run)' 1 'another xtc train is using' -- "$xtc" train $T --data a.txt --out busy --steps 5
expect 'second writer (resume)' 1 'another xtc train is using' -- "$xtc" train $T --data a.txt --out busy --resume
kill -INT $bg; kill -INT $bg 2>/dev/null; kill -TERM $bg 2>/dev/null # the second and third change nothing
wait $bg
rc=$?
bg=
if [ $rc -eq 130 ] && grep -q 'interrupted: saved' bg.txt; then ok 'SIGINT: exit 130 after saving'; else
    fail "SIGINT: exit status $rc"; cat bg.txt; fi
step=$(readlink busy/latest | sed 's/checkpoint-0*//')
expect 'resume after SIGINT' 0 '' -- "$xtc" train $T --data a.txt --out busy --resume --steps $((step + 2))
grep -q "resuming busy/latest at step $step" out.txt || fail "resume after SIGINT did not start at step $step"

# a NaN loss before any checkpoint was saved: no "last good checkpoint"
expect 'NaN loss, no checkpoint' 1 'no usable checkpoint' -- "$xtc" train $T --data a.txt --out nan --steps 50 \
    --lr 1e38 --warmup 0 --grad-clip 0
grep -q 'last good checkpoint is' err.txt && fail 'a checkpoint that does not exist was called the last good one'

# a log that cannot be written (ENOSPC: log.csv is /dev/full) is reported and fails the run
mkdir full && ln -s /dev/full full/log.csv
expect 'log write failure' 1 'No space left on device' -- timeout 60 "$xtc" train $T --data a.txt --out full --steps 3 \
    --force

# EROFS: a read-only bind mount in a private mount namespace
if unshare -m true 2>/dev/null; then
    mkdir ro
    expect 'read-only file system' 1 'Read-only file system' -- unshare -m sh -c \
        "mount --bind ro ro && mount -o remount,bind,ro ro && exec \"$xtc\" train $T --data a.txt --out ro/run"
else
    echo "skip: EROFS (no unshare -m here)"
fi
# EACCES: a directory without write permission (root writes anyway)
if [ "$(id -u)" != 0 ]; then
    mkdir locked && chmod 0555 locked
    expect 'permission denied' 1 'Permission denied' -- "$xtc" train $T --data a.txt --out locked/run
    chmod 0755 locked
else
    echo "skip: EACCES (running as root)"
fi

[ $fails -eq 0 ] && echo "cli_train_safety: all passed" || echo "cli_train_safety: $fails FAILED"
[ $fails -eq 0 ]
