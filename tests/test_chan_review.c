/* Channel review regressions (docs/chan.md, "Review"):
 *  1. An adopted FIFO that this process may no longer open by inode (handed
 *     down from root to uid 65534, or chmod'ed after opening) still does
 *     timed I/O: FIFOs refuse RWF_NOWAIT and the /proc/self/fd reopening
 *     needs permission on the inode, so timed sends and receives failed with
 *     IK_EACCES (and closed the channel).
 *  2. unix+dgram without sock_diag: a dialed channel whose server closed its
 *     listener (unlinking the socket file) but keeps the channel is not a
 *     dead peer (it was IK_EPEERDEAD after one liveness slice); nor is a
 *     dialer that handed its socket to a child and exited (the fallback
 *     watched the dialer's pid).
 *  3. A fifo:// client that goes away between the listener's open of the
 *     down FIFO and its one-byte answer no longer kills the listener with
 *     SIGPIPE (a plain write()). A race: the test runs the handshake many
 *     times against a listener process with SIGPIPE at its default. */
#include "helpers.h"
#include "chan_shared.h"
#include "chan/chan_int.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- 1. timed I/O on an adopted FIFO we cannot reopen -------------------- */

struct fifo_fds {
    int r, w;
};

/* Loop messages through one FIFO (adopted read and write end) with timed
 * calls; 0 if every step behaved, else the failing step's number. */
static int fifo_timed_loop(void *arg)
{
    const struct fifo_fds *f = arg;
    int fl_r = fcntl(f->r, F_GETFL), fl_w = fcntl(f->w, F_GETFL);
    ik_chan *ch;
    if (ik_chan_from_fd(&ch, "pipe", f->r, f->w, NULL) != 0)
        return 1;
    static uint8_t msg[4000], in[4000];
    size_t len;
    int rc = 0;
    /* Empty: a timed receive times out (does not fail or block). */
    if (ik_recv(ch, in, sizeof(in), &len, 20) != IK_ETIMEDOUT)
        rc = 2;
    for (uint32_t i = 0; rc == 0 && i < 8; i++) {
        size_t n = i == 0 ? 0 : (size_t)i * 499;
        memset(msg, (int)i, sizeof(msg));
        if (ik_send(ch, msg, n, 1000) != 0)
            rc = 3;
        else if (ik_recv(ch, in, sizeof(in), &len, 1000) != 0 || len != n ||
                 (n > 0 && memcmp(in, msg, n) != 0))
            rc = 4;
    }
    /* Full: timed sends time out instead of blocking, nothing is torn. */
    uint32_t k = 0;
    if (rc == 0) {
        k = ikt_fill_until_blocked(ch, msg, 1000, 100000, &rc);
        rc = rc == IK_ETIMEDOUT && k > 0 ? 0 : 5;
    }
    for (uint32_t i = 0; rc == 0 && i < k; i++) {
        uint32_t idx = ~0u;
        if (ik_recv(ch, in, sizeof(in), &len, 1000) != 0 || len != 1000)
            rc = 6;
        else if (memcpy(&idx, in, 4), idx != i)
            rc = 7;
    }
    if (rc == 0 && ik_recv(ch, in, sizeof(in), &len, 20) != IK_ETIMEDOUT)
        rc = 8;
    if (rc == 0 && (fcntl(f->r, F_GETFL) != fl_r || fcntl(f->w, F_GETFL) != fl_w))
        rc = 9; /* never change the shared flags */
    ik_chan_close(ch);
    return rc;
}

static void fifo_case(int nb)
{
    char dir[512], path[640];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    snprintf(path, sizeof(path), "%s/%s.rv", dir, ikt_name("fa"));
    assert_int_equal(mkfifo(path, 0600), 0);
    struct fifo_fds f;
    f.r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(f.r >= 0);
    f.w = open(path, O_WRONLY | O_CLOEXEC | (nb ? O_NONBLOCK : 0));
    assert_true(f.w >= 0);
    if (!nb)
        assert_int_equal(fcntl(f.r, F_SETFL, 0), 0);
    unlink(path);
    int base = ikt_count_fds();
    if (geteuid() == 0) {
        /* Root's FIFO (0600) handed down to uid 65534. */
        int st = ikt_run_as_nobody(fifo_timed_loop, &f);
        if (st != 0)
            fail_msg("nb %d: as uid 65534: step %d failed", nb, st);
    }
    /* And for its owner after a chmod: the inode no longer grants access
     * (root bypasses that check: the case above covers it). */
    assert_int_equal(fchmod(f.r, 0), 0);
    int st = fifo_timed_loop(&f);
    if (st != 0)
        fail_msg("nb %d: chmod 0: step %d failed", nb, st);
    assert_int_equal(ikt_count_fds(), base - 2); /* the channel closed both */
}

static void test_timed_io_on_unreopenable_fifo(void **state)
{
    IK__UNUSED(state);
    fifo_case(0);
    fifo_case(1);
}

/* ---- 2. unix+dgram fallback: listener closed, channel kept --------------- */

static int child_dgram_keep(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_listener *l;
    if (ikt_listen_ready(&l, argv[0], argv[1]) != 0)
        return 41;
    ik_chan *ch;
    if (ik_accept(l, &ch, 20000) != 0)
        return 42;
    ik_listener_close(l); /* unlinks the socket file; the channel lives */
    char buf[8];
    size_t len;
    /* "go" from the dialer after it has waited through several slices. */
    if (ik_send(ch, "up", 2, 5000) != 0 || ik_recv(ch, buf, sizeof(buf), &len, 20000) != 0)
        return 43;
    if (ik_send(ch, "hi", 2, 5000) != 0)
        return 44;
    for (;;)
        pause();
}

static void test_dgram_listener_closed_not_dead(void **state)
{
    IK__UNUSED(state);
    for (int no_diag = 0; no_diag < 2; no_diag++) {
#ifdef IK__CHAN_TEST_HOOKS
        ik__udgram_test_no_diag(no_diag);
#endif
        char url[256];
        snprintf(url, sizeof(url), "unix+dgram://%s", ikt_name("dk"));
        pid_t pid = ikt_spawn_ready("dgram-keep", url);
        ik_chan *ch;
        assert_ok(ik_dial(&ch, url, NULL));
        char buf[8];
        size_t len;
        /* The server has closed its listener once "up" arrives. */
        assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000));
        /* Several liveness slices with a live, silent server. */
        int rc;
        rc = ik_recv(ch, buf, sizeof(buf), &len, 350);
        if (rc != IK_ETIMEDOUT)
            fail_msg("no_diag %d: live server: %s", no_diag, ik_err_name(rc));
        assert_ok(ik_send(ch, "go", 2, 5000));
        assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000));
        assert_int_equal(len, 2);
        /* And its death is still seen. */
        kill(pid, SIGKILL);
        assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
        rc = ik_recv(ch, buf, sizeof(buf), &len, 20000);
        if (rc != IK_EPEERDEAD && rc != IK_ECLOSED)
            fail_msg("no_diag %d: after kill -9: %s", no_diag, ik_err_name(rc));
        ik_chan_close(ch);
    }
#ifdef IK__CHAN_TEST_HOOKS
    ik__udgram_test_no_diag(0);
#endif
}

/* Dial, hand the channel to a child and exit: the child sends its pid,
 * answers "go" with "hi", then lives on. */
static int child_dgram_handoff(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_chan *ch;
    if (ik_dial(&ch, argv[0], NULL) != 0)
        return 45;
    pid_t kid = fork();
    if (kid < 0)
        return 46;
    if (kid > 0)
        _exit(0); /* the dialing process is gone; its socket is not */
    alarm(120);   /* never outlive a failed test by long */
    int me = (int)getpid();
    char buf[8];
    size_t len;
    if (ik_send(ch, &me, sizeof(me), 5000) != 0 ||
        ik_recv(ch, buf, sizeof(buf), &len, 20000) != 0 || ik_send(ch, "hi", 2, 5000) != 0)
        _exit(47);
    for (;;)
        pause();
}

static void test_dgram_handed_off_dialer_not_dead(void **state)
{
    IK__UNUSED(state);
    for (int no_diag = 0; no_diag < 2; no_diag++) {
#ifdef IK__CHAN_TEST_HOOKS
        ik__udgram_test_no_diag(no_diag);
#endif
        char url[256];
        snprintf(url, sizeof(url), "unix+dgram://%s", ikt_name("dh"));
        ik_listener *l;
        assert_ok(ik_listen(&l, url, NULL));
        pid_t pid = ikt_spawn(-1, "dgram-handoff", url, NULL);
        ik_chan *ch;
        assert_ok(ik_accept(l, &ch, 20000));
        int kid = 0;
        size_t len;
        assert_ok(ik_recv(ch, &kid, sizeof(kid), &len, 20000));
        assert_int_equal(len, sizeof(kid));
        assert_int_equal(ikt_wait(pid), 0); /* the dialer has exited */
        char buf[8];
        int rc = ik_recv(ch, buf, sizeof(buf), &len, 350);
        if (rc != IK_ETIMEDOUT)
            fail_msg("no_diag %d: live child: %s", no_diag, ik_err_name(rc));
        assert_ok(ik_send(ch, "go", 2, 5000));
        assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000));
        assert_int_equal(len, 2);
        kill((pid_t)kid, SIGKILL); /* not our child: seen through its socket */
        rc = ik_recv(ch, buf, sizeof(buf), &len, 20000);
        if (rc != IK_EPEERDEAD && rc != IK_ECLOSED)
            fail_msg("no_diag %d: after kill -9: %s", no_diag, ik_err_name(rc));
        ik_chan_close(ch);
        ik_listener_close(l);
    }
#ifdef IK__CHAN_TEST_HOOKS
    ik__udgram_test_no_diag(0);
#endif
}

/* ---- 3. fifo:// accept answers a vanished client without SIGPIPE ------- */

#define HANDSHAKES 50000

static int child_fifo_accept_loop(int argc, char **argv)
{
    IK__UNUSED(argc);
    signal(SIGPIPE, SIG_DFL);
    ik_listener *l;
    if (ikt_listen_ready(&l, argv[0], argv[1]) != 0)
        return 51;
    for (;;) { /* until the test kills it (a hello can be lost: no count) */
        ik_chan *ch;
        int rc = ik_accept(l, &ch, 10000);
        if (rc == 0)
            ik_chan_close(ch);
        else if (rc == IK_ETIMEDOUT)
            return 0; /* the test is gone (it never pauses that long) */
        else if (rc != IK_ECLOSED)
            return 52;
    }
}

static void test_fifo_accept_no_sigpipe(void **state)
{
    IK__UNUSED(state);
    const char *name = ikt_name("fs");
    char url[256], dir[512], up[700], down[700];
    snprintf(url, sizeof(url), "fifo://%s", name);
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    snprintf(up, sizeof(up), "%s/%s.up.fifo", dir, name);
    snprintf(down, sizeof(down), "%s/%s.down.fifo", dir, name);
    pid_t pid = ikt_spawn_ready("fifo-accept-loop", url);
    /* A raw client: hello, then gone at a varying point of the answer. Its
     * own hello may meet a listener that already closed: no SIGPIPE here. */
    signal(SIGPIPE, SIG_IGN);
    int status = -1;
    for (int i = 0; i < HANDSHAKES && status < 0; i++) {
        int d = open(down, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        assert_true(d >= 0);
        int u;
        while ((u = open(up, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
            assert_int_equal(errno, ENXIO); /* the listener is between accepts */
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
                break;
            }
        }
        if (u >= 0) {
            (void)!write(u, "H", 1);
            for (volatile unsigned k = 0; k < (unsigned)(i * 7919) % 20000; k++)
                ;
            close(u);
        }
        close(d);
    }
    signal(SIGPIPE, SIG_DFL);
    if (status < 0) { /* still serving: it survived every handshake */
        kill(pid, SIGKILL);
        status = ikt_wait(pid);
        if (status == 128 + SIGKILL)
            status = 0;
    }
    if (status != 0)
        fail_msg("the fifo listener ended with status %d (%d: SIGPIPE)", status, 128 + SIGPIPE);
}

static const struct ikt_child_role roles[] = {
    {"fifo-accept-loop", child_fifo_accept_loop},
    {"dgram-keep", child_dgram_keep},
    {"dgram-handoff", child_dgram_handoff},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    signal(SIGPIPE, SIG_DFL);
    ikt_private_runtime();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timed_io_on_unreopenable_fifo),
        cmocka_unit_test(test_dgram_listener_closed_not_dead),
        cmocka_unit_test(test_dgram_handed_off_dialer_not_dead),
        cmocka_unit_test(test_fifo_accept_no_sigpipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
