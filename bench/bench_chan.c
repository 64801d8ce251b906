/*
 * Channel benchmark: ping-pong latency (p50/p99) for 64 B and 4 KiB, and
 * streaming bandwidth for 1 MiB messages, on pipe, fifo, unix stream, unix
 * seqpacket, tcp and tls. Each ipckit number is printed beside the raw
 * system-call equivalent (the same kind of fd, read/write or send/recv of the
 * same bytes, blocking) measured in the same run. The peer is a forked
 * process. TLS is compared with raw TCP (its cost is the cipher).
 * Goal: <= 1.10x raw for every non-TLS transport. Reports, never asserts.
 */
#include "harness.h"

#include <ipckit.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BW_MSG   (1u << 20)
#define BW_COUNT 256u

enum raw_kind { RAW_PIPE, RAW_FIFO, RAW_STREAM, RAW_SEQ, RAW_TCP };

struct tp {
    const char *name;
    const char *url; /* NULL: ik_chan_pair(pair) */
    const char *pair;
    enum raw_kind raw;
    const char *raw_name;
};

static char tmpdir[256];
static char ca[300], cert[300], key[300];

/* ---- raw baseline ------------------------------------------------------- */

static void full_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t r = write(fd, c, n);
        if (r <= 0)
            _exit(3);
        c += r;
        n -= (size_t)r;
    }
}

static int full_read(int fd, void *p, size_t n, int packet)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = packet ? recv(fd, c, n, 0) : read(fd, c, n);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Seqpacket writes of more than the socket buffer fail: send in 64 KiB. */
static void raw_send(int fd, const void *p, size_t n, int packet)
{
    if (!packet) {
        full_write(fd, p, n);
        return;
    }
    const char *c = p;
    while (n > 0) {
        size_t k = n > 65536 ? 65536 : n;
        if (send(fd, c, k, MSG_NOSIGNAL) != (ssize_t)k)
            _exit(3);
        c += k;
        n -= k;
    }
}

struct rawpair {
    int pr, pw; /* parent read/write */
    int cr, cw; /* child read/write */
    int packet;
};

static int tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0)
        return -1;
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(sv[0], (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    int on = 1;
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    return sv[1] < 0 ? -1 : 0;
}

static int raw_make(enum raw_kind k, struct rawpair *rp)
{
    int a[2], b[2];
    memset(rp, 0, sizeof(*rp));
    switch (k) {
    case RAW_PIPE:
        if (pipe(a) != 0 || pipe(b) != 0)
            return -1;
        *rp = (struct rawpair){a[0], b[1], b[0], a[1], 0};
        return 0;
    case RAW_FIFO: {
        char p1[300], p2[300];
        snprintf(p1, sizeof(p1), "%s/raw1", tmpdir);
        snprintf(p2, sizeof(p2), "%s/raw2", tmpdir);
        unlink(p1);
        unlink(p2);
        if (mkfifo(p1, 0600) != 0 || mkfifo(p2, 0600) != 0)
            return -1;
        /* O_RDWR opens never block; each side then uses one direction. */
        int f1 = open(p1, O_RDWR), f2 = open(p2, O_RDWR);
        *rp = (struct rawpair){f1, f2, f2, f1, 0};
        return 0;
    }
    case RAW_STREAM:
    case RAW_SEQ:
        if (socketpair(AF_UNIX, k == RAW_SEQ ? SOCK_SEQPACKET : SOCK_STREAM, 0, a) != 0)
            return -1;
        *rp = (struct rawpair){a[0], a[0], a[1], a[1], k == RAW_SEQ};
        return 0;
    case RAW_TCP:
        if (tcp_pair(a) != 0)
            return -1;
        *rp = (struct rawpair){a[0], a[0], a[1], a[1], 0};
        return 0;
    }
    return -1;
}

static void raw_close(struct rawpair *rp)
{
    int fds[4] = {rp->pr, rp->pw, rp->cr, rp->cw};
    for (int i = 0; i < 4; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= fds[j] == fds[i];
        if (!dup)
            close(fds[i]);
    }
}

/* Child: echo `iters` messages of n bytes (n == 0: bandwidth mode, read
 * BW_COUNT x 1 MiB then answer one byte). */
static void raw_child(struct rawpair *rp, size_t n, uint64_t iters)
{
    char *buf = malloc(n ? n : BW_MSG);
    if (n == 0) {
        for (unsigned i = 0; i < BW_COUNT; i++)
            if (full_read(rp->cr, buf, BW_MSG, rp->packet) != 0)
                _exit(2);
        full_write(rp->cw, "k", 1);
        _exit(0);
    }
    for (uint64_t i = 0; i < iters; i++) {
        if (full_read(rp->cr, buf, n, rp->packet) != 0)
            _exit(2);
        raw_send(rp->cw, buf, n, rp->packet);
    }
    _exit(0);
}

static void raw_pingpong(enum raw_kind k, size_t n, uint64_t iters, double *p50, double *p99)
{
    struct rawpair rp;
    if (raw_make(k, &rp) != 0) {
        *p50 = *p99 = 0;
        return;
    }
    uint64_t warm = iters / 10;
    pid_t pid = fork();
    if (pid == 0)
        raw_child(&rp, n, iters + warm);
    char *buf = calloc(1, n);
    ikb_samples s = {0};
    for (uint64_t i = 0; i < iters + warm; i++) {
        uint64_t t0 = ikb_now_ns();
        raw_send(rp.pw, buf, n, rp.packet);
        if (full_read(rp.pr, buf, n, rp.packet) != 0)
            break;
        if (i >= warm)
            ikb_samples_add(&s, (double)(ikb_now_ns() - t0));
    }
    waitpid(pid, NULL, 0);
    *p50 = ikb_pct(&s, 50);
    *p99 = ikb_pct(&s, 99);
    ikb_samples_free(&s);
    free(buf);
    raw_close(&rp);
}

static double raw_bandwidth(enum raw_kind k)
{
    struct rawpair rp;
    if (raw_make(k, &rp) != 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0)
        raw_child(&rp, 0, 0);
    char *buf = calloc(1, BW_MSG);
    uint64_t t0 = ikb_now_ns();
    for (unsigned i = 0; i < BW_COUNT; i++)
        raw_send(rp.pw, buf, BW_MSG, rp.packet);
    char c;
    int ok = full_read(rp.pr, &c, 1, rp.packet) == 0;
    double secs = (double)(ikb_now_ns() - t0) / 1e9;
    waitpid(pid, NULL, 0);
    free(buf);
    raw_close(&rp);
    return ok ? (double)BW_MSG * BW_COUNT / secs / 1e9 : 0;
}

/* ---- ipckit ------------------------------------------------------------- */

static ik_chan_opts *opts_for(const struct tp *t, int server)
{
    ik_chan_opts *o;
    if (ik_chan_opts_new(&o) != 0)
        exit(1);
    if (strncmp(t->name, "tls", 3) == 0 &&
        ik_chan_opts_set_tls_files(o, server ? NULL : ca, server ? cert : NULL,
                                   server ? key : NULL) != 0)
        exit(1);
    return o;
}

/* Connected pair: *mine in this process, the peer in a forked child that
 * runs fn(peer, n, iters). */
static pid_t ik_start(const struct tp *t, ik_chan **mine, void (*fn)(ik_chan *, size_t, uint64_t),
                      size_t n, uint64_t iters)
{
    if (t->url == NULL) {
        ik_chan *peer;
        if (ik_chan_pair(mine, &peer, t->pair) != 0)
            exit(1);
        pid_t pid = fork();
        if (pid == 0) {
            fn(peer, n, iters);
            _exit(0);
        }
        ik_chan_close(peer);
        return pid;
    }
    char url[256], real[512];
    snprintf(url, sizeof(url), t->url, (int)getpid());
    ik_chan_opts *so = opts_for(t, 1);
    ik_listener *l;
    if (ik_listen(&l, url, so) != 0 || ik_listener_url(l, real, sizeof(real)) != 0) {
        fprintf(stderr, "listen %s failed: %s\n", url, ik_chan_last_errdetail());
        exit(1);
    }
    ik_chan_opts_free(so);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        ik_chan_opts *co = opts_for(t, 0);
        ik_chan *peer;
        if (ik_dial(&peer, real, co) != 0)
            _exit(1);
        fn(peer, n, iters);
        _exit(0);
    }
    if (ik_accept(l, mine, 20000) != 0)
        exit(1);
    ik_listener_close(l);
    return pid;
}

static void ik_echo(ik_chan *ch, size_t n, uint64_t iters)
{
    char *buf = malloc(n);
    size_t len;
    for (uint64_t i = 0; i < iters; i++)
        if (ik_recv(ch, buf, n, &len, -1) != 0 || ik_send(ch, buf, len, -1) != 0)
            _exit(2);
    _exit(0);
}

static void ik_sink(ik_chan *ch, size_t n, uint64_t iters)
{
    char *buf = malloc(BW_MSG);
    size_t len;
    for (unsigned i = 0; i < BW_COUNT; i++)
        if (ik_recv(ch, buf, BW_MSG, &len, -1) != 0)
            _exit(2);
    if (ik_send(ch, "k", 1, -1) != 0)
        _exit(3);
    _exit(0);
}

static void ik_pingpong(const struct tp *t, size_t n, uint64_t iters, double *p50, double *p99)
{
    uint64_t warm = iters / 10;
    ik_chan *ch;
    pid_t pid = ik_start(t, &ch, ik_echo, n, iters + warm);
    char *buf = calloc(1, n);
    ikb_samples s = {0};
    size_t len;
    for (uint64_t i = 0; i < iters + warm; i++) {
        uint64_t t0 = ikb_now_ns();
        if (ik_send(ch, buf, n, -1) != 0 || ik_recv(ch, buf, n, &len, -1) != 0)
            break;
        if (i >= warm)
            ikb_samples_add(&s, (double)(ikb_now_ns() - t0));
    }
    waitpid(pid, NULL, 0);
    ik_chan_close(ch);
    *p50 = ikb_pct(&s, 50);
    *p99 = ikb_pct(&s, 99);
    ikb_samples_free(&s);
    free(buf);
}

static double ik_bandwidth(const struct tp *t)
{
    ik_chan *ch;
    pid_t pid = ik_start(t, &ch, ik_sink, 0, 0);
    char *buf = calloc(1, BW_MSG);
    uint64_t t0 = ikb_now_ns();
    int ok = 1;
    for (unsigned i = 0; i < BW_COUNT && ok; i++)
        ok = ik_send(ch, buf, BW_MSG, -1) == 0;
    char c;
    size_t len;
    ok = ok && ik_recv(ch, &c, 1, &len, -1) == 0;
    double secs = (double)(ikb_now_ns() - t0) / 1e9;
    waitpid(pid, NULL, 0);
    ik_chan_close(ch);
    free(buf);
    return ok ? (double)BW_MSG * BW_COUNT / secs / 1e9 : 0;
}

static void make_cert(void)
{
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    snprintf(ca, sizeof(ca), "%s", cert); /* self-signed: its own anchor */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s -out %s -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_chan: openssl failed, tls rows will be skipped\n");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the raw baseline may write to a gone peer */
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ik-bench-chan-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    char rundir[300];
    snprintf(rundir, sizeof(rundir), "%s/run", tmpdir);
    mkdir(rundir, 0700);
    setenv("XDG_RUNTIME_DIR", rundir, 1);
    make_cert();
    const struct tp tps[] = {
        {"pipe", NULL, "pipe", RAW_PIPE, "raw pipe read/write"},
        {"fifo", "fifo://bench-%d", NULL, RAW_FIFO, "raw fifo read/write"},
        {"unix stream", "unix://bench-%d", NULL, RAW_STREAM, "raw socketpair stream"},
        {"unix seqpacket", "unix+seq://bench-%d", NULL, RAW_SEQ, "raw socketpair seqpacket"},
        {"tcp", "tcp://127.0.0.1:0", NULL, RAW_TCP, "raw tcp loopback"},
        {"tls", "tls://127.0.0.1:0", NULL, RAW_TCP, "raw tcp loopback (no TLS)"},
    };
    const size_t sizes[] = {64, 4096};
    uint64_t iters = ikb_iters(20000);
    ikb_header("channel ping-pong latency (round trip, forked peer)");
    for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
        for (size_t j = 0; j < 2; j++) {
            double r50, r99, k50, k99;
            raw_pingpong(tps[i].raw, sizes[j], iters, &r50, &r99);
            ik_pingpong(&tps[i], sizes[j], iters, &k50, &k99);
            char what[96], base[96];
            snprintf(what, sizeof(what), "%s %zu B p50", tps[i].name, sizes[j]);
            snprintf(base, sizeof(base), "%s", tps[i].raw_name);
            ikb_report(what, k50 / 1000, base, r50 / 1000, "us");
            snprintf(what, sizeof(what), "%s %zu B p99", tps[i].name, sizes[j]);
            ikb_report(what, k99 / 1000, base, r99 / 1000, "us");
        }
    }
    ikb_header("channel streaming bandwidth (1 MiB messages)");
    for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
        double raw = raw_bandwidth(tps[i].raw);
        double ik = ik_bandwidth(&tps[i]);
        char what[96];
        snprintf(what, sizeof(what), "%s 1 MiB", tps[i].name);
        /* ratio printed as ipckit/raw: higher is better here */
        ikb_report(what, ik, tps[i].raw_name, raw, "GB/s");
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
