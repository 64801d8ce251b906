/* bench_peers: ipckit beside the peers the README names (ZeroMQ, NNG,
 * Boost.Interprocess) and a raw Unix stream socket, on this machine, in one
 * run. Every server is a fresh exec of this program, so no library's
 * threads or global state cross a fork. Method: docs/bench.md ("Peers"). */
#include "harness.h"
#include "peers.h"

#include <ipckit.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef IKB_HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef IKB_HAVE_NNG
#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#endif

#define ROUNDS    7
#define PP_ITERS  2000
#define PP_CAP_MS 100
#define PP_WARM   200
#define BW_MSGS   128
#define BW_SIZE   (1u << 20)

enum mode { ECHO, SINK };

/* One contender. recv's n is the exact size on byte streams (raw), the
 * capacity elsewhere; it returns the size, 0 for the quit message, -1 when
 * closed. */
struct peer_ops {
    const char *name;
    const char *addr_fmt; /* args: tmpdir, a unique tag */
    void *(*bind)(const char *addr, size_t max, char *out, size_t cap);
    void *(*accept)(void *l); /* may return l itself */
    void *(*dial)(const char *addr);
    int (*send)(void *c, const void *p, size_t n);
    long (*recv)(void *c, void *p, size_t n);
    void (*close)(void *c);
    void (*unbind)(void *l); /* NULL: nothing apart from the connection */
    int pair;                /* ipckit pipe pair: made before the fork */
};

static char tmpdir[256];
/* Client-side I/O timeout: a server that died must not hang `make bench`
 * (servers block forever; they die with the client, PR_SET_PDEATHSIG). */
#define CLIENT_TIMEOUT_MS 10000
static int g_timeout_ms = -1;

static void die(const char *what)
{
    fprintf(stderr, "bench_peers: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- raw Unix stream socket (the baseline) ------------------------------- */

struct raw {
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static struct raw *raw_new(int fd, const char *path)
{
    struct raw *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        close(fd);
        return NULL;
    }
    r->fd = fd;
    snprintf(r->path, sizeof(r->path), "%s", path);
    return r;
}

static int raw_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    return snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path) < (int)sizeof(sa->sun_path)
               ? 0
               : -1;
}

static void *raw_bind(const char *addr, size_t max, char *out, size_t cap)
{
    (void)max;
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || raw_addr(&sa, addr) != 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 1) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    snprintf(out, cap, "%s", addr);
    return raw_new(fd, addr);
}

static void *raw_accept(void *l)
{
    int fd = accept4(((struct raw *)l)->fd, NULL, NULL, SOCK_CLOEXEC);
    return fd < 0 ? NULL : raw_new(fd, "");
}

static void *raw_dial(const char *addr)
{
    struct sockaddr_un sa;
    struct timeval tv = {CLIENT_TIMEOUT_MS / 1000, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || raw_addr(&sa, addr) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    return raw_new(fd, "");
}

static int raw_send(void *c, const void *p, size_t n)
{
    return ikb_full_write(((struct raw *)c)->fd, p, n, 1);
}

/* End of stream is the quit signal. */
static long raw_recv(void *c, void *p, size_t n)
{
    return ikb_full_read(((struct raw *)c)->fd, p, n, 1) == 0 ? (long)n : -1;
}

static void raw_close(void *c)
{
    struct raw *r = c;
    close(r->fd);
    if (r->path[0] != '\0')
        unlink(r->path);
    free(r);
}

/* ---- ipckit ---------------------------------------------------------------- */

static void *ipk_bind(const char *addr, size_t max, char *out, size_t cap)
{
    (void)max;
    ik_listener *l;
    if (ik_listen(&l, addr, NULL) != 0)
        return NULL;
    if (ik_listener_url(l, out, cap) != 0) {
        ik_listener_close(l);
        return NULL;
    }
    return l;
}

static void *ipk_accept(void *l)
{
    ik_chan *c;
    return ik_accept(l, &c, -1) == 0 ? c : NULL;
}

static void *ipk_dial(const char *addr)
{
    ik_chan *c;
    return ik_dial(&c, addr, NULL) == 0 ? c : NULL;
}

static int ipk_send(void *c, const void *p, size_t n)
{
    return ik_send(c, p, n, g_timeout_ms) == 0 ? 0 : -1;
}

static long ipk_recv(void *c, void *p, size_t n)
{
    size_t len;
    return ik_recv(c, p, n, &len, g_timeout_ms) == 0 ? (long)len : -1;
}

static void ipk_close(void *c)
{
    ik_chan_close(c);
}

static void ipk_unbind(void *l)
{
    ik_listener_close(l);
}

#define IPK_OPS(label, fmt)                                                                        \
    {                                                                                              \
        label, fmt, ipk_bind, ipk_accept, ipk_dial, ipk_send, ipk_recv, ipk_close, ipk_unbind, 0   \
    }

/* ---- ZeroMQ (ZMQ_PAIR) ----------------------------------------------------- */
#ifdef IKB_HAVE_ZMQ
struct zq {
    void *ctx, *sock;
};

static void zq_close(void *c)
{
    struct zq *z = c;
    if (z->sock != NULL)
        zmq_close(z->sock);
    zmq_ctx_term(z->ctx);
    free(z);
}

static struct zq *zq_open(void)
{
    struct zq *z = calloc(1, sizeof(*z));
    if (z == NULL || (z->ctx = zmq_ctx_new()) == NULL) {
        free(z);
        return NULL;
    }
    int linger = 1000; /* the quit message must leave before the close */
    if ((z->sock = zmq_socket(z->ctx, ZMQ_PAIR)) == NULL ||
        zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(z->sock, ZMQ_RCVTIMEO, &g_timeout_ms, sizeof(g_timeout_ms)) != 0 ||
        zmq_setsockopt(z->sock, ZMQ_SNDTIMEO, &g_timeout_ms, sizeof(g_timeout_ms)) != 0) {
        zq_close(z);
        return NULL;
    }
    return z;
}

static void *zq_bind(const char *addr, size_t max, char *out, size_t cap)
{
    (void)max;
    struct zq *z = zq_open();
    size_t len = cap;
    if (z != NULL && (zmq_bind(z->sock, addr) != 0 ||
                      zmq_getsockopt(z->sock, ZMQ_LAST_ENDPOINT, out, &len) != 0)) {
        zq_close(z);
        return NULL;
    }
    return z;
}

static void *zq_accept(void *l)
{
    return l;
}

static void *zq_dial(const char *addr)
{
    struct zq *z = zq_open();
    if (z != NULL && zmq_connect(z->sock, addr) != 0) {
        zq_close(z);
        return NULL;
    }
    return z;
}

static int zq_send(void *c, const void *p, size_t n)
{
    return zmq_send(((struct zq *)c)->sock, p, n, 0) == (int)n ? 0 : -1;
}

static long zq_recv(void *c, void *p, size_t n)
{
    int r = zmq_recv(((struct zq *)c)->sock, p, n, 0);
    return r < 0 ? -1 : (long)r;
}
#define ZQ_OPS(label, fmt)                                                                         \
    {                                                                                              \
        label, fmt, zq_bind, zq_accept, zq_dial, zq_send, zq_recv, zq_close, NULL, 0               \
    }
#endif

/* ---- NNG (pair1) ----------------------------------------------------------- */
#ifdef IKB_HAVE_NNG
struct nn {
    nng_socket s;
};

static struct nn *nn_open(void)
{
    struct nn *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    if (nng_pair1_open(&x->s) != 0) {
        free(x);
        return NULL;
    }
    (void)nng_socket_set_size(x->s, NNG_OPT_RECVMAXSZ, 0); /* no limit: 1 MiB rows */
    if (g_timeout_ms >= 0) {
        (void)nng_socket_set_ms(x->s, NNG_OPT_RECVTIMEO, g_timeout_ms);
        (void)nng_socket_set_ms(x->s, NNG_OPT_SENDTIMEO, g_timeout_ms);
    }
    return x;
}

static void nn_close(void *c)
{
    nng_close(((struct nn *)c)->s);
    free(c);
}

static void *nn_bind(const char *addr, size_t max, char *out, size_t cap)
{
    (void)max;
    struct nn *x = nn_open();
    nng_listener l;
    if (x == NULL)
        return NULL;
    if (nng_listen(x->s, addr, &l, 0) != 0) {
        nn_close(x);
        return NULL;
    }
    nng_sockaddr sa;
    if (strncmp(addr, "tcp://", 6) == 0 && nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0)
        snprintf(out, cap, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.s_in.sa_port));
    else
        snprintf(out, cap, "%s", addr);
    return x;
}

static void *nn_accept(void *l)
{
    return l;
}

static void *nn_dial(const char *addr)
{
    struct nn *x = nn_open();
    if (x != NULL && nng_dial(x->s, addr, NULL, 0) != 0) {
        nn_close(x);
        return NULL;
    }
    return x;
}

static int nn_send(void *c, const void *p, size_t n)
{
    return nng_send(((struct nn *)c)->s, (void *)p, n, 0) == 0 ? 0 : -1;
}

static long nn_recv(void *c, void *p, size_t n)
{
    size_t sz = n;
    return nng_recv(((struct nn *)c)->s, p, &sz, 0) == 0 ? (long)sz : -1;
}
#define NN_OPS(label, fmt)                                                                         \
    {                                                                                              \
        label, fmt, nn_bind, nn_accept, nn_dial, nn_send, nn_recv, nn_close, NULL, 0               \
    }
#endif

/* ---- Boost.Interprocess message_queue ---------------------------------- */
#ifdef IKB_HAVE_BOOST
static void *bq_bind(const char *addr, size_t max, char *out, size_t cap)
{
    snprintf(out, cap, "%s", addr);
    return ikb_boost_bind(addr, max);
}

static void *bq_accept(void *l)
{
    return l;
}

static void *bq_dial(const char *addr)
{
    return ikb_boost_dial(addr);
}

static int bq_send(void *c, const void *p, size_t n)
{
    return ikb_boost_send(c, p, n, g_timeout_ms);
}

static long bq_recv(void *c, void *p, size_t n)
{
    return ikb_boost_recv(c, p, n, g_timeout_ms);
}
#endif

static const struct peer_ops peers[] = {
    {"raw unix stream", "%s/raw-%s.sock", raw_bind, raw_accept, raw_dial, raw_send, raw_recv,
     raw_close, raw_close, 0},
    {"ipckit pipe (pair)", "", NULL, NULL, NULL, ipk_send, ipk_recv, ipk_close, NULL, 1},
    IPK_OPS("ipckit unix://", "unix://p%.0s%s"),
    IPK_OPS("ipckit unix+seq://", "unix+seq://s%.0s%s"),
    IPK_OPS("ipckit tcp://", "tcp://127.0.0.1:0"),
#ifdef IKB_HAVE_ZMQ
    ZQ_OPS("zeromq ipc:// (PAIR)", "ipc://%s/zmq-%s"),
    ZQ_OPS("zeromq tcp:// (PAIR)", "tcp://127.0.0.1:*"),
#endif
#ifdef IKB_HAVE_NNG
    NN_OPS("nng ipc:// (pair1)", "ipc://%s/nng-%s"),
    NN_OPS("nng tcp:// (pair1)", "tcp://127.0.0.1:0"),
#endif
#ifdef IKB_HAVE_BOOST
    {"boost message_queue (shm)", "ikb%.0s-%s", bq_bind, bq_accept, bq_dial, bq_send, bq_recv,
     ikb_boost_close, NULL, 0},
#endif
};
#define NPEERS (sizeof(peers) / sizeof(peers[0]))

/* ---- the server: an exec of this program ---------------------------------- */

/* argv: --serve peer addr n mode count cpu ready_fd rfd wfd client_pid */
static int serve(int argc, char **argv)
{
    if (argc < 12)
        return 2;
    const struct peer_ops *k = &peers[atoi(argv[2])];
    size_t n = strtoul(argv[4], NULL, 10);
    int mode = atoi(argv[5]);
    uint64_t count = strtoull(argv[6], NULL, 10), seen = 0;
    int ready = atoi(argv[8]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != (pid_t)atoi(argv[11])) /* the client died before prctl */
        return 1;
    ikb_pin(atoi(argv[7]));
    void *l = NULL, *c = NULL;
    char out[256] = "";
    if (k->pair) {
        if (argc < 11 ||
            ik_chan_from_fd((ik_chan **)&c, "pipe", atoi(argv[9]), atoi(argv[10]), NULL) != 0)
            return 1;
    } else if ((l = k->bind(argv[3], n, out, sizeof(out))) == NULL) {
        return 1;
    }
    if (write(ready, out, strlen(out) + 1) < 0)
        return 1;
    close(ready);
    if (c == NULL && (c = k->accept(l)) == NULL)
        return 1;
    char *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL)
        return 1;
    for (;;) {
        long got = k->recv(c, buf, n);
        if (got <= 0)
            break;
        int rc = 0;
        if (mode == ECHO)
            rc = k->send(c, buf, (size_t)got);
        else if (++seen == count) {
            seen = 0;
            rc = k->send(c, buf, 1);
        }
        if (rc != 0)
            break;
    }
    free(buf);
    if (c != l)
        k->close(c);
    if (l != NULL)
        (k->unbind != NULL ? k->unbind : k->close)(l);
    return 0;
}

/* ---- the client side ------------------------------------------------------ */

struct link {
    const struct peer_ops *k;
    void *c;
    pid_t pid;
    char addr[320]; /* as the server was given it */
};

static int link_start(struct link *L, size_t k_idx, size_t n, int mode, uint64_t count, int cpu)
{
    static unsigned serial;
    const struct peer_ops *k = &peers[k_idx];
    char tag[64], addr[320], a[9][64];
    snprintf(tag, sizeof(tag), "%d-%u", (int)getpid(), serial++);
    snprintf(addr, sizeof(addr), k->addr_fmt, tmpdir, tag);
    int rp[2];
    if (pipe2(rp, O_CLOEXEC) != 0)
        die("pipe2");
    ik_chan *pa = NULL, *pb = NULL;
    int prfd = -1, pwfd = -1;
    if (k->pair && (ik_chan_pair(&pa, &pb, "pipe") != 0 || ik_chan_fd(pb, &prfd, &pwfd) != 0))
        die("ik_chan_pair");
    memset(L, 0, sizeof(*L));
    L->k = k;
    snprintf(L->addr, sizeof(L->addr), "%s", addr);
    L->pid = fork();
    if (L->pid < 0)
        die("fork");
    if (L->pid == 0) {
        fcntl(rp[1], F_SETFD, 0);
        if (k->pair) {
            fcntl(prfd, F_SETFD, 0);
            fcntl(pwfd, F_SETFD, 0);
        }
        snprintf(a[0], sizeof(a[0]), "%zu", k_idx);
        snprintf(a[1], sizeof(a[1]), "%zu", n);
        snprintf(a[2], sizeof(a[2]), "%d", mode);
        snprintf(a[3], sizeof(a[3]), "%llu", (unsigned long long)count);
        snprintf(a[4], sizeof(a[4]), "%d", cpu);
        snprintf(a[5], sizeof(a[5]), "%d", rp[1]);
        snprintf(a[6], sizeof(a[6]), "%d", prfd);
        snprintf(a[7], sizeof(a[7]), "%d", pwfd);
        snprintf(a[8], sizeof(a[8]), "%d", (int)getppid());
        execl("/proc/self/exe", "bench_peers", "--serve", a[0], addr, a[1], a[2], a[3], a[4], a[5],
              a[6], a[7], a[8], (char *)NULL);
        _exit(127);
    }
    close(rp[1]);
    if (pb != NULL)
        ik_chan_close(pb);
    char out[256];
    size_t got = 0;
    while (got < sizeof(out)) {
        ssize_t r = read(rp[0], out + got, sizeof(out) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (out[got - 1] == '\0')
            break;
    }
    close(rp[0]);
    if (got == 0 || out[got - 1] != '\0') { /* the server failed to start */
        if (pa != NULL)
            ik_chan_close(pa);
        kill(L->pid, SIGKILL);
        waitpid(L->pid, NULL, 0);
        L->pid = 0;
        return -1;
    }
    L->c = k->pair ? (void *)pa : k->dial(out);
    return L->c != NULL ? 0 : -1;
}

static void link_stop(struct link *L)
{
    int stream = L->k->recv == raw_recv; /* its quit is the close */
    if (L->c != NULL) {
        (void)L->k->send(L->c, "", 0);
        if (stream) {
            L->k->close(L->c);
            L->c = NULL;
        }
    }
    /* A server that missed its quit is killed after a second: this is a
     * benchmark, not a test. The client closes after the server is gone,
     * so no library drops the quit message at close. */
    for (int i = 0; L->pid > 0 && i < 1000; i++) {
        if (waitpid(L->pid, NULL, WNOHANG) == L->pid) {
            L->pid = 0;
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (L->pid > 0) {
        kill(L->pid, SIGKILL);
        waitpid(L->pid, NULL, 0);
        L->pid = 0;
    }
    if (L->c != NULL)
        L->k->close(L->c);
    L->c = NULL;
#ifdef IKB_HAVE_BOOST
    if (L->k->bind == bq_bind) /* a killed server leaves its queues */
        ikb_boost_remove(L->addr);
#endif
}

static int round_trips(struct link *L, char *buf, size_t n, uint64_t iters, uint64_t cap_ns,
                       ikb_samples *s)
{
    uint64_t end = cap_ns == UINT64_MAX ? UINT64_MAX : ikb_now_ns() + cap_ns;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t t0 = ikb_now_ns();
        if (L->k->send(L->c, buf, n) != 0 || L->k->recv(L->c, buf, n) != (long)n)
            return -1;
        uint64_t t1 = ikb_now_ns();
        if (s != NULL)
            ikb_samples_add(s, (double)(t1 - t0) / 1e3);
        if (t1 > end)
            break;
    }
    return 0;
}

static double stream_round(struct link *L, char *buf, uint64_t msgs)
{
    uint64_t t0 = ikb_now_ns();
    for (uint64_t i = 0; i < msgs; i++) {
        if (L->k->send(L->c, buf, BW_SIZE) != 0)
            return -1;
    }
    if (L->k->recv(L->c, buf, 1) != 1)
        return -1;
    return (double)msgs * BW_SIZE / (double)(ikb_now_ns() - t0); /* bytes/ns = GB/s */
}

/* Median of per-round values, or -1 when a peer failed. */
struct result {
    double p50, p99, gbs;
    int failed;
};

/* One table block: a server per peer, rounds interleaved across peers
 * (each round starts at a different peer), per-round p50/p99 or GB/s. */
static void run_block(size_t n, int mode, int peer_cpu, struct result *res)
{
    unsigned rounds = ikb_rounds(ROUNDS);
    uint64_t bw_msgs = ikb_iters(BW_MSGS);
    struct link L[NPEERS];
    double v50[NPEERS][99], v99[NPEERS][99];
    char *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL)
        die("malloc");
    memset(buf, 0x5a, n);
    for (size_t k = 0; k < NPEERS; k++) {
        res[k].failed = link_start(&L[k], k, n, mode, bw_msgs, peer_cpu) != 0;
        if (!res[k].failed && mode == ECHO)
            res[k].failed = round_trips(&L[k], buf, n, PP_WARM, UINT64_MAX, NULL) != 0;
        if (!res[k].failed && mode == SINK)
            res[k].failed = stream_round(&L[k], buf, bw_msgs) < 0;
    }
    for (unsigned r = 0; r < rounds; r++) {
        for (size_t j = 0; j < NPEERS; j++) {
            size_t k = (j + r) % NPEERS;
            if (res[k].failed)
                continue;
            if (mode == SINK) {
                double g = stream_round(&L[k], buf, bw_msgs);
                res[k].failed = g < 0;
                v50[k][r] = g;
                continue;
            }
            ikb_samples s = {0};
            uint64_t cap = (uint64_t)(ikb_scale() * PP_CAP_MS * 1e6);
            res[k].failed = round_trips(&L[k], buf, n, ikb_iters(PP_ITERS), cap, &s) != 0;
            v50[k][r] = ikb_pct(&s, 50);
            v99[k][r] = ikb_pct(&s, 99);
            ikb_samples_free(&s);
        }
    }
    for (size_t k = 0; k < NPEERS; k++) {
        link_stop(&L[k]);
        if (res[k].failed)
            continue;
        if (mode == SINK) {
            res[k].gbs = ikb_median(v50[k], rounds);
        } else {
            res[k].p50 = ikb_median(v50[k], rounds);
            res[k].p99 = ikb_median(v99[k], rounds);
        }
    }
    free(buf);
}

static void print_versions(void)
{
    printf("peers:");
#ifdef IKB_HAVE_ZMQ
    int ma, mi, pa;
    zmq_version(&ma, &mi, &pa);
    printf(" libzmq %d.%d.%d;", ma, mi, pa);
#else
    printf(" libzmq not built in;");
#endif
#ifdef IKB_HAVE_NNG
    printf(" nng %s;", nng_version());
#else
    printf(" nng not built in;");
#endif
#ifdef IKB_HAVE_BOOST
    printf(" Boost.Interprocess %s", ikb_boost_version());
#else
    printf(" Boost.Interprocess not built in");
#endif
    printf(" (make bench installs them: scripts/install-deps.sh --bench)\n");
}

static void latency_table(int cpu_a, int peer_cpu, const char *where)
{
    static const size_t sizes[] = {64, 4096};
    struct result res[2][NPEERS];
    for (size_t i = 0; i < 2; i++)
        run_block(sizes[i], ECHO, peer_cpu, res[i]);
    printf("\nping-pong round trip, %s (this process on CPU %d, servers on CPU %d): us, median "
           "of %u rounds;\nx raw = p50 / raw unix stream p50 (lower is faster)\n",
           where, cpu_a, peer_cpu, ikb_rounds(ROUNDS));
    printf("%-28s %9s %9s %7s   %9s %9s %7s\n", "", "64 B p50", "p99", "x raw", "4 KiB p50", "p99",
           "x raw");
    for (size_t k = 0; k < NPEERS; k++) {
        printf("%-28s", peers[k].name);
        for (size_t i = 0; i < 2; i++) {
            const struct result *r = &res[i][k], *raw = &res[i][0];
            if (r->failed)
                printf(" %9s %9s %7s  ", "failed", "", "");
            else
                printf(" %9.2f %9.2f %6.2fx  ", r->p50, r->p99,
                       raw->failed ? 0 : r->p50 / raw->p50);
        }
        printf("\n");
    }
    fflush(stdout);
}

static void bandwidth_table(int peer_cpu, const char *where)
{
    struct result res[NPEERS];
    run_block(BW_SIZE, SINK, peer_cpu, res);
    printf("\nstreaming 1 MiB messages, %s: GB/s, median of %u rounds of %llu messages; x raw = "
           "GB/s / raw\n(higher is faster)\n",
           where, ikb_rounds(ROUNDS), (unsigned long long)ikb_iters(BW_MSGS));
    for (size_t k = 0; k < NPEERS; k++) {
        if (res[k].failed)
            printf("%-28s %9s\n", peers[k].name, "failed");
        else
            printf("%-28s %9.2f %6.2fx\n", peers[k].name, res[k].gbs,
                   res[0].failed ? 0 : res[k].gbs / res[0].gbs);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return serve(argc, argv);
    g_timeout_ms = CLIENT_TIMEOUT_MS;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "%s", ikb_tmpdir("ik-bench-peers"));
    cpu_set_t all;
    int cpu_a, cpu_b;
    ikb_pick_cpus(&all, &cpu_a, &cpu_b);
    uint64_t t0 = ikb_now_ns();
    printf("peer comparison: ipckit, ZeroMQ, NNG and Boost.Interprocess beside a raw Unix stream "
           "socket,\nsame machine, same run; servers are fresh processes. Method: docs/bench.md "
           "(Peers).\n");
    print_versions();
    ikb_pin(cpu_a);
    if (cpu_b >= 0)
        latency_table(cpu_a, cpu_b, "cross CPU");
    latency_table(cpu_a, cpu_a, "same CPU");
    if (cpu_b >= 0)
        bandwidth_table(cpu_b, "cross CPU");
    bandwidth_table(cpu_a, "same CPU");
    printf("\nelapsed %.1f s\n", (double)(ikb_now_ns() - t0) / 1e9);
    int rc = sched_setaffinity(0, sizeof(all), &all) != 0;
    if (ikb_tmpdir_remove() != 0)
        rc = 1;
    return rc;
}
