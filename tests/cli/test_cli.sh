#!/bin/bash
# The ipckit CLI, run for real: help and usage exit codes, ls/--json output,
# rm error format, gc --dry-run on an orphan of a kill -9'ed process.
# Only this script's own object names are ever removed (other tests run
# concurrently in /dev/shm).
set -u
IPCKIT=${IPCKIT:?set IPCKIT to the ipckit binary}
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
expect_rc() { # expect_rc WANT what cmd...
    local want=$1 what=$2
    shift 2
    "$@" >/dev/null 2>&1
    local rc=$?
    [ "$rc" = "$want" ] || fail "$what: exit $rc, want $want"
}

tmp=$(mktemp -d)
# A runtime directory whose path needs JSON escaping (quote, backslash, space).
export XDG_RUNTIME_DIR="$tmp/we\"ird \\dir"
mkdir -p -m 700 "$XDG_RUNTIME_DIR" # the XDG spec: ours, 0700 (else ipckit uses /tmp/ipckit-UID)
trap 'rm -rf "$tmp"; rm -f /dev/shm/ik.cli-$$-*' EXIT
pfx="cli-$$"

# --- help, usage, exit codes ---------------------------------------------
expect_rc 0 "ipckit --help" "$IPCKIT" --help
expect_rc 2 "ipckit (no command)" "$IPCKIT"
expect_rc 2 "ipckit bogus" "$IPCKIT" bogus-command
for c in ls rm gc stat; do
    expect_rc 0 "$c --help" "$IPCKIT" "$c" --help
    expect_rc 0 "$c -h" "$IPCKIT" "$c" -h
    "$IPCKIT" "$c" --help | grep -q "^usage: ipckit $c" || fail "$c --help: no usage line"
    "$IPCKIT" "$c" --help | grep -q "exit status" || fail "$c --help: exit codes undocumented"
    expect_rc 2 "$c --no-such-option" "$IPCKIT" "$c" --no-such-option
done
expect_rc 2 "rm without names" "$IPCKIT" rm
expect_rc 2 "stat without names" "$IPCKIT" stat
expect_rc 2 "ls with two prefixes" "$IPCKIT" ls a b

# --- ls output parses ----------------------------------------------------
"$IPCKIT" ls >/dev/null || fail "ls exit $?"
"$IPCKIT" ls | head -1 | grep -q "^KIND *NAME *SIZE *OWNER *MODE *CREATOR *ALIVE *ATTACHED" ||
    fail "ls header"
"$IPCKIT" ls --json | python3 -m json.tool >/dev/null || fail "ls --json is not JSON"
"$IPCKIT" ls --json --all | python3 -m json.tool >/dev/null || fail "ls --json --all is not JSON"
[ "$("$IPCKIT" ls --json "$pfx-none")" = "[]" ] || fail "empty ls --json is not []"

# --- an orphan of a kill -9'ed creator -----------------------------------
# The creator writes a real ipckit segment header (layout: docs/design.md)
# with its own pid and start time, then kills itself with SIGKILL.
make_orphan() {
    (python3 - "$1" <<'PY'
import os, signal, struct, sys, time
name = sys.argv[1]
with open("/proc/self/stat") as f:
    start = int(f.read().rsplit(")", 1)[1].split()[19])
hdr = struct.pack("<IHHIIQiIQQ16x", 0x4753494B, 1, 1, 64, 0, 100, os.getpid(), os.geteuid(),
                  start, time.time_ns())
fd = os.open("/dev/shm/ik." + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
os.write(fd, hdr)
os.ftruncate(fd, 4096)
os.kill(os.getpid(), signal.SIGKILL)
PY
        true) 2>/dev/null
}

# One round of orphan checks. Returns 2 if the orphan vanished before our own
# gc ran: a global `ipckit gc` run by someone else at that moment rightly
# collects it too (this script itself only ever touches its own names).
orphan_round() {
    local orphan=$1 before=$fails out
    make_orphan "$orphan"
    [ -e "/dev/shm/ik.$orphan" ] || fail "orphan not created"
    "$IPCKIT" ls --json "$orphan" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert len(o) == 1, o
o = o[0]
assert o["kind"] == "shm" and o["size"] == 100 and o["mode"] == "0600", o
assert o["creator_pid"] > 0 and o["creator_alive"] is False and o["attached"] == 0, o
' || fail "ls --json of the orphan"
    "$IPCKIT" ls "$orphan" | grep -q "^shm .*$orphan .* no " || fail "ls table row of the orphan"
    "$IPCKIT" stat "$orphan" | grep -q "^creator: .*(dead)" || fail "stat of the orphan"
    out=$("$IPCKIT" gc --dry-run "$orphan")
    echo "$out" | grep -q "would remove.*$orphan" ||
        fail "gc --dry-run does not list the orphan: $out"
    [ -e "/dev/shm/ik.$orphan" ] || fail "gc --dry-run removed the orphan"
    if [ "$fails" != "$before" ] && [ ! -e "/dev/shm/ik.$orphan" ]; then
        fails=$before
        return 2
    fi
    out=$("$IPCKIT" gc "$orphan")
    echo "$out" | grep -q "^removed .*$orphan" || fail "gc did not remove the orphan: $out"
    [ ! -e "/dev/shm/ik.$orphan" ] || fail "orphan still there after gc"
    return 0
}
for attempt in 1 2 3; do
    orphan_round "$pfx-orphan$attempt" && break
    echo "note: orphan collected by a concurrent global gc; retrying" >&2
    [ "$attempt" = 3 ] && fail "orphan vanished 3 times (concurrent global gc?)"
done

# --- a segment in use is kept --------------------------------------------
busy="$pfx-busy"
mkfifo "$tmp/ready"
python3 - "$busy" "$tmp/ready" <<'PY' &
import os, signal, struct, sys
name = sys.argv[1]
hdr = struct.pack("<IHHIIQiIQQ16x", 0x4753494B, 1, 1, 64, 0, 64, 1, os.geteuid(), 1, 0)
fd = os.open("/dev/shm/ik." + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
os.write(fd, hdr)
os.ftruncate(fd, 4096)
with open(sys.argv[2], "w") as r:
    r.write("ready\n")
while True:
    signal.pause()  # hold the fd until killed
PY
holder=$!
read -r _ <"$tmp/ready"
# (the creator recorded is pid 1 with a bogus start time: dead; the holder has it open)
"$IPCKIT" gc "$busy" | grep -q "$busy" && fail "gc removed a segment held open by a live process"
[ -e "/dev/shm/ik.$busy" ] || fail "busy segment gone"
{
    kill -9 "$holder"
    wait "$holder"
} 2>/dev/null
[ -e "/dev/shm/ik.$busy" ] || fail "busy segment gone after its holder died"

# --- rm ------------------------------------------------------------------
err=$("$IPCKIT" rm "$busy" "$pfx-missing" 2>&1 >/dev/null)
rc=$?
[ "$rc" = 3 ] || fail "rm of one existing and one missing: exit $rc, want 3"
[ "$err" = "ipckit: rm $pfx-missing: no such object" ] || fail "rm error format: '$err'"
err=$("$IPCKIT" rm "$pfx-missing" 2>&1 >/dev/null)
rc=$?
[ "$rc" = 1 ] || fail "rm missing: exit $rc, want 1"
[ "$err" = "ipckit: rm $pfx-missing: no such object" ] || fail "rm error format: '$err'"
err=$("$IPCKIT" rm "a/b" 2>&1 >/dev/null)
rc=$?
[ "$rc" = 1 ] || fail "rm bad name: exit $rc"
[ "$err" = "ipckit: rm a/b: invalid object name" ] || fail "rm bad name format: '$err'"
expect_rc 1 "stat missing" "$IPCKIT" stat "$pfx-missing"

# --- corrupt segments: listed, kept by gc, removed by gc --corrupt ---------
bad="$pfx-corrupt"
head -c 100 /dev/urandom >"/dev/shm/ik.$bad"
"$IPCKIT" ls "$bad" | grep -q "corrupt" || fail "corrupt segment not listed as corrupt"
"$IPCKIT" ls --json "$bad" | python3 -m json.tool >/dev/null || fail "ls --json with corrupt"
"$IPCKIT" gc "$bad" | grep -q "kept corrupt" || fail "gc does not report the corrupt segment"
[ -e "/dev/shm/ik.$bad" ] || fail "plain gc removed a corrupt segment"
"$IPCKIT" gc --corrupt "$bad" | grep -q "^removed" || fail "gc --corrupt"
[ ! -e "/dev/shm/ik.$bad" ] || fail "gc --corrupt kept it"

# --- FIFOs and sockets of the runtime directory, with an odd path ----------
rundir="$XDG_RUNTIME_DIR/ipckit"
mkdir -p -m 0700 "$rundir"
mkfifo -m 0600 "$rundir/$pfx-fifo"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$rundir/$pfx-sock"
"$IPCKIT" ls --json "$pfx" | python3 -c '
import json, sys
o = {x["name"]: x for x in json.load(sys.stdin)}
f, s = o[sys.argv[1] + "-fifo"], o[sys.argv[1] + "-sock"]
assert f["kind"] == "fifo" and f["creator_pid"] is None and "\"" in f["path"], f
assert s["kind"] == "socket" and s["listening"] is False, s
' "$pfx" || fail "ls --json of fifo/socket (escaping)"
"$IPCKIT" gc --dry-run "$pfx-sock" | grep -q "would remove socket" || fail "stale socket not collectable"
"$IPCKIT" rm "$pfx-fifo" "$pfx-sock" || fail "rm fifo and socket"

[ "$fails" = 0 ] || exit 1
echo "cli: all checks passed"
