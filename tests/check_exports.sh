#!/bin/sh
# API test: the shared library exports exactly the functions the public headers declare.
#   check_exports.sh NM LIBXTC_SO INCLUDE_DIR
# Exported: the defined dynamic symbols of the library (nm -D --defined-only), less the
# linker's own (_init, _fini, _edata, _end, __bss_start). Declared: every function prototype
# in INCLUDE_DIR/*.h (comments and preprocessor lines removed, statements split at ; { },
# typedefs and static inline functions skipped). Fails listing each symbol exported but not
# declared (an internal leaking out) and each function declared but not exported (a missing
# XTC_API, or a declaration without a definition).
set -eu
nm=$1 lib=$2 inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$nm" -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' |
    grep -v -x -E '_init|_fini|_edata|_end|__bss_start' | sort -u >"$tmp/exported"

cat "$inc"/*.h | awk '
    # strip /* */ comments (possibly spanning lines) and // comments
    {
        line = $0
        out = ""
        while (length(line) > 0) {
            if (in_comment) {
                i = index(line, "*/")
                if (i == 0) { line = ""; break }
                line = substr(line, i + 2); in_comment = 0
            } else {
                i = index(line, "/*"); j = index(line, "//")
                if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); line = ""; break }
                if (i == 0) { out = out line; line = ""; break }
                out = out substr(line, 1, i - 1); line = substr(line, i + 2); in_comment = 1
            }
        }
        # preprocessor lines, with their continuations
        if (in_macro) { in_macro = (out ~ /\\$/); next }
        if (out ~ /^[ \t]*#/) { in_macro = (out ~ /\\$/); next }
        text = text " " out
    }
    END {
        gsub(/[{}]/, ";", text)
        n = split(text, stmts, ";")
        for (k = 1; k <= n; k++) {
            s = stmts[k]
            gsub(/[ \t]+/, " ", s)
            if (s ~ /^ ?typedef / || s ~ /(^| )static /) continue
            if (match(s, /xtc_[A-Za-z0-9_]+ ?\(/)) {
                name = substr(s, RSTART, RLENGTH)
                sub(/ ?\($/, "", name)
                print name
            }
        }
    }' | sort -u >"$tmp/declared"

status=0
comm -23 "$tmp/exported" "$tmp/declared" >"$tmp/leaked"
comm -13 "$tmp/exported" "$tmp/declared" >"$tmp/missing"
if [ -s "$tmp/leaked" ]; then
    echo "exported by $lib but declared in no header of $inc:"
    sed 's/^/  /' "$tmp/leaked"
    status=1
fi
if [ -s "$tmp/missing" ]; then
    echo "declared in $inc but not exported by $lib (XTC_API missing?):"
    sed 's/^/  /' "$tmp/missing"
    status=1
fi
n=$(wc -l <"$tmp/exported")
[ "$status" -eq 0 ] && echo "$n exported functions, each declared in $inc, and every declared function exported"
exit "$status"
