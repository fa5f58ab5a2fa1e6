#!/bin/sh
# Runs a command that must fail cleanly: exit status 1..125 (not 0, not a signal),
# a non-empty message on stderr, and no sanitizer report. Used for tests/bad/.
err=$("$@" 2>&1 >/dev/null)
rc=$?
if [ "$rc" -eq 0 ]; then echo "accepted a malformed input: $*"; exit 1; fi
if [ "$rc" -gt 125 ]; then echo "crashed (status $rc): $*"; echo "$err"; exit 1; fi
if [ -z "$err" ]; then echo "rejected without a message: $*"; exit 1; fi
case "$err" in
*Sanitizer*|*"runtime error"*) echo "sanitizer report: $*"; echo "$err"; exit 1 ;;
esac
echo "rejected (status $rc): $err"
exit 0
