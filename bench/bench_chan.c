/*
 * Channel benchmark: ping-pong latency (p50/p99) for 64 B and 4 KiB, and
 * streaming bandwidth for 1 MiB messages, on pipe, fifo, unix stream, unix
 * seqpacket, tcp and tls. Each ipckit number is printed beside the raw
 * system-call equivalent (the same kind of fd, blocking read/write on pipes,
 * send/recv on sockets, the cheapest calls of each; same bytes) measured in
 * the same run. TLS is compared with
 * raw TCP, so its ratio is the whole cost of TLS (cipher, records, syscalls).
 * Goal: <= 1.10x raw for every non-TLS transport. Reports, never asserts.
 * Methodology and measured numbers: docs/bench.md.
 *
 * Latency rows (not tls) also measure a third side, the "floor": a raw loop
 * with no library that sends exactly ipckit's bytes with ipckit's system
 * calls (12-byte frame header built by hand, header+payload copied into one
 * buffer up to 4096 bytes, else two iovecs; pwritev2(RWF_NOSIGNAL) on pipes,
 * send/sendmsg(MSG_NOSIGNAL) on sockets; reads of up to 65600 bytes into a
 * private buffer, then a copy of the payload). floor/raw is the price of the
 * frame itself; ipckit/floor is what the library adds on top of it.
 *
 * Noise control (a small VM's wake-up latency drifts by +-15% over seconds):
 * - Each row keeps all its peers alive (a raw, a floor and an ipckit echo
 *   process; bandwidth and tls rows: raw and ipckit) and rotates rounds
 *   between them in a changing order (raw,floor,ik / ik,raw,floor /
 *   floor,ik,raw / ik,floor,raw ...: every side runs first, second and last
 *   equally often), >= 5 rounds each. A round is a
 *   warm-up plus N timed round trips (latency) or N 1 MiB messages
 *   (bandwidth). A slow phase of the host therefore hits every side.
 * - Reported: the median over rounds of each round's p50 (p99, GB/s), the
 *   ratio of the medians (ipckit/raw, floor/raw), and the spread: min-max of
 *   the per-round ratios (ipckit round r / raw round r, floor round r / raw
 *   round r), so the noise is visible.
 * - Two placements: "cross CPU" pins this process to one CPU and both peers
 *   to another (every message is a cross-CPU wake-up, idle-state exit
 *   included); "same CPU" pins all three to one CPU (every hand-off is a
 *   context switch, no idle states): the stable measure of per-message CPU
 *   cost, i.e. the system calls ipckit adds.
 * - pipe/fifo rows run twice: with SIGPIPE ignored (the process default
 *   here, ipckit's one-sigaction-query path) and with SIGPIPE at its default
 *   disposition (ipckit blocks/unblocks it around each write). The raw
 *   baseline runs under the same disposition; it never writes to a gone
 *   peer (peers are stopped with SIGKILL while blocked in read, and the
 *   parent never writes after that), so SIG_DFL is safe for it.
 *
 * `bench_chan --one KEY raw|ik|floor SIZE|bw COUNT [same|cross]` runs a
 * single side without rounds, for `strace -c -f` (syscalls per message;
 * floor: latency only, not tls).
 */
#include "harness.h"

#include <ipckit.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define BW_MSG      (1u << 20)
#define SEQ_PKT     (64u << 10) /* raw seqpacket chunk = ipckit's packet_max */
#define PP_ITERS    1000u       /* timed round trips per round (x IK_BENCH_SCALE) */
#define BW_MSGS     128u        /* 1 MiB messages per round (x IK_BENCH_SCALE) */
#define ROUNDS      15u         /* latency rounds per side (IK_BENCH_ROUNDS) */
#define BW_ROUNDS   11u         /* bandwidth rounds per side (IK_BENCH_ROUNDS) */
/* A round also ends after this long (x IK_BENCH_SCALE), once it has the
 * minimum: a loaded host then costs samples, not minutes. Warm-up: 1/5. */
#define PP_CAP_MS   50u
#define PP_MIN      200u
#define BW_CAP_MS   120u
#define BW_MIN      8u
/* Floor: ipckit's frame header, coalescing limit and receive buffer. */
#define FRAME_HDR   12u
#define FLOOR_TX    4096u
#define FLOOR_RX    65600u
#define FLOOR_MAX_N (SEQ_PKT - FRAME_HDR) /* one seqpacket packet per frame */

#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x00000100 /* Linux 6.18: EPIPE without SIGPIPE */
#endif

enum raw_kind { RAW_PIPE, RAW_FIFO, RAW_STREAM, RAW_SEQ, RAW_TCP };

struct tp {
    const char *key;  /* for --one */
    const char *name; /* row label */
    const char *url;  /* NULL: ik_chan_pair(pair) */
    const char *pair;
    enum raw_kind raw;
    const char *raw_name;
    int sigpipe_dfl; /* run with SIGPIPE at SIG_DFL (both sides) */
    int no_floor;    /* no floor side (tls: its bytes are not ipckit frames) */
};

static const struct tp tps[] = {
    {"pipe", "pipe", NULL, "pipe", RAW_PIPE, "raw pipe read/write", 0, 0},
    {"pipe-dfl", "pipe [SIGPIPE dfl]", NULL, "pipe", RAW_PIPE, "raw pipe read/write", 1, 0},
    {"fifo", "fifo", "fifo://bench-%d", NULL, RAW_FIFO, "raw fifo read/write", 0, 0},
    {"fifo-dfl", "fifo [SIGPIPE dfl]", "fifo://bench-%d", NULL, RAW_FIFO, "raw fifo read/write", 1,
     0},
    {"unix", "unix stream", "unix://bench-%d", NULL, RAW_STREAM, "raw socketpair send/recv", 0, 0},
    {"seq", "unix seqpacket", "unix+seq://bench-%d", NULL, RAW_SEQ, "raw seqpacket send/recv", 0,
     0},
    {"tcp", "tcp", "tcp://127.0.0.1:0", NULL, RAW_TCP, "raw tcp send/recv", 0, 0},
    {"tls", "tls", "tls://127.0.0.1:0", NULL, RAW_TCP, "raw tcp send/recv (no TLS)", 0, 1},
};
#define NTPS (sizeof(tps) / sizeof(tps[0]))

/* The sides of a row; also the index of their results. */
enum side { SIDE_RAW, SIDE_FLOOR, SIDE_IK, NSIDES };
static const char *const side_name[NSIDES] = {"raw", "floor", "ik"};

/* Floor: one end of a hand-framed connection (no library). */
struct framer {
    int rfd, wfd;
    int sock;          /* send/sendmsg/recv; else pwritev2/read (pipe, FIFO) */
    char *rx;          /* FLOOR_RX bytes: received, not yet delivered */
    size_t rx_start;   /* first unconsumed byte */
    size_t rx_end;     /* end of received bytes */
    char tx[FLOOR_TX]; /* header + payload of a small frame */
};

/* One live peer process and this process's end of the connection. */
struct peer {
    enum side mode;
    pid_t pid;
    int rfd, wfd, packet, sock; /* raw, floor */
    struct framer *fr;          /* floor */
    ik_chan *ch;                /* ipckit */
};

static char tmpdir[256];
static char ca[300], cert[300], key[300];
static int verbose;
/* Floor pipe/FIFO writes: 1 = pwritev2(RWF_NOSIGNAL), 0 = the kernel refuses
 * it (probed in main), plain writev. */
static int floor_nosignal = 1;

static void die(const char *what)
{
    fprintf(stderr, "bench_chan: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Common start of every peer child: die with the parent, pin. */
static void child_init(int cpu)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ikb_pin(cpu);
}

/* ---- raw system calls ---------------------------------------------------- */

/* Seqpacket writes larger than the socket buffer fail: send in SEQ_PKT
 * pieces, as ipckit does. */
static int raw_send(int fd, const void *p, size_t n, int packet, int sock)
{
    if (!packet)
        return ikb_full_write(fd, p, n, sock);
    const char *c = p;
    while (n > 0) {
        size_t k = n > SEQ_PKT ? SEQ_PKT : n;
        if (send(fd, c, k, MSG_NOSIGNAL) != (ssize_t)k)
            return -1;
        c += k;
        n -= k;
    }
    return 0;
}

static int tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0)
        return -1;
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    int on = 1;
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    return sv[1] < 0 ? -1 : 0;
}

/* Peer loop. n > 0: echo n-byte messages. n == 0: bandwidth sink, reads
 * 1 MiB messages and answers one byte after each whose first byte is 1. */
static void raw_serve(int rfd, int wfd, int packet, int sock, size_t n)
{
    char *buf = malloc(n ? n : BW_MSG);
    if (buf == NULL)
        _exit(2);
    for (;;) {
        if (ikb_full_read(rfd, buf, n ? n : BW_MSG, sock) != 0)
            _exit(0);
        if (n == 0 && buf[0] == 1 && raw_send(wfd, "k", 1, packet, sock) != 0)
            _exit(3);
        if (n > 0 && raw_send(wfd, buf, n, packet, sock) != 0)
            _exit(3);
    }
}

/* ---- floor: hand-framed raw loop ------------------------------------------ */

static struct framer *framer_new(int rfd, int wfd, int sock)
{
    struct framer *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->rx = malloc(FLOOR_RX)) == NULL)
        return NULL;
    f->rfd = rfd;
    f->wfd = wfd;
    f->sock = sock;
    return f;
}

static void framer_free(struct framer *f)
{
    if (f != NULL)
        free(f->rx);
    free(f);
}

/* All of iov[0..cnt) with one call per attempt (ipckit's: pwritev2 with
 * RWF_NOSIGNAL on pipes, send or sendmsg with MSG_NOSIGNAL on sockets). */
static int floor_writev(struct framer *f, struct iovec *iov, int cnt)
{
    for (;;) {
        ssize_t r;
        if (f->sock && cnt == 1)
            r = send(f->wfd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        else if (f->sock)
            r = sendmsg(f->wfd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)cnt},
                        MSG_NOSIGNAL);
        else if (floor_nosignal)
            r = pwritev2(f->wfd, iov, cnt, -1, RWF_NOSIGNAL);
        else
            r = writev(f->wfd, iov, cnt);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        size_t k = (size_t)r;
        while (cnt > 0 && k >= iov[0].iov_len) {
            k -= iov[0].iov_len;
            iov++;
            cnt--;
        }
        if (cnt == 0)
            return 0;
        iov[0].iov_base = (char *)iov[0].iov_base + k;
        iov[0].iov_len -= k;
    }
}

/* One frame: 'I' 'K' 1 nfds=0 length(u64 LE), then the payload; one buffer
 * if it fits FLOOR_TX (one write), else header and payload as two iovecs. */
static int floor_send(struct framer *f, const void *p, size_t n)
{
    unsigned char h[FRAME_HDR] = {'I', 'K', 1, 0};
    for (unsigned i = 0; i < 8; i++)
        h[4 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    struct iovec iov[2];
    if (FRAME_HDR + n <= FLOOR_TX) {
        memcpy(f->tx, h, FRAME_HDR);
        memcpy(f->tx + FRAME_HDR, p, n);
        iov[0] = (struct iovec){f->tx, FRAME_HDR + n};
        return floor_writev(f, iov, 1);
    }
    iov[0] = (struct iovec){h, FRAME_HDR};
    iov[1] = (struct iovec){(void *)p, n};
    return floor_writev(f, iov, 2);
}

/* Read until a whole frame is buffered, copy its payload (at most cap
 * bytes) to p; bytes after it stay for the next call. Frames must fit
 * FLOOR_RX. Seqpacket: each recv is one packet = one frame. */
static int floor_recv(struct framer *f, void *p, size_t cap, size_t *len)
{
    for (;;) {
        size_t have = f->rx_end - f->rx_start;
        if (have >= FRAME_HDR) {
            const unsigned char *h = (const unsigned char *)f->rx + f->rx_start;
            if (h[0] != 'I' || h[1] != 'K' || h[2] != 1 || h[3] != 0)
                return -1;
            uint64_t n = 0;
            for (unsigned i = 0; i < 8; i++)
                n |= (uint64_t)h[4 + i] << (8 * i);
            if (n > cap || n > FLOOR_RX - FRAME_HDR)
                return -1;
            if (have >= FRAME_HDR + n) {
                memcpy(p, h + FRAME_HDR, n);
                f->rx_start += FRAME_HDR + n;
                if (f->rx_start == f->rx_end)
                    f->rx_start = f->rx_end = 0;
                *len = n;
                return 0;
            }
        }
        if (f->rx_start > 0) { /* keep the partial frame, at the front */
            memmove(f->rx, f->rx + f->rx_start, have);
            f->rx_start = 0;
            f->rx_end = have;
        }
        ssize_t r = f->sock ? recv(f->rfd, f->rx + f->rx_end, FLOOR_RX - f->rx_end, 0)
                            : read(f->rfd, f->rx + f->rx_end, FLOOR_RX - f->rx_end);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        f->rx_end += (size_t)r;
    }
}

/* Floor echo peer: n-byte messages, framed both ways (no bandwidth sink). */
static void floor_serve(int rfd, int wfd, int sock, size_t n)
{
    struct framer *f = framer_new(rfd, wfd, sock);
    char *buf = malloc(n);
    size_t len;
    if (f == NULL || buf == NULL)
        _exit(2);
    for (;;) {
        if (floor_recv(f, buf, n, &len) != 0)
            _exit(0);
        if (floor_send(f, buf, len) != 0)
            _exit(3);
    }
}

/* The peer loop of a raw or floor peer. */
static void fd_serve(enum side mode, int rfd, int wfd, enum raw_kind k, size_t n)
{
    int sock = k != RAW_PIPE && k != RAW_FIFO;
    if (mode == SIDE_FLOOR)
        floor_serve(rfd, wfd, sock, n);
    raw_serve(rfd, wfd, k == RAW_SEQ, sock, n);
}

/* A raw or floor peer on a fresh connection of kind k. */
static void raw_start(enum raw_kind k, enum side mode, size_t n, int cpu, struct peer *p)
{
    static unsigned seq;
    int a[2], b[2];
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->packet = k == RAW_SEQ;
    p->sock = k != RAW_PIPE && k != RAW_FIFO;
    fflush(NULL);
    switch (k) {
    case RAW_PIPE:
        if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0)
            die("pipe");
        if ((p->pid = fork()) < 0)
            die("fork");
        if (p->pid == 0) {
            child_init(cpu);
            fd_serve(mode, b[0], a[1], k, n);
        }
        close(a[1]);
        close(b[0]);
        p->rfd = a[0];
        p->wfd = b[1];
        break;
    case RAW_FIFO: {
        /* Two FIFOs opened one direction each, as ipckit's fifo:// does.
         * Both sides open in the same order, so the blocking opens pair. */
        char p1[300], p2[300];
        snprintf(p1, sizeof(p1), "%s/raw-%u-a", tmpdir, seq);
        snprintf(p2, sizeof(p2), "%s/raw-%u-b", tmpdir, seq++);
        if (mkfifo(p1, 0600) != 0 || mkfifo(p2, 0600) != 0)
            die("mkfifo");
        if ((p->pid = fork()) < 0)
            die("fork");
        if (p->pid == 0) {
            child_init(cpu);
            int r = open(p1, O_RDONLY | O_CLOEXEC), w = open(p2, O_WRONLY | O_CLOEXEC);
            if (r < 0 || w < 0)
                _exit(2);
            fd_serve(mode, r, w, k, n);
        }
        p->wfd = open(p1, O_WRONLY | O_CLOEXEC);
        p->rfd = open(p2, O_RDONLY | O_CLOEXEC);
        if (p->wfd < 0 || p->rfd < 0)
            die("open fifo");
        unlink(p1);
        unlink(p2);
        break;
    }
    case RAW_STREAM:
    case RAW_SEQ:
    case RAW_TCP:
        if (k == RAW_TCP
                ? tcp_pair(a) != 0
                : socketpair(AF_UNIX, (k == RAW_SEQ ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC,
                             0, a) != 0)
            die(k == RAW_TCP ? "tcp loopback pair" : "socketpair");
        if ((p->pid = fork()) < 0)
            die("fork");
        if (p->pid == 0) {
            child_init(cpu);
            fd_serve(mode, a[1], a[1], k, n);
        }
        close(a[1]);
        p->rfd = p->wfd = a[0];
        break;
    }
    if (mode == SIDE_FLOOR &&
        (p->fr = framer_new(p->rfd, p->wfd, k != RAW_PIPE && k != RAW_FIFO)) == NULL)
        die("framer");
}

/* ---- ipckit ------------------------------------------------------------- */

static ik_chan_opts *opts_for(const struct tp *t, int server)
{
    ik_chan_opts *o;
    if (ik_chan_opts_new(&o) != 0)
        exit(1);
    if (strcmp(t->key, "tls") == 0 &&
        ik_chan_opts_set_tls_files(o, server ? NULL : ca, server ? cert : NULL,
                                   server ? key : NULL) != 0)
        exit(1);
    return o;
}

static void ik_serve(ik_chan *ch, size_t n)
{
    char *buf = malloc(n ? n : BW_MSG);
    size_t len;
    if (buf == NULL)
        _exit(2);
    for (;;) {
        if (ik_recv(ch, buf, n ? n : BW_MSG, &len, -1) != 0)
            _exit(0);
        if (n == 0 && len > 0 && buf[0] == 1 && ik_send(ch, "k", 1, -1) != 0)
            _exit(3);
        if (n > 0 && ik_send(ch, buf, len, -1) != 0)
            _exit(3);
    }
}

static void ik_start(const struct tp *t, size_t n, int cpu, struct peer *p)
{
    memset(p, 0, sizeof(*p));
    p->mode = SIDE_IK;
    p->rfd = p->wfd = -1;
    fflush(NULL);
    if (t->url == NULL) {
        ik_chan *peer;
        if (ik_chan_pair(&p->ch, &peer, t->pair) != 0)
            die("ik_chan_pair");
        if ((p->pid = fork()) < 0)
            die("fork");
        if (p->pid == 0) {
            child_init(cpu);
            ik_serve(peer, n);
        }
        ik_chan_close(peer);
        return;
    }
    static unsigned seq;
    char url[256], real[512];
    snprintf(url, sizeof(url), t->url, (int)getpid() * 100 + (int)(seq++ % 100));
    ik_chan_opts *so = opts_for(t, 1);
    ik_listener *l;
    if (ik_listen(&l, url, so) != 0 || ik_listener_url(l, real, sizeof(real)) != 0) {
        fprintf(stderr, "bench_chan: listen %s failed: %s\n", url, ik_chan_last_errdetail());
        exit(1);
    }
    ik_chan_opts_free(so);
    fflush(NULL);
    if ((p->pid = fork()) < 0)
        die("fork");
    if (p->pid == 0) {
        child_init(cpu);
        ik_chan_opts *co = opts_for(t, 0);
        ik_chan *peer;
        if (ik_dial(&peer, real, co) != 0)
            _exit(1);
        ik_serve(peer, n);
    }
    int rc = ik_accept(l, &p->ch, 20000);
    if (rc != 0) {
        fprintf(stderr, "bench_chan: accept %s: %s\n", real, ik_strerror(rc));
        exit(1);
    }
    ik_listener_close(l);
}

/* Stop a peer: it is blocked in read, so nobody ever writes to a gone
 * reader (safe with SIGPIPE at SIG_DFL too). */
static void peer_stop(struct peer *p)
{
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (p->mode == SIDE_IK) {
        ik_chan_close(p->ch);
    } else {
        close(p->rfd);
        if (p->wfd != p->rfd)
            close(p->wfd);
        framer_free(p->fr);
    }
}

static void peer_start(const struct tp *t, enum side mode, size_t n, int cpu, struct peer *p)
{
    if (mode == SIDE_IK)
        ik_start(t, n, cpu, p);
    else
        raw_start(t->raw, mode, n, cpu, p);
}

/* ---- one round ---------------------------------------------------------- */

static int round_trip(struct peer *p, char *buf, size_t n)
{
    size_t len = n;
    switch (p->mode) {
    case SIDE_IK:
        return ik_send(p->ch, buf, n, -1) == 0 && ik_recv(p->ch, buf, n, &len, -1) == 0 && len == n
                   ? 0
                   : -1;
    case SIDE_FLOOR:
        return floor_send(p->fr, buf, n) == 0 && floor_recv(p->fr, buf, n, &len) == 0 && len == n
                   ? 0
                   : -1;
    default:
        return raw_send(p->wfd, buf, n, p->packet, p->sock) == 0 &&
                       ikb_full_read(p->rfd, buf, n, p->sock) == 0
                   ? 0
                   : -1;
    }
}

/* warm + iters round trips of n bytes; p50/p99 of the timed ones, in us. */
static int pp_round(struct peer *p, char *buf, size_t n, uint64_t warm, uint64_t iters,
                    uint64_t cap_ns, ikb_samples *s, double *p50, double *p99)
{
    s->n = 0;
    uint64_t start = ikb_now_ns();
    for (uint64_t i = 0; i < warm; i++) {
        if (round_trip(p, buf, n) != 0)
            return -1;
        if (cap_ns && ikb_now_ns() - start >= cap_ns / 5)
            break;
    }
    start = ikb_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t t0 = ikb_now_ns();
        if (round_trip(p, buf, n) != 0)
            return -1;
        uint64_t t1 = ikb_now_ns();
        ikb_samples_add(s, (double)(t1 - t0) / 1000.0);
        if (cap_ns && i + 1 >= PP_MIN && t1 - start >= cap_ns)
            break;
    }
    *p50 = ikb_pct(s, 50);
    *p99 = ikb_pct(s, 99);
    return 0;
}

/* Up to msgs 1 MiB messages (fewer once cap_ns passed, BW_MIN at least),
 * then wait for the sink's answer to the last one; GB/s. */
static int bw_round(struct peer *p, char *buf, uint64_t msgs, uint64_t cap_ns, double *gbs)
{
    uint64_t t0 = ikb_now_ns(), sent = 0;
    for (int last = 0; !last;) {
        last = sent + 1 == msgs || (cap_ns && sent + 1 >= BW_MIN && ikb_now_ns() - t0 >= cap_ns);
        buf[0] = (char)last;
        int rc = p->mode == SIDE_IK ? ik_send(p->ch, buf, BW_MSG, -1)
                                    : raw_send(p->wfd, buf, BW_MSG, p->packet, p->sock);
        if (rc != 0)
            return -1;
        sent++;
    }
    char c;
    size_t len;
    int rc = p->mode == SIDE_IK ? ik_recv(p->ch, &c, 1, &len, -1)
                                : ikb_full_read(p->rfd, &c, 1, p->sock);
    if (rc != 0)
        return -1;
    *gbs = (double)BW_MSG * (double)sent / ((double)(ikb_now_ns() - t0) / 1e9) / 1e9;
    return 0;
}

/* ---- rows ----------------------------------------------------------------- */

static void sigpipe_set(const struct tp *t)
{
    signal(SIGPIPE, t->sigpipe_dfl ? SIG_DFL : SIG_IGN);
}

/* Smallest and largest per-round ratio x[r] / raw[r]. */
static void spread(const double *x, const double *raw, unsigned n, double *lo, double *hi)
{
    *lo = 1e9;
    *hi = 0;
    for (unsigned r = 0; r < n; r++) {
        double q = raw[r] > 0 ? x[r] / raw[r] : 0;
        *lo = q < *lo ? q : *lo;
        *hi = q > *hi ? q : *hi;
    }
}

/* Round orders, cycled: over six rounds each side runs first, second and
 * last twice, and every pair of sides runs in both orders equally often
 * (rows without a floor skip it: raw,ik / ik,raw / ...). */
static const enum side orders[6][NSIDES] = {
    {SIDE_RAW, SIDE_FLOOR, SIDE_IK}, {SIDE_IK, SIDE_RAW, SIDE_FLOOR},
    {SIDE_FLOOR, SIDE_IK, SIDE_RAW}, {SIDE_IK, SIDE_FLOOR, SIDE_RAW},
    {SIDE_RAW, SIDE_IK, SIDE_FLOOR}, {SIDE_FLOOR, SIDE_RAW, SIDE_IK},
};

/* Latency table heading: the harness's columns plus the floor's. */
static void lat_header(const char *title)
{
    printf("\n%s\n", title);
    printf("%-36s %12s  %-28s %12s  %-6s %6s  %-11s  %-11s  %s\n", "ipckit", "value", "baseline",
           "value", "unit", "ik/raw", "spread", "floor/raw", "spread");
}

/* One latency line: ipckit and raw medians, their ratio and its spread,
 * then floor/raw and its spread (fl < 0: no floor). */
static void lat_report(const char *what, double ik, const char *raw_name, double raw, double fl,
                       const double ik_sp[2], const double fl_sp[2])
{
    char sp[40], fsp[80];
    snprintf(sp, sizeof(sp), "[%.2f-%.2f]", ik_sp[0], ik_sp[1]);
    if (fl < 0)
        snprintf(fsp, sizeof(fsp), "floor -");
    else
        snprintf(fsp, sizeof(fsp), "%s %4.2fx  [%.2f-%.2f]",
                 floor_nosignal ? "floor" : "floor(writev)", raw > 0 ? fl / raw : 0, fl_sp[0],
                 fl_sp[1]);
    printf("%-36s %12.2f  %-28s %12.2f  %-6s %5.2fx  %-11s  %s\n", what, ik, raw_name, raw, "us",
           raw > 0 ? ik / raw : 0, sp, fsp);
    fflush(stdout);
}

/* Latency row: all peers live (raw, floor unless t->no_floor, ipckit),
 * rounds rotating through them in the orders above. */
static void pp_row(const struct tp *t, size_t n, int peer_cpu, const char *mode)
{
    unsigned rounds = ikb_rounds(ROUNDS);
    uint64_t iters = ikb_iters(PP_ITERS), warm = iters / 10 + 10;
    uint64_t cap = (uint64_t)(ikb_scale() * PP_CAP_MS * 1e6);
    double p50[NSIDES][99], p99[NSIDES][99];
    struct peer pe[NSIDES];
    int has_floor = !t->no_floor;
    sigpipe_set(t);
    for (int side = 0; side < NSIDES; side++)
        if (side != SIDE_FLOOR || has_floor)
            peer_start(t, (enum side)side, n, peer_cpu, &pe[side]);
    char *buf = calloc(1, n);
    ikb_samples s = {0};
    int ok = buf != NULL;
    for (unsigned r = 0; r < rounds && ok; r++) {
        for (int k = 0; k < NSIDES && ok; k++) {
            enum side side = orders[r % 6][k];
            if (side == SIDE_FLOOR && !has_floor)
                continue;
            ok = pp_round(&pe[side], buf, n, warm, iters, cap, &s, &p50[side][r], &p99[side][r]) ==
                 0;
        }
        if (!ok || !verbose)
            continue;
        char fl[64] = " | floor -", ord[32] = "";
        if (has_floor)
            snprintf(fl, sizeof(fl), " | floor p50 %.2f p99 %.2f", p50[SIDE_FLOOR][r],
                     p99[SIDE_FLOOR][r]);
        for (int k = 0; k < NSIDES; k++) /* the order this round ran in */
            if (orders[r % 6][k] != SIDE_FLOOR || has_floor)
                snprintf(ord + strlen(ord), sizeof(ord) - strlen(ord), "%s%s", *ord ? "," : "",
                         side_name[orders[r % 6][k]]);
        fprintf(stderr,
                "  %s %s %zu B round %u (%s): raw p50 %.2f p99 %.2f%s | ik p50 %.2f p99 %.2f\n",
                mode, t->name, n, r, ord, p50[SIDE_RAW][r], p99[SIDE_RAW][r], fl, p50[SIDE_IK][r],
                p99[SIDE_IK][r]);
    }
    for (int side = 0; side < NSIDES; side++)
        if (side != SIDE_FLOOR || has_floor)
            peer_stop(&pe[side]);
    signal(SIGPIPE, SIG_IGN);
    ikb_samples_free(&s);
    free(buf);
    char what[96];
    if (!ok) {
        snprintf(what, sizeof(what), "%s %zu B", t->name, n);
        printf("%-36s FAILED (a peer died)\n", what);
        return;
    }
    for (int q = 0; q < 2; q++) { /* p50, p99 */
        double(*v)[99] = q ? p99 : p50;
        double m[NSIDES], tmp[99], ik_sp[2], fl_sp[2] = {0, 0};
        for (int side = 0; side < NSIDES; side++) {
            m[side] = -1; /* no floor */
            if (side == SIDE_FLOOR && !has_floor)
                continue;
            memcpy(tmp, v[side], rounds * sizeof(double));
            m[side] = ikb_median(tmp, rounds);
        }
        spread(v[SIDE_IK], v[SIDE_RAW], rounds, &ik_sp[0], &ik_sp[1]);
        if (has_floor)
            spread(v[SIDE_FLOOR], v[SIDE_RAW], rounds, &fl_sp[0], &fl_sp[1]);
        snprintf(what, sizeof(what), "%s %zu B %s", t->name, n, q ? "p99" : "p50");
        lat_report(what, m[SIDE_IK], t->raw_name, m[SIDE_RAW], m[SIDE_FLOOR], ik_sp, fl_sp);
    }
}

static void bw_row(const struct tp *t, int peer_cpu, const char *mode)
{
    unsigned rounds = ikb_rounds(BW_ROUNDS);
    uint64_t msgs = ikb_iters(BW_MSGS);
    uint64_t cap = (uint64_t)(ikb_scale() * BW_CAP_MS * 1e6);
    double g[2][99];
    struct peer pe[2];
    sigpipe_set(t);
    peer_start(t, SIDE_RAW, 0, peer_cpu, &pe[0]); /* here: 0 = raw, 1 = ipckit */
    peer_start(t, SIDE_IK, 0, peer_cpu, &pe[1]);
    char *buf = calloc(1, BW_MSG);
    int ok = buf != NULL;
    double warm;
    /* Warm-up: fault in both sides' buffers and socket memory. */
    for (int side = 0; side < 2 && ok; side++)
        ok = bw_round(&pe[side], buf, BW_MIN, 0, &warm) == 0;
    for (unsigned r = 0; r < rounds && ok; r++) {
        for (int k = 0; k < 2 && ok; k++) {
            int side = (int)(r & 1) ^ k;
            ok = bw_round(&pe[side], buf, msgs, cap, &g[side][r]) == 0;
        }
        if (ok && verbose)
            fprintf(stderr, "  %s %s bw round %u: raw %.2f | ik %.2f GB/s\n", mode, t->name, r,
                    g[0][r], g[1][r]);
    }
    peer_stop(&pe[0]);
    peer_stop(&pe[1]);
    signal(SIGPIPE, SIG_IGN);
    free(buf);
    char what[96];
    snprintf(what, sizeof(what), "%s 1 MiB", t->name);
    if (!ok) {
        printf("%-44s FAILED (a peer died)\n", what);
        return;
    }
    double lo, hi;
    spread(g[1], g[0], rounds, &lo, &hi);
    double ik = ikb_median(g[1], rounds), raw = ikb_median(g[0], rounds);
    ikb_report_spread(what, ik, t->raw_name, raw, "GB/s", lo, hi);
}

/* ---- setup ------------------------------------------------------------ */

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
        fprintf(stderr, "bench_chan: openssl failed, tls rows will fail\n");
}

/* 1 if this kernel takes pwritev2(RWF_NOSIGNAL) on a pipe (Linux 6.18+),
 * 0 if it refuses the flag: the floor then uses writev, as ipckit would
 * (which then adds its SIGPIPE handling; the floor does not). */
static int probe_nosignal(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        die("pipe");
    struct iovec v = {(void *)"", 1};
    ssize_t r = pwritev2(p[1], &v, 1, -1, RWF_NOSIGNAL);
    int e = errno;
    close(p[0]);
    close(p[1]);
    if (r == 1)
        return 1;
    if (e != EINVAL && e != EOPNOTSUPP) {
        errno = e;
        die("pwritev2 probe");
    }
    return 0;
}

/* The first two CPUs this process may run on (-1 if absent). */
/* $IK_BENCH_TABLES: comma-separated subset of lat-cross,lat-same,bw-cross,
 * bw-same (default: all four). */
static int want_table(const char *kind, int same)
{
    const char *e = getenv("IK_BENCH_TABLES");
    char name[16];
    snprintf(name, sizeof(name), "%s-%s", kind, same ? "same" : "cross");
    return e == NULL || *e == '\0' || strstr(e, name) != NULL;
}

/* --one KEY raw|ik|floor SIZE|bw COUNT [same|cross]: one side, no rounds. */
static int run_one(int argc, char **argv, int cpu_a, int cpu_b)
{
    const struct tp *t = NULL;
    int mode = -1;
    for (size_t i = 0; i < NTPS; i++)
        if (argc >= 3 && strcmp(argv[2], tps[i].key) == 0)
            t = &tps[i];
    for (int m = 0; m < NSIDES; m++)
        if (argc >= 4 && strcmp(argv[3], side_name[m]) == 0)
            mode = m;
    if (argc < 6 || t == NULL || mode < 0) {
        fprintf(stderr,
                "usage: bench_chan --one KEY raw|ik|floor SIZE|bw COUNT [same|cross]\n"
                "KEY: pipe pipe-dfl fifo fifo-dfl unix seq tcp tls (floor: not tls, "
                "not bw, SIZE <= %u)\n",
                (unsigned)FLOOR_MAX_N);
        return 2;
    }
    int bw = strcmp(argv[4], "bw") == 0;
    size_t n = bw ? 0 : strtoul(argv[4], NULL, 10);
    uint64_t count = strtoull(argv[5], NULL, 10);
    int cross = argc > 6 && strcmp(argv[6], "cross") == 0;
    if ((!bw && (n == 0 || n > BW_MSG)) || count == 0)
        return 2;
    if (mode == SIDE_FLOOR && (t->no_floor || bw || n > FLOOR_MAX_N)) {
        fprintf(stderr, "bench_chan: floor: latency only, not tls, SIZE <= %u\n",
                (unsigned)FLOOR_MAX_N);
        return 2;
    }
    ikb_pin(cpu_a);
    struct peer p;
    sigpipe_set(t);
    peer_start(t, (enum side)mode, n, cross ? cpu_b : cpu_a, &p);
    char *buf = calloc(1, bw ? BW_MSG : n);
    ikb_samples s = {0};
    double a = 0, b = 0;
    int rc = buf == NULL ? -1
             : bw        ? bw_round(&p, buf, count, 0, &a)
                         : pp_round(&p, buf, n, 0, count, 0, &s, &a, &b);
    peer_stop(&p);
    printf("%s %s %s x%llu: %s %.2f %s\n", t->key, argv[3], argv[4], (unsigned long long)count,
           bw ? "GB/s" : "p50 us", a, rc == 0 ? "" : "FAILED");
    ikb_samples_free(&s);
    free(buf);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* rows flip it to SIG_DFL where asked */
    verbose = getenv("IK_BENCH_VERBOSE") != NULL;
    floor_nosignal = probe_nosignal();
    snprintf(tmpdir, sizeof(tmpdir), "%s", ikb_tmpdir("ik-bench-chan"));
    make_cert();
    cpu_set_t all;
    int cpu_a, cpu_b, rc = 0;
    ikb_pick_cpus(&all, &cpu_a, &cpu_b);
    uint64_t t_start = ikb_now_ns();
    if (argc > 1 && strcmp(argv[1], "--one") == 0) {
        rc = run_one(argc, argv, cpu_a, cpu_b);
    } else {
        const size_t sizes[] = {64, 4096};
        char title[256];
        printf(
            "channel benchmark: %u (bandwidth: %u) rounds per side, rotating raw/floor/ipckit "
            "(bandwidth: raw/ipckit); a round\n= up to %llu round trips (%u ms) or %llu x 1 MiB "
            "(%u ms); value = median over rounds; spread = min-max of\nper-round ratios "
            "(ipckit/raw, floor/raw). floor: raw loop, no library, sending ipckit's framed bytes "
            "with\nipckit's system calls (%s on pipes), so floor/raw is the price of the frame "
            "itself. CPUs %d and %d.\npipe/fifo rows: SIGPIPE ignored; [SIGPIPE dfl] rows: "
            "default disposition. Method: docs/bench.md\n",
            ikb_rounds(ROUNDS), ikb_rounds(BW_ROUNDS), (unsigned long long)ikb_iters(PP_ITERS),
            (unsigned)(ikb_scale() * PP_CAP_MS), (unsigned long long)ikb_iters(BW_MSGS),
            (unsigned)(ikb_scale() * BW_CAP_MS),
            floor_nosignal ? "pwritev2(RWF_NOSIGNAL)" : "writev: RWF_NOSIGNAL refused", cpu_a,
            cpu_b);
        for (int same = 0; same < 2; same++) {
            if ((!same && cpu_b < 0) || !want_table("lat", same))
                continue; /* one CPU: no cross-CPU table */
            int peer_cpu = same ? cpu_a : cpu_b;
            const char *mode = same ? "same CPU" : "cross CPU";
            ikb_pin(cpu_a);
            snprintf(title, sizeof(title),
                     "ping-pong latency, round trip, %s (this process on CPU %d, peers on CPU %d)",
                     mode, cpu_a, peer_cpu);
            lat_header(title);
            for (size_t i = 0; i < NTPS; i++)
                for (size_t j = 0; j < 2; j++)
                    pp_row(&tps[i], sizes[j], peer_cpu, mode);
        }
        for (int same = 0; same < 2; same++) {
            if ((!same && cpu_b < 0) || !want_table("bw", same))
                continue;
            int peer_cpu = same ? cpu_a : cpu_b;
            const char *mode = same ? "same CPU" : "cross CPU";
            ikb_pin(cpu_a);
            snprintf(title, sizeof(title),
                     "streaming bandwidth, 1 MiB messages, %s (GB/s: ratio > 1 = ipckit faster)",
                     mode);
            ikb_header_spread(title);
            for (size_t i = 0; i < NTPS; i++)
                bw_row(&tps[i], peer_cpu, mode);
        }
        printf("\nelapsed %.1f s\n", (double)(ikb_now_ns() - t_start) / 1e9);
    }
    if (sched_setaffinity(0, sizeof(all), &all) != 0)
        rc = 1;
    if (ikb_tmpdir_remove() != 0)
        rc = 1;
    return rc;
}
