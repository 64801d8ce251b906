/*
 * tls://host:port: TLS (OpenSSL 3) as a layer over any byte-stream ik__io.
 * The transport reuses the TCP transport's listen/accept/dial for the lower
 * layer and stacks this layer on top; a custom BIO moves the ciphertext
 * through the lower layer's ops (so MSG_NOSIGNAL etc. still apply).
 * TLS 1.3 only unless tls12=1. Clients verify the certificate and the
 * host name by default (ca= or the system store); verify=0 is explicit and
 * warns on stderr. A server given ca= requires client certificates (mTLS).
 * Handshake failures give IK_EAUTH with the OpenSSL reason as detail.
 */
#include "../chan_int.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct tls_ctx {
    SSL *ssl;
    /* SSL_write said WANT_*: OpenSSL holds a built record of our data that
     * only a retry with the same bytes may finish. */
    int wcommitted;
    struct ik__io *lower; /* the byte stream under the BIO */
    int rwait;            /* inside a read without deadline: the BIO may block */
    /* Read-ahead under OpenSSL: one lower read fetches a record's header
     * and body (OpenSSL asks for them separately). Bytes here are always
     * whole records not yet given to OpenSSL, then maybe part of one. Only
     * after the handshake (allocated then): a handshake reads exactly what
     * it needs, so a new channel has nothing buffered that its fd does not
     * announce, and a pending handshake costs no buffer. */
    uint8_t *rbuf;
    size_t roff, rlen;
};

/* A TLS record is at most 5 + 2^14 + 256 bytes (RFC 8446 5.2). */
#define TLS_RBUF (5 + 16384 + 256)

/* ---- BIO over the lower layer ------------------------------------------ */

static BIO_METHOD *bio_meth;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *buf, int n)
{
    struct tls_ctx *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    if (t->rbuf == NULL && SSL_is_init_finished(t->ssl))
        t->rbuf = malloc(TLS_RBUF); /* NULL: read without it */
    if (t->rlen == 0) {
        /* Without the buffer (handshake): straight into OpenSSL's. */
        bool direct = t->rbuf == NULL;
        ssize_t r = t->lower->ops->read(t->lower, direct ? (void *)buf : t->rbuf,
                                        direct ? (size_t)n : TLS_RBUF, t->rwait);
        if (r == IK_EAGAIN) {
            BIO_set_retry_read(b);
            return -1;
        }
        if (r <= 0)
            return r == 0 ? 0 : -1;
        if (direct)
            return (int)r;
        t->roff = 0;
        t->rlen = (size_t)r;
    }
    size_t k = (size_t)n < t->rlen ? (size_t)n : t->rlen;
    memcpy(buf, t->rbuf + t->roff, k);
    t->roff += k;
    t->rlen -= k;
    return (int)k;
}

static int bio_write(BIO *b, const char *buf, int n)
{
    struct tls_ctx *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    struct iovec v = {(void *)buf, (size_t)n};
    ssize_t r = t->lower->ops->writev(t->lower, &v, 1, NULL, 0, 0);
    if (r >= 0)
        return (int)r;
    if (r == IK_EAGAIN) {
        BIO_set_retry_write(b);
        return -1;
    }
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    IK__UNUSED(num);
    IK__UNUSED(ptr);
    if (cmd == BIO_CTRL_PENDING) {
        const struct tls_ctx *t = BIO_get_data(b);
        return t != NULL ? (long)t->rlen : 0;
    }
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_init_once(void)
{
    bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ipckit-io");
    if (bio_meth == NULL)
        return;
    BIO_meth_set_read(bio_meth, bio_read);
    BIO_meth_set_write(bio_meth, bio_write);
    BIO_meth_set_ctrl(bio_meth, bio_ctrl);
    BIO_meth_set_create(bio_meth, bio_create);
}

/* ---- the TLS io layer --------------------------------------------------- */

static void ssl_detail(char *buf, size_t cap, SSL *ssl, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[200] = "";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(buf, cap, "%s: %s (verify: %s)", what, reason[0] ? reason : "error",
                 X509_verify_cert_error_string(vr));
    else
        snprintf(buf, cap, "%s: %s", what, reason[0] ? reason : "connection closed");
    ERR_clear_error();
}

/* Map an SSL_get_error result: IK_EAGAIN (want set) or a hard error. */
static int ssl_want(struct ik__io *io, SSL *ssl, int ret, int hard)
{
    int e = SSL_get_error(ssl, ret);
    if (e == SSL_ERROR_WANT_READ) {
        io->want = POLLIN;
        return IK_EAGAIN;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        io->want = POLLOUT;
        return IK_EAGAIN;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    ssl_detail(io->detail, sizeof(io->detail), ssl, "tls");
    return hard;
}

static ssize_t tls_read(struct ik__io *io, void *buf, size_t n, int wait)
{
    struct tls_ctx *t = io->ctx;
    size_t got = 0;
    ERR_clear_error();
    /* Without a deadline the lower layer may block in its read: one recv
     * per record read instead of a failing recv, a poll and the recv. */
    t->rwait = wait;
    int r = SSL_read_ex(t->ssl, buf, n, &got);
    t->rwait = 0;
    if (r == 1)
        return (ssize_t)got;
    return ssl_want(io, t->ssl, r, IK_ECLOSED);
}

static ssize_t tls_writev(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                          int nfds, int wait)
{
    IK__UNUSED(wait);
    if (nfds > 0 || fds != NULL)
        return IK_ENOTSUP;
    struct tls_ctx *t = io->ctx;
    /* Coalesce small iovecs into one record (the buffer may move between
     * retries: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
    uint8_t small[16384];
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    ERR_clear_error();
    if (n > 1 && total <= sizeof(small)) {
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            memcpy(small + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        size_t w = 0;
        int r = SSL_write_ex(t->ssl, small, total, &w);
        t->wcommitted = r != 1;
        if (r == 1)
            return (ssize_t)w;
        int rc = ssl_want(io, t->ssl, r, IK_ECLOSED);
        return rc == 0 ? IK_ECLOSED : rc;
    }
    ssize_t done = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len == 0)
            continue;
        size_t w = 0;
        int r = SSL_write_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &w);
        t->wcommitted = r != 1;
        if (r == 1) {
            done += (ssize_t)w;
            continue;
        }
        if (done > 0)
            return done; /* retried next call with the same buffer */
        int rc = ssl_want(io, t->ssl, r, IK_ECLOSED);
        return rc == 0 ? IK_ECLOSED : rc;
    }
    return done;
}

/* Decoded bytes inside OpenSSL, or a whole record in the read-ahead
 * buffer: either way ik_recv(…, 0) makes progress without the fd. A partial
 * record does not count (the fd says when the rest arrives). */
static int tls_pending(const struct ik__io *io)
{
    const struct tls_ctx *t = io->ctx;
    if (SSL_pending(t->ssl) > 0)
        return 1;
    if (t->rlen < 5)
        return 0;
    const uint8_t *h = t->rbuf + t->roff;
    return t->rlen >= 5 + ((size_t)h[3] << 8 | h[4]);
}

static int tls_write_committed(const struct ik__io *io)
{
    const struct tls_ctx *t = io->ctx;
    return t != NULL && t->wcommitted;
}

static int tls_subject(const struct ik__io *io, char *buf, size_t cap)
{
    struct tls_ctx *t = io->ctx;
    X509 *c = SSL_get1_peer_certificate(t->ssl);
    if (c == NULL)
        return IK_ENOENT;
    char *s = X509_NAME_oneline(X509_get_subject_name(c), NULL, 0);
    X509_free(c);
    if (s == NULL)
        return IK_ENOMEM;
    int n = snprintf(buf, cap, "%s", s);
    OPENSSL_free(s);
    return (n < 0 || (size_t)n >= cap) ? IK_ENAMETOOLONG : 0;
}

static void tls_close(struct ik__io *io)
{
    struct tls_ctx *t = io->ctx;
    if (t != NULL) {
        if (t->ssl != NULL) {
            SSL_shutdown(t->ssl); /* best effort close_notify, never blocks */
            SSL_free(t->ssl);     /* frees the BIO */
        }
        free(t->rbuf);
        free(t);
    }
    if (io->lower != NULL) {
        io->lower->ops->close(io->lower);
        free(io->lower);
    }
    io->ctx = NULL;
    io->lower = NULL;
    io->rfd = io->wfd = -1;
}

static const struct ik__io_ops tls_io_ops = {
    .read = tls_read,
    .writev = tls_writev,
    .pending = tls_pending,
    .write_committed = tls_write_committed,
    .subject = tls_subject,
    .close = tls_close,
};

/* ---- contexts ----------------------------------------------------------- */

static int ctx_common(SSL_CTX *ctx, const struct ik_chan_opts *o, char *detail, size_t cap)
{
    SSL_CTX_set_min_proto_version(ctx, o->tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->cert[0] != '\0') {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            ssl_detail(detail, cap, NULL, "certificate/key");
            return IK_EAUTH;
        }
    }
    return 0;
}

static int server_ctx(SSL_CTX **out, const struct ik_chan_opts *o, char *detail, size_t cap)
{
    if (o->cert[0] == '\0' || o->key[0] == '\0') {
        snprintf(detail, cap, "tls listener needs cert= and key=");
        return IK_EINVAL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return IK_ENOMEM;
    /* No TLS 1.3 session tickets: ipckit never resumes, and a ticket the
     * client never reads makes its close() an RST that can destroy the last
     * messages it sent (a send-only client such as `ipckit send`). */
    SSL_CTX_set_num_tickets(ctx, 0);
    int rc = ctx_common(ctx, o, detail, cap);
    if (rc == 0 && o->ca[0] != '\0') {
        if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
            ssl_detail(detail, cap, NULL, "ca");
            rc = IK_EAUTH;
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
    }
    if (rc != 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

static int client_ctx(SSL_CTX **out, const struct ik_chan_opts *o, char *detail, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return IK_ENOMEM;
    int rc = ctx_common(ctx, o, detail, cap);
    if (rc == 0 && o->verify) {
        int ok = o->ca[0] != '\0' ? SSL_CTX_load_verify_locations(ctx, o->ca, NULL)
                                  : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            ssl_detail(detail, cap, NULL, "ca");
            rc = IK_EAUTH;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else if (rc == 0) {
        fprintf(stderr, "ipckit: WARNING: TLS certificate verification is DISABLED "
                        "(verify=0): the peer is not authenticated\n");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (rc != 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

/* Stack TLS over lower (owned by io from here on). */
static int tls_setup(struct ik__io *io, struct ik__io *lower, SSL_CTX *ctx, int server,
                     const char *host)
{
    pthread_once(&bio_once, bio_init_once);
    ik__io_init(io, &tls_io_ops, lower->rfd, lower->wfd);
    io->lower = lower;
    struct tls_ctx *t = calloc(1, sizeof(*t));
    if (t == NULL || bio_meth == NULL) {
        free(t);
        tls_close(io);
        return IK_ENOMEM;
    }
    io->ctx = t;
    t->ssl = SSL_new(ctx);
    BIO *b = BIO_new(bio_meth);
    if (t->ssl == NULL || b == NULL) {
        BIO_free(b);
        tls_close(io);
        return IK_ENOMEM;
    }
    t->lower = lower;
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        unsigned char tmp[16];
        int is_ip = inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
        if (is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host);
        } else {
            SSL_set_tlsext_host_name(t->ssl, host);
            SSL_set1_host(t->ssl, host);
        }
    }
    return 0;
}

/* One non-blocking handshake step: 0 done, IK_EAGAIN (io->want set), or
 * IK_EAUTH with the reason in io->detail. */
static int tls_step(struct ik__io *io)
{
    struct tls_ctx *t = io->ctx;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return 0;
    int rc = ssl_want(io, t->ssl, r, IK_EAUTH);
    if (rc == 0) {
        snprintf(io->detail, sizeof(io->detail), "tls handshake: peer closed");
        rc = IK_EAUTH;
    }
    return rc;
}

/* Release a failed layer but keep its detail for the caller. */
static void tls_fail(struct ik__io *io)
{
    char keep[sizeof(io->detail)];
    memcpy(keep, io->detail, sizeof(keep));
    tls_close(io);
    memcpy(io->detail, keep, sizeof(keep));
}

/* ---- transport ---------------------------------------------------------- */

/*
 * The listener runs many handshakes at once: ik_accept polls the listening
 * socket and every pending handshake, and returns the first one that
 * completes. Each pending handshake has its own deadline (hs_timeout), and
 * at most max_conns are pending, so idle or slow clients cannot hold up a
 * real one.
 */
struct tls_pending {
    struct ik__io io;
    uint64_t deadline;
};

struct tls_lst {
    SSL_CTX *ctx;
    struct tls_pending *p;
    int n, cap;
    /* epoll set of the listening socket and every pending handshake: the
     * listener's pollfd, so an event loop that calls ik_accept only when it
     * is readable still drives handshakes (a ClientHello arrives on the
     * pending socket, not on the listening one). -1: not available. */
    int ep;
};

static void ep_ctl(struct tls_lst *tl, int op, const struct ik__io *io)
{
    if (tl->ep < 0)
        return;
    struct epoll_event ev = {.events = io->want == POLLOUT ? EPOLLOUT : EPOLLIN,
                             .data.fd = io->rfd};
    epoll_ctl(tl->ep, op, io->rfd, &ev);
}

static int tls_listen(struct ik_listener *l)
{
    char detail[256] = "";
    struct tls_lst *tl = calloc(1, sizeof(*tl));
    if (tl == NULL)
        return IK_ENOMEM;
    tl->cap = l->opts.max_conns < 1024 ? l->opts.max_conns : 1024;
    tl->p = calloc((size_t)tl->cap, sizeof(*tl->p));
    int rc = tl->p ? server_ctx(&tl->ctx, &l->opts, detail, sizeof(detail)) : IK_ENOMEM;
    if (rc != 0) {
        ik__set_last_detail(detail);
        free(tl->p);
        free(tl);
        return rc;
    }
    rc = ik__tcp_listen(l, "tls");
    if (rc != 0) {
        SSL_CTX_free(tl->ctx);
        free(tl->p);
        free(tl);
        return rc;
    }
    tl->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->fd};
    if (tl->ep >= 0 && epoll_ctl(tl->ep, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
        close(tl->ep);
        tl->ep = -1;
    }
    l->pollfd = tl->ep;
    l->ctx = tl;
    return 0;
}

static void pending_drop(struct tls_lst *tl, int i)
{
    tl->p[i] = tl->p[--tl->n];
}

/* Drop the pending handshake whose deadline comes first. */
static void drop_oldest(struct tls_lst *tl)
{
    int old = 0;
    for (int i = 1; i < tl->n; i++)
        if (tl->p[i].deadline < tl->p[old].deadline)
            old = i;
    ep_ctl(tl, EPOLL_CTL_DEL, &tl->p[old].io);
    tls_close(&tl->p[old].io);
    pending_drop(tl, old);
}

static bool out_of_fds(int rc)
{
    return rc == IK_EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == IK_ENOMEM;
}

/* Take new connections from the backlog. When every slot holds a pending
 * handshake, the oldest one is dropped for the newcomer: otherwise cap idle
 * connections would lock real clients out for a whole hs_timeout. Out of
 * fds, likewise: the oldest pending handshake makes room. At most cap
 * connections per call, so a continuous flood cannot keep us here. Returns
 * true when the backlog could not be taken for want of fds and nothing is
 * left to drop: the caller must not poll the listening socket, which stays
 * readable, in a busy loop. */
static bool take_new(struct ik_listener *l, struct tls_lst *tl)
{
    for (int taken = 0; taken < tl->cap; taken++) {
        struct ik__io *lower = calloc(1, sizeof(*lower));
        if (lower == NULL)
            return true;
        int rc = ik__tcp_accept(l, lower, 0);
        if (rc != 0) {
            free(lower);
            if (!out_of_fds(rc))
                return false;
            if (tl->n == 0)
                return true;
            drop_oldest(tl);
            continue;
        }
        if (tl->n == tl->cap)
            drop_oldest(tl);
        struct tls_pending *pd = &tl->p[tl->n];
        if (tls_setup(&pd->io, lower, tl->ctx, 1, NULL) != 0)
            return false;
        pd->deadline = ik__deadline(l->opts.hs_timeout_ms);
        pd->io.want = POLLIN;
        ep_ctl(tl, EPOLL_CTL_ADD, &pd->io);
        tl->n++;
    }
    return false;
}

static int tls_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline)
{
    struct tls_lst *tl = l->ctx;
    struct pollfd *pf = malloc(sizeof(*pf) * (size_t)(tl->cap + 1));
    if (pf == NULL)
        return IK_ENOMEM;
    int rc;
    for (;;) {
        bool starved = take_new(l, tl);
        /* Step every pending handshake; hand out the first finished one. */
        uint64_t now = ik__now_ns(), next = deadline;
        rc = IK_EAGAIN;
        for (int i = 0; i < tl->n && rc == IK_EAGAIN; i++) {
            struct tls_pending *pd = &tl->p[i];
            int st = tls_step(&pd->io);
            if (st != IK_EAGAIN || now >= pd->deadline)
                ep_ctl(tl, EPOLL_CTL_DEL, &pd->io);
            else
                ep_ctl(tl, EPOLL_CTL_MOD, &pd->io);
            if (st == 0) {
                *io = pd->io;
                pending_drop(tl, i);
                rc = 0;
            } else if (st != IK_EAGAIN || now >= pd->deadline) {
                if (st == IK_EAGAIN)
                    snprintf(pd->io.detail, sizeof(pd->io.detail), "tls handshake timed out");
                tls_fail(&pd->io);
                memcpy(io->detail, pd->io.detail, sizeof(io->detail));
                pending_drop(tl, i);
                rc = IK_EAUTH;
            } else if (pd->deadline < next) {
                next = pd->deadline;
            }
        }
        if (rc != IK_EAGAIN)
            break;
        /* Checked every round, not only when poll finds nothing: a steady
         * flood keeps the listening socket readable forever. */
        if (ik__ms_left(deadline) == 0) {
            rc = IK_ETIMEDOUT;
            break;
        }
        int n = 0, wait = ik__ms_left(next);
        if (!starved)
            pf[n++] = (struct pollfd){.fd = l->fd, .events = POLLIN};
        else if (wait < 0 || wait > 10)
            wait = 10; /* out of fds: try the backlog again in 10 ms */
        for (int i = 0; i < tl->n; i++) {
            struct ik__io *pio = &tl->p[i].io;
            pf[n++] = (struct pollfd){.fd = pio->want == POLLOUT ? pio->wfd : pio->rfd,
                                      .events = pio->want};
        }
        int pr = poll(pf, (nfds_t)n, wait);
        if (pr < 0 && errno != EINTR) {
            rc = ik__errno();
            break;
        }
    }
    free(pf);
    return rc;
}

static void tls_lst_close(struct ik_listener *l)
{
    struct tls_lst *tl = l->ctx;
    ik__tcp_lst_close(l);
    if (tl->ep >= 0)
        close(tl->ep);
    for (int i = 0; i < tl->n; i++)
        tls_close(&tl->p[i].io);
    SSL_CTX_free(tl->ctx);
    free(tl->p);
    free(tl);
}

static int tls_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                    uint64_t deadline)
{
    SSL_CTX *ctx;
    int rc = client_ctx(&ctx, o, io->detail, sizeof(io->detail));
    if (rc != 0)
        return rc;
    struct ik__io *lower = calloc(1, sizeof(*lower));
    if (lower == NULL) {
        SSL_CTX_free(ctx);
        return IK_ENOMEM;
    }
    rc = ik__tcp_dial(lower, u, o, deadline);
    if (rc != 0) {
        memcpy(io->detail, lower->detail, sizeof(io->detail));
        free(lower);
        SSL_CTX_free(ctx);
        return rc;
    }
    rc = tls_setup(io, lower, ctx, 0, u->host);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    while (rc == 0) {
        rc = tls_step(io);
        if (rc != IK_EAGAIN)
            break;
        rc = ik__wait_fd(io->want == POLLOUT ? io->wfd : io->rfd, io->want, deadline);
        if (rc != 0)
            snprintf(io->detail, sizeof(io->detail), "tls handshake timed out");
    }
    if (rc != 0 && io->ops != NULL)
        tls_fail(io);
    return rc;
}

const struct ik__transport ik__tp_tls = {
    .scheme = "tls",
    .flags = IK__TF_STREAM,
    .listen = tls_listen,
    .accept = tls_accept,
    .lst_close = tls_lst_close,
    .dial = tls_dial,
};
