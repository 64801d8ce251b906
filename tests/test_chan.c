/* Channels: ONE semantic suite run on every transport, bad frames, URL and
 * option parsing, fd passing, inheritance across exec, the Python wire client. */
#include "helpers.h"
#include "chan_shared.h"
#include "core/internal.h"
#include "chan/chan_int.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUITE_MAX (4u << 20) /* max_msg configured for the suite */

/* ---- transport table: the suite runs once per row ---------------------- */

enum { K_PAIR, K_LISTEN };

struct tcase {
    const char *name;
    int kind;
    const char *url; /* printf format with %s = unique name (K_LISTEN) */
    int dgram;       /* connectionless: peer death is seen by liveness checks */
};

static const struct tcase cases[] = {
    {"pipe", K_PAIR, NULL, 0},
    {"unix", K_PAIR, NULL, 0},
    {"fifo", K_LISTEN, "fifo://%s", 0},
    {"unix", K_LISTEN, "unix://%s", 0},
    {"unix+seq", K_LISTEN, "unix+seq://%s", 0},
    {"unix+dgram", K_LISTEN, "unix+dgram://%s", 1},
    {"unix+abstract", K_LISTEN, "unix+abstract://%s", 0},
    {"tcp", K_LISTEN, "tcp://127.0.0.1:0", 0},
    {"tcp6", K_LISTEN, "tcp://[::1]:0", 0},
    {"tls", K_LISTEN, "tls://127.0.0.1:0", 0},
};

static char certdir[512];

static void certs(void)
{
    if (certdir[0] != '\0')
        return;
    snprintf(certdir, sizeof(certdir), "%s/certs", ikt_tmpdir());
    char out[256];
    int st = ikt_run(out, sizeof(out), "%s/tests/chan/gen_certs.sh %s", ikt_srcdir(), certdir);
    if (st != 0)
        fail_msg("gen_certs.sh failed: %d", st);
}

/* Listener options for a case (TLS needs a certificate). */
static ik_chan_opts *case_opts(const struct tcase *tc, int server)
{
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    assert_ok(ik_chan_opts_set_max_msg(o, SUITE_MAX));
    if (strcmp(tc->name, "tls") == 0) {
        certs();
        char ca[600], cert[600], key[600];
        snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
        snprintf(cert, sizeof(cert), "%s/server.pem", certdir);
        snprintf(key, sizeof(key), "%s/server.key", certdir);
        if (server)
            assert_ok(ik_chan_opts_set_tls_files(o, NULL, cert, key));
        else
            assert_ok(ik_chan_opts_set_tls_files(o, ca, NULL, NULL));
    }
    return o;
}

struct dialer {
    char url[600];
    ik_chan_opts *opts;
    ik_chan *ch;
    int rc;
    pthread_t th;
};

static void *dial_main(void *arg)
{
    struct dialer *d = arg;
    d->rc = ik_dial(&d->ch, d->url, d->opts);
    return NULL;
}

/* A connected (server, client) pair for tc; *lst is left listening (or NULL). */
static void connect_case(const struct tcase *tc, ik_listener **lst, ik_chan **srv, ik_chan **cli)
{
    *lst = NULL;
    if (tc->kind == K_PAIR) {
        assert_ok(ik_chan_pair(srv, cli, tc->name));
        return;
    }
    char url[256];
    snprintf(url, sizeof(url), tc->url, ikt_name("s"));
    ik_chan_opts *so = case_opts(tc, 1);
    assert_ok(ik_listen(lst, url, so));
    ik_chan_opts_free(so);
    struct dialer d = {.opts = case_opts(tc, 0)};
    assert_ok(ik_listener_url(*lst, d.url, sizeof(d.url)));
    pthread_create(&d.th, NULL, dial_main, &d);
    int arc = ik_accept(*lst, srv, 20000);
    pthread_join(d.th, NULL);
    ik_chan_opts_free(d.opts);
    if (arc != 0 || d.rc != 0)
        fail_msg("%s: accept %s dial %s (%s)", tc->name, ik_err_name(arc), ik_err_name(d.rc),
                 ik_chan_last_errdetail());
    *cli = d.ch;
}

/* Echo thread: sends back every message until the channel fails. */
struct echo {
    ik_chan *ch;
    pthread_t th;
    int count;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        void *buf;
        size_t len;
        if (ik_recv_alloc(e->ch, &buf, &len, 30000) != 0)
            break;
        if (len == 4 && memcmp(buf, "bye!", 4) == 0) {
            free(buf);
            break;
        }
        int rc = ik_send(e->ch, buf, len, 30000);
        free(buf);
        if (rc != 0)
            break;
        e->count++;
    }
    return NULL;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31u + seed);
    return p;
}

static void roundtrip(const struct tcase *tc, ik_chan *ch, size_t n, unsigned seed)
{
    uint8_t *p = pattern(n, seed);
    int rc = ik_send(ch, p, n, 30000);
    if (rc != 0)
        fail_msg("%s: send %zu: %s (%s)", tc->name, n, ik_err_name(rc), ik_chan_errdetail(ch));
    void *back;
    size_t len = 0;
    rc = ik_recv_alloc(ch, &back, &len, 30000);
    if (rc != 0)
        fail_msg("%s: recv %zu: %s (%s)", tc->name, n, ik_err_name(rc), ik_chan_errdetail(ch));
    assert_int_equal(len, n);
    assert_memory_equal(back, p, n);
    free(back);
    free(p);
}

/* ---- exec'd peer roles -------------------------------------------------- */

/* argv: kind url|fds... ; echo until failure. */
static int child_echo(int argc, char **argv)
{
    ik_chan *ch;
    int rc;
    if (strcmp(argv[0], "url") == 0) {
        ik_chan_opts *o;
        if (ik_chan_opts_new(&o) != 0)
            return 10;
        if (argc > 2 && ik_chan_opts_set_tls_files(o, argv[2], NULL, NULL) != 0)
            return 11;
        if (ik_chan_opts_set_max_msg(o, SUITE_MAX) != 0)
            return 13;
        rc = ik_dial(&ch, argv[1], o);
        ik_chan_opts_free(o);
    } else {
        rc = ik_chan_from_fd(&ch, argv[0], atoi(argv[1]), atoi(argv[2]), NULL);
    }
    if (rc != 0) {
        fprintf(stderr, "child dial: %s %s\n", ik_err_name(rc), ik_chan_last_errdetail());
        return 12;
    }
    struct echo e = {.ch = ch};
    echo_main(&e);
    ik_chan_close(ch);
    return 0;
}

static int child_recv_fds(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_chan *ch;
    if (ik_chan_from_fd(&ch, "unix", atoi(argv[0]), atoi(argv[0]), NULL) != 0)
        return 20;
    char buf[64];
    size_t len;
    int fds[2], n = 0;
    if (ik_recv_fds(ch, buf, sizeof(buf), &len, fds, 2, &n, 10000) != 0 || n != 2)
        return 21;
    /* Write through the received pipe write end, report on the channel. */
    if (write(fds[1], "via-fd", 6) != 6)
        return 22;
    close(fds[0]);
    close(fds[1]);
    if (ik_send(ch, "done", 4, 10000) != 0)
        return 23;
    ik_chan_close(ch);
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"echo", child_echo},
    {"recv-fds", child_recv_fds},
    {NULL, NULL},
};

/* ---- the semantic suite (one function, every transport) ----------------- */

static void run_suite(const struct tcase *tc)
{
    ik_listener *lst;
    ik_chan *a, *b;
    connect_case(tc, &lst, &a, &b);
    struct echo e = {.ch = b};
    pthread_create(&e.th, NULL, echo_main, &e);

    /* sizes */
    const size_t max = (size_t)ik_chan_max_msg(a); /* SUITE_MAX, or the default for pairs */
    const size_t sizes[] = {0, 1, 4095, 4096, 65536, 1u << 20, max};
    for (size_t i = 0; i < IK__ARRAY_LEN(sizes); i++)
        roundtrip(tc, a, sizes[i], (unsigned)i);
    /* above max: refused on send, the channel stays usable */
    uint8_t one = 1;
    struct iovec big[2] = {{&one, 1}, {NULL, 0}};
    uint8_t *pmax = pattern(max, 7);
    big[1] = (struct iovec){pmax, max};
    assert_ik(IK_EMSGSIZE, ik_sendv(a, big, 2, 1000));
    free(pmax);
    /* ik_recv into a buffer: exact size, and a too-small buffer keeps it */
    assert_ok(ik_send(a, "abcdef", 6, 5000));
    char small[4], ok[16];
    size_t len = 0;
    assert_ik(IK_ERANGE, ik_recv(a, small, sizeof(small), &len, 5000));
    assert_int_equal(len, 6);
    assert_ok(ik_recv(a, ok, sizeof(ok), &len, 5000));
    assert_int_equal(len, 6);
    assert_memory_equal(ok, "abcdef", 6);

    /* order: many small messages in flight at once, sendv pieces */
    for (unsigned i = 0; i < 100; i++) {
        uint32_t v = i;
        struct iovec iov[2] = {{&v, sizeof(v)}, {ok, i % 7}};
        assert_ok(ik_sendv(a, iov, 2, 5000));
    }
    for (unsigned i = 0; i < 100; i++) {
        uint8_t buf[32];
        assert_ok(ik_recv(a, buf, sizeof(buf), &len, 5000));
        assert_int_equal(len, 4 + i % 7);
        uint32_t v;
        memcpy(&v, buf, 4);
        assert_int_equal(v, i);
    }

    /* timeouts: nothing to read; never earlier than the deadline */
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_recv(a, ok, sizeof(ok), &len, 50));
    assert_true(ik__now_ns() - t0 >= 50u * 1000000u);
    assert_ik(IK_ETIMEDOUT, ik_recv(a, ok, sizeof(ok), &len, 0));
    /* pollfd: readable once a message is there */
    assert_ok(ik_send(a, "p", 1, 5000));
    struct pollfd pf = {.fd = ik_chan_pollfd(a), .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 10000), 1);
    assert_ok(ik_recv(a, ok, sizeof(ok), &len, 5000));

    /* peer close: stop the echo thread by closing its channel */
    assert_ok(ik_send(a, "bye!", 4, 5000));
    pthread_join(e.th, NULL);
    ik_chan_close(b);
    if (!tc->dgram) {
        assert_ik(IK_ECLOSED, ik_recv(a, ok, sizeof(ok), &len, 5000));
        assert_ik(IK_ECLOSED, ik_recv(a, ok, sizeof(ok), &len, 5000));
    }
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++) /* a send may still be buffered first */
        rc = ik_send(a, ok, sizeof(ok), 1000);
    assert_true(rc == IK_ECLOSED || rc == IK_EPEERDEAD);
    ik_chan_close(a);
    ik_listener_close(lst);
}

/* Peer kill -9: an exec'd child echoes, then dies. */
static void run_kill9(const struct tcase *tc)
{
    ik_chan *a = NULL;
    ik_listener *lst = NULL;
    pid_t pid;
    if (tc->kind == K_PAIR) {
        ik_chan *b;
        assert_ok(ik_chan_pair(&a, &b, tc->name));
        int r, w;
        assert_ok(ik_chan_fd(b, &r, &w));
        fcntl(r, F_SETFD, 0);
        fcntl(w, F_SETFD, 0);
        char rs[16], ws[16];
        snprintf(rs, sizeof(rs), "%d", r);
        snprintf(ws, sizeof(ws), "%d", w);
        pid = ikt_spawn(-1, "echo", tc->name, rs, ws, NULL);
        ik_chan_close(b);
    } else {
        char url[256], real[600], ca[600];
        snprintf(url, sizeof(url), tc->url, ikt_name("k"));
        ik_chan_opts *so = case_opts(tc, 1);
        assert_ok(ik_listen(&lst, url, so));
        ik_chan_opts_free(so);
        assert_ok(ik_listener_url(lst, real, sizeof(real)));
        snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
        if (strcmp(tc->name, "tls") == 0)
            pid = ikt_spawn(-1, "echo", "url", real, ca, NULL);
        else
            pid = ikt_spawn(-1, "echo", "url", real, NULL);
        int rc = ik_accept(lst, &a, 20000);
        if (rc != 0)
            fail_msg("%s accept: %s %s", tc->name, ik_err_name(rc), ik_chan_last_errdetail());
    }
    roundtrip(tc, a, 1000, 3); /* the child is alive and echoing */
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    char buf[16];
    size_t len;
    {
        /* Datagrams have no EOF: a receive without timeout must still see
         * the peer gone (liveness checks between wait slices). */
        int rc = ik_recv(a, buf, sizeof(buf), &len, tc->dgram ? -1 : 10000);
        assert_true(rc == IK_ECLOSED || rc == IK_EPEERDEAD);
    }
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = ik_send(a, buf, sizeof(buf), 1000);
    assert_true(rc == IK_ECLOSED || rc == IK_EPEERDEAD);
    ik_chan_close(a);
    ik_listener_close(lst);
}

static void test_semantics(void **state)
{
    run_suite(*state);
}

static void test_kill9(void **state)
{
    run_kill9(*state);
}

/* ---- bad frames ---------------------------------------------------------- */

static void raw_write(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void hdr(uint8_t h[12], uint8_t m0, uint8_t ver, uint8_t nfds, uint64_t len)
{
    h[0] = m0;
    h[1] = 'K';
    h[2] = ver;
    h[3] = nfds;
    for (int i = 0; i < 8; i++)
        h[4 + i] = (uint8_t)(len >> (8 * i));
}

/* Feed bytes through the peer's fd, expect err from ik_recv_alloc (no huge
 * allocation: it returns before malloc), then IK_ECLOSED for good. */
static void bad_frame_case(const char *kind, const void *bytes, size_t n, int close_after, int err)
{
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, kind));
    int r, w;
    assert_ok(ik_chan_fd(b, &r, &w));
    raw_write(w, bytes, n);
    if (close_after) {
        ik_chan_close(b);
        b = NULL;
    }
    void *buf = NULL;
    size_t len;
    assert_ik(err, ik_recv_alloc(a, &buf, &len, 5000));
    assert_null(buf);
    assert_true(ik_chan_errdetail(a)[0] != '\0');
    assert_ik(IK_ECLOSED, ik_recv_alloc(a, &buf, &len, 0));
    assert_ik(IK_ECLOSED, ik_send(a, "x", 1, 0));
    ik_chan_close(a);
    ik_chan_close(b);
}

static void test_bad_frames(void **state)
{
    IK__UNUSED(state);
    const char *kinds[] = {"pipe", "unix"};
    for (int k = 0; k < 2; k++) {
        uint8_t h[24];
        hdr(h, 'I', 1, 0, 100);
        memcpy(h + 12, "only ten b", 10);
        bad_frame_case(kinds[k], h, 22, 1, IK_ECLOSED); /* truncated payload */
        bad_frame_case(kinds[k], h, 5, 1, IK_ECLOSED);  /* truncated header */
        hdr(h, 'I', 1, 0, IK_CHAN_MAX_MSG_DEFAULT + 1);
        bad_frame_case(kinds[k], h, 12, 0, IK_EMSGSIZE);
        hdr(h, 'I', 1, 0, UINT32_MAX);
        bad_frame_case(kinds[k], h, 12, 0, IK_EMSGSIZE);
        hdr(h, 'I', 1, 0, UINT64_MAX);
        bad_frame_case(kinds[k], h, 12, 0, IK_EMSGSIZE);
        hdr(h, 'X', 1, 0, 4);
        bad_frame_case(kinds[k], h, 12, 0, IK_EPROTO); /* garbage magic */
        hdr(h, 'I', 9, 0, 4);
        bad_frame_case(kinds[k], h, 12, 0, IK_EPROTO); /* unknown version */
        hdr(h, 'I', 1, 3, 4);
        bad_frame_case(kinds[k], h, 12, 0, IK_EPROTO); /* fds announced, none sent */
        bad_frame_case(kinds[k], "GET / HTTP/1.1\r\n", 16, 0, IK_EPROTO);
    }
    /* the decoder on its own */
    uint8_t h[12];
    uint64_t len;
    unsigned nfds;
    hdr(h, 'I', 1, 0, 5);
    assert_ok(ik_frame_decode(h, 12, 100, &len, &nfds));
    assert_int_equal(len, 5);
    assert_ik(IK_EAGAIN, ik_frame_decode(h, 11, 100, &len, &nfds));
    assert_ik(IK_EMSGSIZE, ik_frame_decode(h, 12, 4, &len, &nfds));
    hdr(h, 'I', 1, 17, 5);
    assert_ik(IK_EPROTO, ik_frame_decode(h, 12, 100, &len, &nfds));
}

/* ---- URLs and options ---------------------------------------------------- */

static void test_urls_and_options(void **state)
{
    IK__UNUSED(state);
    ik_chan *ch;
    ik_listener *l;
    const char *bad[] = {"",
                         "nocolon",
                         ":x",
                         "Unix://a",
                         "unix:/a",
                         "unix://",
                         "unix://a/b",
                         "unix://../x",
                         "unix:///a/../b",
                         "unix:///a//b",
                         "unix://a b",
                         "tcp://127.0.0.1",
                         "tcp://127.0.0.1:",
                         "tcp://127.0.0.1:99999",
                         "tcp://127.0.0.1:12a",
                         "tcp://[::1:5",
                         "tcp://[]:5",
                         "tcp://[zz]:5",
                         "unix://a?max_msg=1&",
                         "unix://a?bogus=1",
                         "unix://a?max_msg=99999999999",
                         "unix://a?max_msg=-1",
                         "unix://a?max_msg=9999999999999999999", /* > INT64_MAX: no overflow */
                         "unix://a?timeout=-9999999999999999999",
                         "unix://a?raw=2",
                         "unix://a?=1",
                         "unix://a?timeout",
                         "unix+seq://a?raw=1",
                         "unix://a#frag",
                         "ftp://host:21",
                         "pipe:"};
    for (size_t i = 0; i < IK__ARRAY_LEN(bad); i++) {
        int rc = ik_dial(&ch, bad[i], NULL);
        if (rc != IK_EINVAL && rc != IK_ENOTSUP && rc != IK_EBADNAME)
            fail_msg("dial '%s' gave %s", bad[i], ik_err_name(rc));
        rc = ik_listen(&l, bad[i], NULL);
        if (rc != IK_EINVAL && rc != IK_ENOTSUP && rc != IK_EBADNAME)
            fail_msg("listen '%s' gave %s", bad[i], ik_err_name(rc));
    }
    char huge[8192];
    memset(huge, 'a', sizeof(huge) - 1);
    memcpy(huge, "unix://", 7);
    huge[sizeof(huge) - 1] = '\0';
    assert_ik(IK_EINVAL, ik_dial(&ch, huge, NULL));
    assert_ik(IK_EINVAL, ik_dial(&ch, NULL, NULL));
    /* typed setters */
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    assert_ik(IK_EINVAL, ik_chan_opts_set_max_msg(o, IK_CHAN_MAX_MSG_LIMIT + 1));
    assert_ok(ik_chan_opts_set_max_msg(o, IK_CHAN_MAX_MSG_LIMIT));
    assert_ik(IK_EINVAL, ik_chan_opts_set_timeout(o, -2));
    assert_ik(IK_EINVAL, ik_chan_opts_set_raw(o, 3));
    assert_ik(IK_EINVAL, ik_chan_opts_set_tls_files(o, NULL, "cert", NULL));
    assert_ik(IK_EINVAL, ik_chan_opts_set_limits(o, 0, 10));
    assert_ik(IK_EINVAL, ik_chan_opts_allow_uid(o, (uid_t)-1)); /* = "no credentials" */
    assert_ik(IK_EINVAL, ik_chan_opts_allow_gid(o, (gid_t)-1));
    assert_ok(ik_chan_opts_parse(o, "max_msg=100&timeout=5&verify=1&allow_uid=7"));
    ik_chan_opts_free(o);
    /* query options reach the channel */
    const char *n = ikt_name("q");
    char url[128];
    snprintf(url, sizeof(url), "unix://%s?max_msg=100", n);
    assert_ok(ik_listen(&l, url, NULL));
    snprintf(url, sizeof(url), "unix://%s?max_msg=10", n);
    assert_ok(ik_dial(&ch, url, NULL));
    assert_int_equal(ik_chan_max_msg(ch), 10);
    assert_ik(IK_EMSGSIZE, ik_send(ch, "01234567890", 11, 100));
    ik_chan *s;
    assert_ok(ik_accept(l, &s, 5000));
    assert_int_equal(ik_chan_max_msg(s), 100);
    assert_ok(ik_send(s, "01234567890", 11, 100));
    char buf[32];
    size_t len;
    assert_ik(IK_EMSGSIZE, ik_recv(ch, buf, sizeof(buf), &len, 5000)); /* 11 > 10: closed */
    assert_ik(IK_ECLOSED, ik_recv(ch, buf, sizeof(buf), &len, 0));
    ik_chan_close(ch);
    ik_chan_close(s);
    ik_listener_close(l);
    /* pair kinds */
    ik_chan *x, *y;
    assert_ik(IK_ENOTSUP, ik_chan_pair(&x, &y, "tcp"));
    assert_ik(IK_ENOTSUP, ik_chan_from_fd(&x, "nope", 0, 0, NULL));
    assert_ik(IK_EINVAL, ik_chan_from_fd(&x, "unix", 0, 0, NULL)); /* stdin is no socket */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_ik(IK_EINVAL, ik_chan_from_fd(&x, "tcp", sv[0], sv[0], NULL)); /* not an IP socket */
    close(sv[0]);
    close(sv[1]);
    char fifo[600];
    snprintf(fifo, sizeof(fifo), "%s/rw.fifo", ikt_tmpdir());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rw = open(fifo, O_RDWR | O_CLOEXEC), wo = open(fifo, O_WRONLY | O_CLOEXEC);
    assert_true(rw >= 0 && wo >= 0);
    assert_ik(IK_EINVAL, ik_chan_from_fd(&x, "fifo", rw, wo, NULL)); /* a reader that writes */
    close(rw);
    close(wo);
}

/* fds ride on frames: raw=1 with fds=1 could never hand them out. A
 * kernel ETIMEDOUT (keepalive gave up) is a dead connection, not the
 * caller's deadline. */
static void test_raw_fds_and_kernel_timeouts(void **state)
{
    IK__UNUSED(state);
    char url[128];
    snprintf(url, sizeof(url), "unix://%s?raw=1&fds=1", ikt_name("rf"));
    ik_listener *l;
    assert_ik(IK_EINVAL, ik_listen(&l, url, NULL));
    ik_chan *a, *b;
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "unix?raw=1&fds=1"));
    assert_ik(IK_ECLOSED, ik__io_map_errno(ETIMEDOUT));
    assert_ik(IK_ECLOSED, ik__io_map_errno(EHOSTUNREACH));
}

static int count_obj(const ik_obj_info *o, void *arg)
{
    (void)o;
    (void)arg;
    return 0;
}

/* The files a channel makes of its name are valid object names, so ipckit
 * ls/rm/gc see them: longer names are refused up front. */
static void test_name_lengths_fit_the_registry(void **state)
{
    const struct {
        const char *scheme;
        size_t max;
    } lims[] = {{"unix://", 59}, {"unix+seq://", 59}, {"fifo://", 54}};
    for (size_t i = 0; i < IK__ARRAY_LEN(lims); i++) {
        char url[128], name[80];
        for (size_t len = lims[i].max; len <= lims[i].max + 1; len++) {
            int n = snprintf(name, sizeof(name), "%s", ikt_name("len"));
            memset(name + n, 'x', len - (size_t)n);
            name[len] = '\0';
            snprintf(url, sizeof(url), "%s%s", lims[i].scheme, name);
            ik_listener *l = NULL;
            int rc = ik_listen(&l, url, NULL);
            if (len > lims[i].max) {
                assert_ik(IK_ENAMETOOLONG, rc);
                continue;
            }
            assert_ok(rc);
            assert_true(ik_obj_list(name, 0, count_obj, NULL) >= 1); /* listed */
            ik_listener_close(l);
        }
    }
}

/* ---- fd passing ----------------------------------------------------------- */

/* Without fds=1 an end refuses fds: ik_send_fds gets IK_EPERM, nothing is
 * sent, no fd moves, and the channel goes on. fds=1 on a listener covers
 * the channels it accepts, in one direction only. */
static void refused_case(ik_chan *snd, ik_chan *rcv)
{
    int one = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int before = ikt_count_fds();
    assert_ik(IK_EPERM, ik_send_fds(snd, "f", 1, &one, 1, 1000));
    assert_non_null(strstr(ik_chan_errdetail(snd), "fds=1"));
    assert_int_equal(ikt_count_fds(), before);
    close(one);
    char buf[8];
    size_t len;
    assert_ik(IK_ETIMEDOUT, ik_recv(snd, buf, sizeof(buf), &len, 0));
    assert_string_equal(ik_chan_errdetail(snd), ""); /* the detail was that call's */
    assert_ok(ik_send(snd, "go", 2, 1000));
    assert_ok(ik_recv(rcv, buf, sizeof(buf), &len, 1000));
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "go", 2);
}

static void test_fds_opt_in(void **state)
{
    IK__UNUSED(state);
    int refusable = 0;
#ifdef IK__SO_PASSRIGHTS
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), v = 1;
    socklen_t sl = sizeof(v);
    refusable = getsockopt(s, SOL_SOCKET, IK__SO_PASSRIGHTS, &v, &sl) == 0;
    close(s);
#endif
    ik_chan *a, *b;
    if (refusable) {
        const char *kinds[] = {"unix", "unix+seq"};
        for (int i = 0; i < 2; i++) {
            assert_ok(ik_chan_pair(&a, &b, kinds[i]));
            refused_case(a, b);
            ik_chan_close(a);
            ik_chan_close(b);
        }
        /* listener fds=1: the server end accepts fds, the dialer does not */
        char url[256];
        snprintf(url, sizeof(url), "unix://%s?fds=1", ikt_name("fds"));
        ik_listener *l;
        assert_ok(ik_listen(&l, url, NULL));
        *strchr(url, '?') = '\0';
        assert_ok(ik_dial(&a, url, NULL));
        assert_ok(ik_accept(l, &b, 5000));
        int one = open("/dev/null", O_RDONLY | O_CLOEXEC), got = -1, ng = 0;
        assert_ok(ik_send_fds(a, "f", 1, &one, 1, 1000));
        close(one);
        char buf[8];
        size_t len;
        assert_ok(ik_recv_fds(b, buf, sizeof(buf), &len, &got, 1, &ng, 1000));
        assert_int_equal(ng, 1);
        close(got);
        refused_case(b, a);
        ik_chan_close(a);
        ik_chan_close(b);
        ik_listener_close(l);
        /* An adopted socket keeps its creator's choice; fds=1 cannot undo it. */
        assert_ok(ik_chan_pair(&a, &b, "unix"));
        int bfd, dfd;
        assert_ok(ik_chan_fd(b, &bfd, NULL));
        assert_true((dfd = fcntl(bfd, F_DUPFD_CLOEXEC, 0)) >= 0);
        ik_chan *x;
        ik_chan_opts *o;
        assert_ok(ik_chan_opts_new(&o));
        assert_ok(ik_chan_opts_set_fds(o, 1));
        assert_ik(IK_EINVAL, ik_chan_from_fd(&x, "unix", dfd, dfd, o));
        assert_non_null(strstr(ik_chan_last_errdetail(), "refuses fds"));
        ik_chan_opts_free(o);
        assert_ok(ik_chan_from_fd(&x, "unix", dfd, dfd, NULL)); /* x owns dfd */
        refused_case(a, x);
        ik_chan_close(x);
        ik_chan_close(a);
        ik_chan_close(b);
        /* seqpacket read with recv(2): an oversized packet is still caught */
        assert_ok(ik_chan_pair(&a, &b, "unix+seq"));
        assert_ok(ik_chan_fd(b, &bfd, NULL));
        size_t big = 64 * 1024 + 4096;
        uint8_t *p = calloc(1, big);
        assert_non_null(p);
        p[0] = 'I';
        p[1] = 'K';
        p[2] = 1;
        assert_int_equal(send(bfd, p, big, MSG_NOSIGNAL), (ssize_t)big);
        free(p);
        size_t n;
        char tmp[8];
        assert_ik(IK_EPROTO, ik_recv(a, tmp, sizeof(tmp), &n, 1000));
        assert_non_null(strstr(ik_chan_errdetail(a), "oversized"));
        ik_chan_close(a);
        ik_chan_close(b);
    }
    /* A kernel that cannot refuse (before 6.16): fds arrive anyway. An end
     * that did not opt in closes them on arrival (announced or not) and
     * still gets the message; an fds=1 end receives them. */
    ik__unix_test_no_passrights(1);
    assert_ok(ik_chan_pair(&a, &b, "unix"));
    int one = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int before = ikt_count_fds();
    assert_ok(ik_send_fds(a, "f", 1, &one, 1, 1000));
    char buf[8];
    size_t len;
    int got[2], ng = -1;
    assert_ok(ik_recv_fds(b, buf, sizeof(buf), &len, got, 2, &ng, 1000));
    assert_int_equal(ng, 0);
    assert_int_equal(ikt_count_fds(), before);
    int afd;
    assert_ok(ik_chan_fd(a, &afd, NULL));
    assert_int_equal(ikt_send_frame_fds(afd, 0, 2), 13); /* fds the frame does not announce */
    assert_ok(ik_recv(b, buf, sizeof(buf), &len, 1000));
    assert_int_equal(ikt_count_fds(), before); /* closed, not queued */
    close(one);
    ik_chan_close(a);
    ik_chan_close(b);
    assert_ok(ik_chan_pair(&a, &b, "unix?fds=1"));
    assert_ok(ik_chan_fd(a, &afd, NULL));
    assert_int_equal(ikt_send_frame_fds(afd, 1, 1), 13);
    assert_ok(ik_recv_fds(b, buf, sizeof(buf), &len, got, 2, &ng, 1000));
    assert_int_equal(ng, 1);
    close(got[0]);
    ik_chan_close(a);
    ik_chan_close(b);
    ik__unix_test_no_passrights(0);
    /* bad options in a pair kind */
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "unix?fds=2"));
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "unix+seq?raw=1"));
    assert_ik(IK_ENOTSUP, ik_chan_pair(&a, &b, "nope?fds=1"));
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "pipe?fds=1"));       /* cannot carry fds */
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "unix?allow_uid=0")); /* no meaning for a pair */
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "unix?timeout=5"));
    assert_ik(IK_EINVAL, ik_chan_pair(&a, &b, "unix?fds=1&"));
    assert_ok(ik_chan_pair(&a, &b, "unix+seq?fds=1&max_msg=1024"));
    assert_int_equal(ik_chan_max_msg(a), 1024);
    ik_chan_close(a);
    ik_chan_close(b);
    ik_listener *tl;
    assert_ik(IK_EINVAL, ik_listen(&tl, "tcp://127.0.0.1:0?fds=1", NULL));
}

static void test_fd_passing_across_exec(void **state)
{
    IK__UNUSED(state);
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "unix?fds=1"));
    int fd;
    assert_ok(ik_chan_fd(b, &fd, NULL));
    char fs[16];
    snprintf(fs, sizeof(fs), "%d", fd);
    pid_t pid = ikt_spawn(fd, "recv-fds", fs, NULL);
    ik_chan_close(b);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_ok(ik_send_fds(a, "fds", 3, p, 2, 5000));
    close(p[1]);
    char buf[16];
    size_t len;
    assert_ok(ik_recv(a, buf, sizeof(buf), &len, 10000));
    assert_int_equal(len, 4);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "via-fd", 6);
    close(p[0]);
    assert_int_equal(ikt_wait(pid), 0);
    ik_chan_close(a);
    /* the receiver closes fds beyond what it asked for (stream and seqpacket) */
    ik_chan *c, *d;
    assert_ok(ik_chan_pair(&c, &d, "unix+seq?fds=1"));
    {
        int one = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int before_seq = ikt_count_fds();
        assert_ok(ik_send_fds(c, "s", 1, &one, 1, 1000));
        close(one);
        assert_ok(ik_recv(d, buf, sizeof(buf), &len, 1000)); /* fds not wanted: closed */
        assert_int_equal(ikt_count_fds(), before_seq - 1);
        ik_chan_close(c);
        ik_chan_close(d);
    }
    assert_ok(ik_chan_pair(&c, &d, "unix?fds=1"));
    int before = ikt_count_fds();
    int many[5];
    for (int i = 0; i < 5; i++)
        many[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_ok(ik_send_fds(c, "m", 1, many, 5, 1000));
    for (int i = 0; i < 5; i++)
        close(many[i]);
    int got[2], ng = 0;
    assert_ok(ik_recv_fds(d, buf, sizeof(buf), &len, got, 2, &ng, 1000));
    assert_int_equal(ng, 2);
    close(got[0]);
    close(got[1]);
    assert_int_equal(ikt_count_fds(), before);
    assert_ik(IK_EINVAL, ik_send_fds(c, "m", 1, many, 17, 1000));
    ik_chan_close(c);
    ik_chan_close(d);
    /* not on pipes */
    assert_ok(ik_chan_pair(&c, &d, "pipe"));
    assert_ik(IK_ENOTSUP, ik_send_fds(c, "m", 1, many, 1, 1000));
    ik_chan_close(c);
    ik_chan_close(d);
}

/* ---- timeout mid-message keeps the message whole -------------------------- */

static void test_partial_then_timeout(void **state)
{
    IK__UNUSED(state);
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "unix"));
    int r, w;
    assert_ok(ik_chan_fd(b, &r, &w));
    uint8_t h[12];
    hdr(h, 'I', 1, 0, 10);
    raw_write(w, h, 12);
    raw_write(w, "01234", 5);
    char buf[16];
    size_t len = 99;
    assert_ik(IK_ETIMEDOUT, ik_recv(a, buf, sizeof(buf), &len, 20));
    raw_write(w, "56789", 5);
    assert_ok(ik_recv(a, buf, sizeof(buf), &len, 1000));
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "0123456789", 10);
    ik_chan_close(a);
    ik_chan_close(b);
}

/* ---- raw mode ------------------------------------------------------------- */

static void test_raw_mode(void **state)
{
    IK__UNUSED(state);
    const char *n = ikt_name("raw");
    char url[128];
    snprintf(url, sizeof(url), "unix://%s?raw=1", n);
    ik_listener *l;
    ik_chan *c, *s;
    ikt_connect(url, &l, &c, &s);
    assert_ok(ik_send(c, "plain bytes", 11, 1000));
    char buf[64];
    size_t len;
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 1000));
    assert_int_equal(len, 11); /* no header on the wire */
    assert_memory_equal(buf, "plain bytes", 11);
    ik_chan_close(c);
    assert_ik(IK_ECLOSED, ik_recv(s, buf, sizeof(buf), &len, 1000));
    ik_chan_close(s);
    ik_listener_close(l);
}

/* ---- Python client speaking the wire format -------------------------------- */

static void python_case(int unix_socket)
{
    ik_listener *l;
    char path[512] = "";
    if (unix_socket) {
        snprintf(path, sizeof(path), "%s/py-%d.sock", ikt_tmpdir(), (int)getpid());
        char u[600];
        snprintf(u, sizeof(u), "unix://%s", path);
        assert_ok(ik_listen(&l, u, NULL));
    } else {
        assert_ok(ik_listen(&l, "tcp://127.0.0.1:0", NULL));
    }
    char url[128];
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    const char *port = strrchr(url, ':') + 1;
    char script[512];
    snprintf(script, sizeof(script), "%s/tests/chan/wire_client.py", ikt_srcdir());
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (unix_socket)
            execlp("python3", "python3", script, "unix", path, (char *)NULL);
        else
            execlp("python3", "python3", script, "127.0.0.1", port, (char *)NULL);
        _exit(127);
    }
    ik_chan *ch;
    assert_ok(ik_accept(l, &ch, 20000));
    char buf[64];
    size_t len;
    assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000));
    assert_int_equal(len, 17);
    assert_memory_equal(buf, "hello from python", 17);
    assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000));
    assert_int_equal(len, 0);
    assert_ok(ik_send(ch, "hello from ipckit", 17, 5000));
    uint8_t *big = malloc(100000);
    for (int i = 0; i < 100000; i++)
        big[i] = (uint8_t)(i % 251);
    assert_ok(ik_send(ch, big, 100000, 5000));
    free(big);
    assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000));
    assert_int_equal(len, 4);
    uint32_t n;
    memcpy(&n, buf, 4);
    assert_int_equal(n, 100000);
    assert_int_equal(ikt_wait(pid), 0);
    ik_chan_close(ch);
    ik_listener_close(l);
}

static void test_python_wire_client(void **state)
{
    IK__UNUSED(state);
    python_case(0);
    python_case(1);
}

/* ---- several writers on one pipe: messages up to PIPE_BUF stay whole ---- */

#define ATOMIC_PAYLOAD (4096 - IK_FRAME_HDR_SIZE)

struct writer_arg {
    ik_chan *w;
    int idx;
};

static int shared_writer(void *arg)
{
    struct writer_arg *a = arg;
    uint8_t buf[ATOMIC_PAYLOAD];
    for (int i = 0; i < 200; i++) {
        memset(buf, 'A' + a->idx, sizeof(buf));
        memcpy(buf, &i, sizeof(i));
        if (ik_send(a->w, buf, sizeof(buf), 10000) != 0)
            return 1;
    }
    return 0;
}

static void test_pipe_buf_atomic_writers(void **state)
{
    IK__UNUSED(state);
    ik_chan *r, *w;
    assert_ok(ik_chan_pair(&r, &w, "pipe"));
    pid_t pids[4];
    struct writer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct writer_arg){w, i};
        pids[i] = ikt_fork(shared_writer, &args[i]); /* all share w's write end */
    }
    ik_chan_close(w);
    int per_pid[4] = {0};
    for (int n = 0; n < 800; n++) {
        uint8_t buf[ATOMIC_PAYLOAD];
        size_t len;
        assert_ok(ik_recv(r, buf, sizeof(buf), &len, 20000));
        assert_int_equal(len, ATOMIC_PAYLOAD);
        uint8_t tag = buf[sizeof(int)];
        for (size_t k = sizeof(int); k < len; k++)
            if (buf[k] != tag)
                fail_msg("message %d interleaved at byte %zu", n, k);
        int seq;
        memcpy(&seq, buf, sizeof(seq));
        int who = tag - 'A';
        assert_true(who >= 0 && who < 4);
        assert_int_equal(seq, per_pid[who]++); /* per writer, in order */
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(ikt_wait(pids[i]), 0);
    size_t len;
    uint8_t b;
    assert_ik(IK_ECLOSED, ik_recv(r, &b, 1, &len, 5000));
    ik_chan_close(r);
}

/* ---- EINTR is handled inside ------------------------------------------ */

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    IK__UNUSED(sig);
    ticks++;
}

static void test_eintr_handled_inside(void **state)
{
    IK__UNUSED(state);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: calls get EINTR */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, NULL);
    const char *kinds[] = {"pipe", "unix"};
    for (int k = 0; k < 2; k++) {
        ik_chan *a, *b;
        assert_ok(ik_chan_pair(&a, &b, kinds[k]));
        struct echo e = {.ch = b};
        pthread_t th;
        pthread_create(&th, NULL, echo_main, &e);
        for (int i = 0; i < 3; i++)
            roundtrip(&cases[k], a, 4u << 20, (unsigned)i); /* blocks many times */
        char buf[8];
        size_t len;
        uint64_t t0 = ik__now_ns();
        assert_ik(IK_ETIMEDOUT, ik_recv(a, buf, sizeof(buf), &len, 100));
        assert_true(ik__now_ns() - t0 >= 100u * 1000000u);
        assert_ik(0, ik_send(a, "bye!", 4, 1000));
        pthread_join(th, NULL);
        ik_chan_close(a);
        ik_chan_close(b);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
    assert_true(ticks > 0);
}

/* ---- TCP: options and connect timeout --------------------------------- */

static void test_tcp_options_and_connect_timeout(void **state)
{
    IK__UNUSED(state);
    ik_listener *l;
    assert_ok(ik_listen(&l, "tcp://127.0.0.1:0?backlog=1", NULL));
    char url[128], durl[160];
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    ik_chan *c;
    assert_ok(ik_dial(&c, url, NULL));
    int fd, v = 0;
    socklen_t sl = sizeof(v);
    assert_ok(ik_chan_fd(c, &fd, NULL));
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &sl), 0);
    assert_int_equal(v, 1);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &sl), 0);
    assert_int_equal(v, 1);
    /* Nobody accepts: once the backlog is full, SYNs are dropped and the
     * dial must give up at its timeout (never earlier). */
    snprintf(durl, sizeof(durl), "%s?timeout=200", url);
    ik_chan *more[16];
    int n = 0, rc = 0;
    uint64_t t0 = 0;
    while (n < 16) {
        t0 = ik__now_ns();
        rc = ik_dial(&more[n], durl, NULL);
        if (rc != 0)
            break;
        n++;
    }
    assert_ik(IK_ETIMEDOUT, rc);
    assert_true(ik__now_ns() - t0 >= 200u * 1000000u);
    for (int i = 0; i < n; i++)
        ik_chan_close(more[i]);
    ik_chan_close(c);
    ik_listener_close(l);
    /* nobody listening at all */
    assert_ok(ik_listen(&l, "tcp://127.0.0.1:0", NULL));
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    ik_listener_close(l);
    assert_ik(IK_ECONNREFUSED, ik_dial(&c, url, NULL));
}

/* ---- listener limits ------------------------------------------------------ */

static void test_connection_limit(void **state)
{
    IK__UNUSED(state);
    const char *n = ikt_name("lim");
    char url[128];
    snprintf(url, sizeof(url), "unix://%s?max_conns=1", n);
    ik_listener *l;
    assert_ok(ik_listen(&l, url, NULL));
    ik_chan *c1, *c2, *s1, *s2;
    assert_ok(ik_dial(&c1, url, NULL));
    assert_ok(ik_dial(&c2, url, NULL));
    assert_ok(ik_accept(l, &s1, 5000));
    assert_ik(IK_EBUSY, ik_accept(l, &s2, 5000)); /* c2 dropped */
    char buf[8];
    size_t len;
    assert_ik(IK_ECLOSED, ik_recv(c2, buf, sizeof(buf), &len, 5000));
    ik_chan_close(s1); /* a slot frees up */
    ik_chan *c3;
    assert_ok(ik_dial(&c3, url, NULL));
    assert_ok(ik_accept(l, &s2, 5000));
    ik_chan_close(c1);
    ik_chan_close(c2);
    ik_chan_close(c3);
    ik_chan_close(s2);
    ik_listener_close(l);
}

/* One send on a pipe pair whose peer is gone: IK_ECLOSED, no signal. */
static void send_to_closed_pipe(void)
{
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "pipe"));
    ik_chan_close(b);
    assert_ik(IK_ECLOSED, ik_send(a, "x", 1, 1000));
    ik_chan_close(a);
}

static int sigpipe_state(int *blocked)
{
    sigset_t cur, pend;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    sigpending(&pend);
    *blocked = sigismember(&cur, SIGPIPE);
    return sigismember(&pend, SIGPIPE);
}

/* Pipes have no MSG_NOSIGNAL: whatever the disposition (default, ignored,
 * changed under a cached hint, or blocked by the caller), a send to a gone
 * reader raises nothing, leaves the caller's mask as it was, and does not
 * eat a SIGPIPE the caller has pending. More than 64 sends per case cross
 * the periodic disposition re-check. */
static void sigpipe_cases(void)
{
    int blocked;
    signal(SIGPIPE, SIG_DFL);
    for (int i = 0; i < 70; i++)
        send_to_closed_pipe();
    assert_false(sigpipe_state(&blocked));
    assert_false(blocked);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < 70; i++)
        send_to_closed_pipe();
    signal(SIGPIPE, SIG_DFL); /* the hint says "ignored": must not be trusted */
    for (int i = 0; i < 70; i++)
        send_to_closed_pipe();
    assert_false(sigpipe_state(&blocked));
    assert_false(blocked);
    /* the caller blocks SIGPIPE and has one pending: both stay */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_kill(pthread_self(), SIGPIPE);
    for (int i = 0; i < 70; i++)
        send_to_closed_pipe();
    assert_true(sigpipe_state(&blocked));
    assert_true(blocked);
    struct timespec zero = {0, 0};
    assert_int_equal(sigtimedwait(&set, NULL, &zero), SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* Both write paths: pwritev2(RWF_NOSIGNAL) where the kernel has it (6.18+),
 * and the signal-mask path of older kernels. */
static void test_sigpipe_never_raised_on_pipes(void **state)
{
    IK__UNUSED(state);
    sigpipe_cases();
    ik__pipe_test_no_nosignal(1);
    sigpipe_cases();
    ik__pipe_test_no_nosignal(0);
}

/* Failing endpoint calls and broken channels leave no fd behind. */
static void test_no_fd_leak_on_errors(void **state)
{
    IK__UNUSED(state);
    certs();
    char url[700], real[600], ca[600], turl[1400];
    snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
    ik_listener *plain;
    assert_ok(ik_listen(&plain, "tcp://127.0.0.1:0", NULL)); /* never accepts */
    assert_ok(ik_listener_url(plain, real, sizeof(real)));
    snprintf(turl, sizeof(turl), "tls://%s?timeout=100&ca=%s", real + strlen("tcp://"), ca);
    int before = ikt_count_fds();
    for (int i = 0; i < 3; i++) {
        ik_chan *c = NULL, *s = NULL;
        ik_listener *l = NULL, *l2 = NULL;
        snprintf(url, sizeof(url), "unix://%s", ikt_name("nf"));
        assert_ik(IK_ENOENT, ik_dial(&c, url, NULL));
        assert_ok(ik_listen(&l, url, NULL));
        assert_ik(IK_EADDRINUSE, ik_listen(&l2, url, NULL));
        /* the rival's liveness check left no phantom client in the queue */
        assert_ik(IK_ETIMEDOUT, ik_accept(l, &s, 0));
        ik_listener_close(l);
        snprintf(url, sizeof(url), "fifo://%s?timeout=0", ikt_name("nf"));
        assert_true(ik_dial(&c, url, NULL) < 0);
        snprintf(url, sizeof(url), "unix+dgram://%s", ikt_name("nf"));
        ikt_connect(url, &l, &c, &s);
        ik_chan *s2;
        assert_ik(IK_EBUSY, ik_accept(l, &s2, 0));
        ik_chan_close(c);
        ik_chan_close(s);
        ik_listener_close(l);
        /* TLS handshake against a server that never answers: timeout */
        assert_ik(IK_ETIMEDOUT, ik_dial(&c, turl, NULL));
        /* a channel broken by a bad frame releases its fds at once */
        ik_chan *a, *b;
        assert_ok(ik_chan_pair(&a, &b, "unix"));
        int fd;
        assert_ok(ik_chan_fd(b, &fd, NULL));
        assert_int_equal(write(fd, "XXXXXXXXXXXX", 12), 12);
        char buf[4];
        size_t len;
        assert_ik(IK_EPROTO, ik_recv(a, buf, sizeof(buf), &len, 5000));
        ik_chan_close(a);
        ik_chan_close(b);
    }
    assert_int_equal(ikt_count_fds(), before);
    ik_listener_close(plain);
}

/* TCP: closing a channel with unread bytes (here the server's greeting)
 * must not RST away the messages still in our send queue. The client
 * fills the buffers (sends with timeout 0 until one times out), closes,
 * and the server then reads every message that was reported sent. */
static void test_tcp_close_keeps_queued_messages(void **state)
{
    IK__UNUSED(state);
    ik_listener *l;
    assert_ok(ik_listen(&l, "tcp://127.0.0.1:0", NULL));
    char url[600];
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    ik_chan *c, *s;
    assert_ok(ik_dial(&c, url, NULL));
    assert_ok(ik_accept(l, &s, 5000));
    assert_ok(ik_send(s, "hello", 5, 5000)); /* the client never reads it */
    uint8_t msg[1000] = {0};
    int rc;
    uint32_t k = ikt_fill_until_blocked(c, msg, sizeof(msg), 10000000u, &rc);
    assert_true(rc == IK_ETIMEDOUT);
    ik_chan_close(c); /* a partial frame may follow the k whole ones */
    struct ikt_seq_reader d = {.s = s, .cap = 1100, .len = 1000, .last = -1};
    ikt_seq_reader_start(&d);
    pthread_join(d.th, NULL);
    assert_false(d.bad);
    assert_int_equal(d.n, k);
    assert_ik(IK_ECLOSED, d.rc);
    ik_chan_close(s);
    ik_listener_close(l);
}

/* ik_chan_pending says 1 only for a whole buffered message: with half a
 * frame buffered, "while pending: ik_recv(…, 0)" would spin. */
static void test_pending_means_whole_message(void **state)
{
    IK__UNUSED(state);
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "unix"));
    int fd;
    assert_ok(ik_chan_fd(b, &fd, NULL));
    uint8_t h[IK_FRAME_HDR_SIZE + 5] = {'I', 'K', 1, 0, 10};
    memcpy(h + IK_FRAME_HDR_SIZE, "01234", 5);
    assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
    char buf[16];
    size_t len;
    assert_ik(IK_ETIMEDOUT, ik_recv(a, buf, sizeof(buf), &len, 0));
    assert_int_equal(ik_chan_pending(a), 0); /* half a message: poll instead */
    assert_int_equal(write(fd, "56789", 5), 5);
    struct pollfd p = {.fd = ik_chan_pollfd(a), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_ok(ik_recv(a, buf, sizeof(buf), &len, 0));
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "0123456789", 10);
    /* two messages in one read: the second is pending, no I/O needed */
    assert_ok(ik_send(b, "one", 3, 1000));
    assert_ok(ik_send(b, "two", 3, 1000));
    assert_ok(ik_recv(a, buf, sizeof(buf), &len, 5000));
    assert_int_equal(ik_chan_pending(a), 1);
    assert_ok(ik_recv(a, buf, sizeof(buf), &len, 0));
    assert_memory_equal(buf, "two", 3);
    assert_int_equal(ik_chan_pending(a), 0);
    ik_chan_close(a);
    ik_chan_close(b);
}

/* TLS reads ahead (one recv takes a record's header and body, and what
 * follows): a whole record left in that buffer counts as pending, since the
 * fd no longer announces it. */
static void test_tls_pending_sees_buffered_record(void **state)
{
    IK__UNUSED(state);
    const struct tcase *tc = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(cases[i].name, "tls") == 0)
            tc = &cases[i];
    assert_non_null(tc);
    ik_listener *l;
    ik_chan *s, *c;
    connect_case(tc, &l, &s, &c);
    assert_ok(ik_send(c, "one", 3, 1000));
    assert_ok(ik_send(c, "two", 3, 1000));
    /* both records queued at the server's socket before it reads */
    int fd = ik_chan_pollfd(s), queued = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) { /* 37 = a TLS 1.3 record carrying 15 bytes */
        assert_int_equal(ioctl(fd, FIONREAD, &queued), 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (queued >= 2 * 37 || t.tv_sec - t0.tv_sec > 20)
            break;
        sched_yield();
    }
    assert_true(queued >= 2 * 37);
    char buf[16];
    size_t len;
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 5000));
    assert_memory_equal(buf, "one", 3);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);     /* the socket is empty ... */
    assert_int_equal(ik_chan_pending(s), 1); /* ... but "two" is here */
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 0));
    assert_memory_equal(buf, "two", 3);
    assert_int_equal(ik_chan_pending(s), 0);
    ik_chan_close(c);
    ik_chan_close(s);
    ik_listener_close(l);
}

/* unix+dgram has no connection credentials: ik_chan_peer says so instead
 * of returning uid -1 as if it were a real answer. */
static void test_dgram_peer_not_supported(void **state)
{
    IK__UNUSED(state);
    char url[128];
    snprintf(url, sizeof(url), "unix+dgram://%s", ikt_name("dgp"));
    ik_listener *l;
    ik_chan *c, *s;
    ikt_connect(url, &l, &c, &s);
    uid_t uid;
    assert_ik(IK_ENOTSUP, ik_chan_peer(s, &uid, NULL, NULL));
    assert_ik(IK_ENOTSUP, ik_chan_peer(c, &uid, NULL, NULL));
    ik_chan *x, *y;
    assert_ok(ik_chan_pair(&x, &y, "unix"));
    pid_t pid = 0;
    assert_ok(ik_chan_peer(x, &uid, NULL, &pid));
    assert_int_equal(uid, geteuid());
    assert_int_equal(pid, getpid());
    ik_chan_close(x);
    ik_chan_close(y);
    ik_chan_close(c);
    ik_chan_close(s);
    ik_listener_close(l);
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: proves none is raised */
    ikt_private_runtime();
    struct CMUnitTest tests[64];
    size_t n = 0;
    char names[2][IK__ARRAY_LEN(cases)][64];
    for (size_t i = 0; i < IK__ARRAY_LEN(cases); i++) {
        snprintf(names[0][i], 64, "semantics/%s%s", cases[i].name,
                 cases[i].kind == K_PAIR ? "-pair" : "");
        snprintf(names[1][i], 64, "kill9/%s%s", cases[i].name,
                 cases[i].kind == K_PAIR ? "-pair" : "");
        tests[n++] =
            (struct CMUnitTest){names[0][i], test_semantics, NULL, NULL, (void *)&cases[i]};
        tests[n++] = (struct CMUnitTest){names[1][i], test_kill9, NULL, NULL, (void *)&cases[i]};
    }
    const struct CMUnitTest rest[] = {
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_dgram_peer_not_supported),
        cmocka_unit_test(test_no_fd_leak_on_errors),
        cmocka_unit_test(test_tcp_close_keeps_queued_messages),
        cmocka_unit_test(test_pending_means_whole_message),
        cmocka_unit_test(test_tls_pending_sees_buffered_record),
        cmocka_unit_test(test_sigpipe_never_raised_on_pipes),
        cmocka_unit_test(test_urls_and_options),
        cmocka_unit_test(test_name_lengths_fit_the_registry),
        cmocka_unit_test(test_raw_fds_and_kernel_timeouts),
        cmocka_unit_test(test_fd_passing_across_exec),
        cmocka_unit_test(test_fds_opt_in),
        cmocka_unit_test(test_partial_then_timeout),
        cmocka_unit_test(test_raw_mode),
        cmocka_unit_test(test_python_wire_client),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_pipe_buf_atomic_writers),
        cmocka_unit_test(test_eintr_handled_inside),
        cmocka_unit_test(test_tcp_options_and_connect_timeout),
    };
    for (size_t i = 0; i < IK__ARRAY_LEN(rest); i++)
        tests[n++] = rest[i];
    return _cmocka_run_group_tests("chan", tests, n, NULL, NULL);
}
