#!/usr/bin/env bash
# Channels from the command line: ipckit send/recv (framed and raw), the
# pipeline example, and the web example fetched by curl and by web_client.
# Synchronisation is by reading the "listening" line, never by sleeping.
set -euo pipefail
: "${IPCKIT:?}" "${IK_TEST_BINDIR:?}"
tmp=$(mktemp -d)
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ex=$IK_TEST_BINDIR/examples

# Start "$@" in the background with stderr on fd 3 of the caller; wait for
# its "listening on URL" line and set $url (no subshell: fd 3 must stay).
start_listener() {
    local out=$1
    shift
    exec 3< <("$@" 2>&1 >"$out")
    local line
    read -r -t 20 line <&3 || fail "no listening line from $*"
    [[ $line == "ipckit: listening on "* ]] || fail "unexpected: $line"
    url=${line#ipckit: listening on }
}

# 1. framed: one message from arguments, two from stdin lines, one from a file
start_listener "$tmp/recv.out" "$IPCKIT" recv --listen --count 4 --timeout 20000 unix://clitest
[[ $url == unix://clitest ]] || fail "url $url"
"$IPCKIT" ls >"$tmp/ls.out"
grep -Eq '^socket +clitest\.sock ' "$tmp/ls.out" || fail "ls lacks the socket: $(cat "$tmp/ls.out")"
"$IPCKIT" send unix://clitest hello world
printf 'line one\nline two\n' | "$IPCKIT" send unix://clitest
printf 'from a file' >"$tmp/msg"
"$IPCKIT" send --file "$tmp/msg" unix://clitest
cat <&3 >/dev/null # EOF once recv has exited
exec 3<&-
printf 'hello world\nline one\nline two\nfrom a file\n' | cmp - "$tmp/recv.out" || fail "framed output"

# 1b. a FIFO channel; ls shows both FIFOs while the listener lives
exec 5< <("$IPCKIT" recv --listen --count 1 --timeout 20000 fifo://clififo 2>&1 >"$tmp/fifo.out")
read -r -t 20 line <&5 || fail "fifo listener"
"$IPCKIT" ls >"$tmp/ls.out"
grep -Eq '^fifo +clififo\.up\.fifo ' "$tmp/ls.out" || fail "ls lacks the fifo"
grep -Eq '^fifo +clififo\.down\.fifo ' "$tmp/ls.out" || fail "ls lacks the fifo"
"$IPCKIT" send fifo://clififo through a fifo
cat <&5 >/dev/null
exec 5<&-
grep -q '^through a fifo$' "$tmp/fifo.out" || fail "fifo output"

# 1c. ipckit gc: a live listener's FIFOs and socket stay; a dead one's socket goes
exec 6< <(exec "$IPCKIT" recv --listen fifo://gcf-$$ 2>&1)
fpid=$!
read -r -t 20 line <&6 || fail "gc fifo listener"
exec 7< <(exec "$IPCKIT" recv --listen unix://gcs-$$ 2>&1)
spid=$!
read -r -t 20 line <&7 || fail "gc socket listener"
"$IPCKIT" gc -q gcf- >/dev/null
"$IPCKIT" gc -q gcs- >/dev/null
"$IPCKIT" ls >"$tmp/ls.out"
grep -q "gcf-$$.up.fifo" "$tmp/ls.out" || fail "gc removed a live FIFO"
grep -q "gcs-$$.sock" "$tmp/ls.out" || fail "gc removed a live socket"
[[ -f $XDG_RUNTIME_DIR/ipckit/gcf-$$.fifo.lock ]] || fail "no lock file for the live FIFO listener"
kill -9 "$fpid" "$spid"
cat <&6 >/dev/null; exec 6<&-
cat <&7 >/dev/null; exec 7<&-
"$IPCKIT" gc -q gcf- >/dev/null
"$IPCKIT" gc -q gcs- >/dev/null
"$IPCKIT" ls >"$tmp/ls.out"
# A dead listener's FIFO pair goes too: its listener lock is gone, so even
# processes /proc cannot inspect (as when root) cannot be served through it.
! grep -q "gcf-$$" "$tmp/ls.out" || fail "gc left a dead listener's FIFOs"
! grep -q "gcs-$$" "$tmp/ls.out" || fail "gc left a dead socket"
[[ ! -e $XDG_RUNTIME_DIR/ipckit/gcf-$$.fifo.lock ]] || fail "gc left the dead listener's lock file"

# 2. raw over TCP (ephemeral port): bytes as they are
start_listener "$tmp/raw.out" "$IPCKIT" recv --listen --raw --timeout 20000 tcp://127.0.0.1:0
printf 'raw bytes\n' | "$IPCKIT" send --raw "$url"
cat <&3 >/dev/null # recv exits when the sender closes
exec 3<&-
grep -q '^raw bytes$' "$tmp/raw.out" || fail "raw output"

# 3. usage and errors
set +e
"$IPCKIT" send >/dev/null 2>&1; [[ $? == 2 ]] || fail "send usage exit"
"$IPCKIT" recv --bogus x >/dev/null 2>&1; [[ $? == 2 ]] || fail "recv usage exit"
"$IPCKIT" send 'unix://nobody-here' hi 2>"$tmp/err"; [[ $? == 1 ]] || fail "send to nobody"
"$IPCKIT" send 'bad url' hi 2>/dev/null; [[ $? == 1 ]] || fail "bad url"
set -e
grep -q 'ipckit: unix://nobody-here:' "$tmp/err" || fail "error message"
"$IPCKIT" send --help | grep -q 'usage: ipckit send'

# 4. the pipeline example: ls | grep through a pipe pair and a FIFO
mkdir "$tmp/dir"
touch "$tmp/dir/a.c" "$tmp/dir/b.h" "$tmp/dir/c.c"
"$ex/pipeline" "$tmp/dir" .c 2>/dev/null | sort >"$tmp/pipe.out"
printf 'a.c\nc.c\n' | cmp - "$tmp/pipe.out" || fail "pipeline output"

# 5. the web example: curl and web_client fetch a page over tcp://...?raw=1
exec 4< <("$ex/web_server" tcp://127.0.0.1:0 2)
read -r -t 20 page <&4 || fail "web_server did not start"
[[ $page == http://127.0.0.1:*/ ]] || fail "web_server said $page"
curl -sS --max-time 10 "$page" >"$tmp/curl.out" || fail "curl"
grep -q 'hello from ipckit' "$tmp/curl.out" || fail "curl page"
"$ex/web_client" "$page" >"$tmp/client.out" || fail "web_client"
grep -q 'hello from ipckit' "$tmp/client.out" || fail "web_client page"
exec 4<&-

# 6. bad numbers are usage errors (no silent wrap of --timeout 4294967295 to -1)
for bad in 4294967295 99999999999 '' x1; do
    rc=0
    "$IPCKIT" recv --timeout "$bad" unix://nobody 2>/dev/null || rc=$?
    [[ $rc == 2 ]] || fail "recv --timeout '$bad' gave $rc"
    rc=0
    "$IPCKIT" send --timeout "$bad" unix://nobody x 2>/dev/null || rc=$?
    [[ $rc == 2 ]] || fail "send --timeout '$bad' gave $rc"
done
rc=0
"$IPCKIT" recv --count '' unix://nobody 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "recv --count '' gave $rc"

# 7. send --file stops reading at max_msg (/dev/zero never ends)
start_listener "$tmp/zero.out" "$IPCKIT" send --listen --timeout 20000 --file /dev/zero \
    "unix://clizero?max_msg=1024"
"$IPCKIT" recv --timeout 20000 unix://clizero >/dev/null
grep -q "message too large" <&3 || fail "send --file /dev/zero: no IK_EMSGSIZE"

# 8. a failing stdout (disk full) is an error, not a silently dropped message
start_listener /dev/full "$IPCKIT" recv --listen --count 1 --timeout 20000 unix://clifull
"$IPCKIT" send unix://clifull lost
grep -q "ipckit: stdout:" <&3 || fail "recv >/dev/full did not fail"
echo "ok"
