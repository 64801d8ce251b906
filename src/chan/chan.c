/* Channel layer: endpoints, framing and message semantics over any transport.
 * It only talks to struct ik__transport and struct ik__io: no per-transport
 * code lives here. */
#include "chan_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IK__RXBUF       (64 * 1024 + 64)
/* A frame up to this size (header included) is copied into one buffer:
 * one segment is cheaper for the kernel to import than a header + payload
 * pair, and lets sockets use send(2) (measured: docs/bench.md). */
#define IK__TX_COALESCE 4096
#define IK__IOV_MAX     64

/* Registry: one const ops table per scheme. */
static const struct ik__transport *const transports[] = {
    &ik__tp_pipe,       &ik__tp_fifo,          &ik__tp_unix, &ik__tp_unix_seq,
    &ik__tp_unix_dgram, &ik__tp_unix_abstract, &ik__tp_tcp,  &ik__tp_tls,
};

struct ik__lst_count {
    atomic_int live;
    atomic_int refs;
};

struct ik_chan {
    const struct ik__transport *tp;
    struct ik__io io; /* top layer */
    uint64_t max_msg;
    int raw, dgram;
    size_t packet_max;
    int broken; /* 0, or the error every later call returns */
    /* receive state */
    uint8_t *rx;
    size_t rxoff, rxlen;
    int have_hdr;
    uint64_t msg_len;
    uint8_t *tx;   /* IK__TX_COALESCE bytes, allocated at the first small send */
    uint8_t *part; /* payload received before a timeout (msg_len bytes) */
    uint64_t part_got;
    int msg_fds[IK_FD_MAX];
    int msg_nfds;
    struct ik__lst_count *live;
    char detail[256];
};

static _Thread_local char last_detail[256];

void ik__set_last_detail(const char *s)
{
    snprintf(last_detail, sizeof(last_detail), "%s", s ? s : "");
}

const char *ik_chan_last_errdetail(void)
{
    return last_detail;
}

static const struct ik__transport *find_tp(const char *scheme)
{
    for (size_t i = 0; i < IK__ARRAY_LEN(transports); i++)
        if (strcmp(transports[i]->scheme, scheme) == 0)
            return transports[i];
    return NULL;
}

int ik__wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ik__ms_left(deadline));
        if (r > 0)
            return 0;
        if (r == 0)
            return IK_ETIMEDOUT;
        if (errno != EINTR)
            return ik__errno();
    }
}

/* Options: defaults, then opts, then the URL query. */
static int resolve_opts(struct ik_chan_opts *o, const struct ik_chan_opts *given,
                        const struct ik__url *u)
{
    if (given != NULL)
        *o = *given;
    else
        ik__opts_default(o);
    if (u != NULL && u->query[0] != '\0')
        return ik_chan_opts_parse(o, u->query);
    return 0;
}

static int chan_new(ik_chan **out, const struct ik__transport *tp, const struct ik_chan_opts *o)
{
    ik_chan *ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return IK_ENOMEM;
    ch->tp = tp;
    ch->max_msg = o->max_msg;
    ch->dgram = (tp->flags & IK__TF_DGRAM) != 0;
    ch->raw = o->raw && !ch->dgram;
    ch->packet_max = tp->packet_max;
    if (!ch->dgram) {
        ch->rx = malloc(IK__RXBUF);
        if (ch->rx == NULL) {
            free(ch);
            return IK_ENOMEM;
        }
    }
    ch->io.rfd = ch->io.wfd = -1;
    *out = ch;
    return 0;
}

static void chan_free(ik_chan *ch)
{
    free(ch->rx);
    free(ch->tx);
    free(ch->part);
    free(ch);
}

static int check_mode(const struct ik__transport *tp, const struct ik_chan_opts *o)
{
    if (o->raw && !(tp->flags & IK__TF_STREAM))
        return IK_EINVAL;
    if (o->fds && !(tp->flags & IK__TF_FDS))
        return IK_EINVAL; /* only Unix stream/seqpacket carry fds */
    if (o->fds && o->raw)
        return IK_EINVAL; /* fds ride on frames: a raw stream could never hand them out */
    return 0;
}

/* ---- endpoints ---------------------------------------------------------- */

int ik_listen(ik_listener **out, const char *url, const ik_chan_opts *opts)
{
    if (out == NULL)
        return IK_EINVAL;
    *out = NULL;
    ik__set_last_detail("");
    ik_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return IK_ENOMEM;
    int rc = ik__url_parse(&l->url, url);
    if (rc == 0)
        rc = resolve_opts(&l->opts, opts, &l->url);
    if (rc == 0) {
        l->tp = find_tp(l->url.scheme);
        if (l->tp == NULL || l->tp->listen == NULL)
            rc = IK_ENOTSUP;
    }
    if (rc == 0)
        rc = check_mode(l->tp, &l->opts);
    l->fd = l->aux = l->pollfd = -1;
    if (rc == 0) {
        l->live = calloc(1, sizeof(*l->live));
        rc = l->live ? 0 : IK_ENOMEM;
    }
    if (rc == 0)
        rc = l->tp->listen(l);
    if (rc != 0) {
        free(l->live);
        free(l);
        return rc;
    }
    atomic_store(&l->live->refs, 1);
    *out = l;
    return 0;
}

int ik_accept(ik_listener *l, ik_chan **out, int timeout_ms)
{
    if (l == NULL || out == NULL || timeout_ms < -1)
        return IK_EINVAL;
    *out = NULL;
    ik__set_last_detail("");
    uint64_t deadline = ik__deadline(timeout_ms);
    ik_chan *ch;
    int rc = chan_new(&ch, l->tp, &l->opts);
    if (rc != 0)
        return rc;
    rc = l->tp->accept(l, &ch->io, deadline);
    if (rc != 0) {
        if (ch->io.detail[0] != '\0')
            ik__set_last_detail(ch->io.detail);
        chan_free(ch);
        return rc;
    }
    if (atomic_load(&l->live->live) >= l->opts.max_conns) {
        ch->io.ops->close(&ch->io);
        chan_free(ch);
        ik__set_last_detail("connection limit reached");
        return IK_EBUSY;
    }
    atomic_fetch_add(&l->live->live, 1);
    atomic_fetch_add(&l->live->refs, 1);
    ch->live = l->live;
    *out = ch;
    return 0;
}

int ik_listener_url(const ik_listener *l, char *buf, size_t cap)
{
    if (l == NULL || buf == NULL)
        return IK_EINVAL;
    int n = snprintf(buf, cap, "%s", l->bound);
    if (n < 0 || (size_t)n >= cap)
        return IK_ENAMETOOLONG;
    return 0;
}

int ik_listener_pollfd(const ik_listener *l)
{
    if (l == NULL)
        return IK_EINVAL;
    int fd = l->pollfd >= 0 ? l->pollfd : l->fd;
    return fd >= 0 ? fd : IK_ENOTSUP;
}

static void live_put(struct ik__lst_count *c)
{
    if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
        free(c);
}

void ik_listener_close(ik_listener *l)
{
    if (l == NULL)
        return;
    l->tp->lst_close(l);
    live_put(l->live);
    free(l);
}

int ik_dial(ik_chan **out, const char *url, const ik_chan_opts *opts)
{
    if (out == NULL)
        return IK_EINVAL;
    *out = NULL;
    ik__set_last_detail("");
    struct ik__url u;
    struct ik_chan_opts o;
    int rc = ik__url_parse(&u, url);
    if (rc == 0)
        rc = resolve_opts(&o, opts, &u);
    if (rc != 0)
        return rc;
    const struct ik__transport *tp = find_tp(u.scheme);
    if (tp == NULL || tp->dial == NULL)
        return IK_ENOTSUP;
    rc = check_mode(tp, &o);
    if (rc != 0)
        return rc;
    ik_chan *ch;
    rc = chan_new(&ch, tp, &o);
    if (rc != 0)
        return rc;
    rc = tp->dial(&ch->io, &u, &o, ik__deadline(o.timeout_ms));
    if (rc != 0) {
        ik__set_last_detail(ch->io.detail);
        chan_free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

/* A pair has no address, peer policy or handshake: its query may only set
 * max_msg, raw and fds (the values are checked by ik_chan_opts_parse). */
static bool pair_query_ok(const char *q)
{
    static const char *const keys[] = {"max_msg", "raw", "fds"};
    while (*q != '\0') {
        size_t k = strcspn(q, "=&");
        bool known = false;
        for (size_t i = 0; i < IK__ARRAY_LEN(keys); i++)
            known |= strlen(keys[i]) == k && memcmp(q, keys[i], k) == 0;
        if (!known)
            return false;
        q += strcspn(q, "&");
        if (*q == '&')
            q++;
    }
    return true;
}

int ik_chan_pair(ik_chan **a, ik_chan **b, const char *kind)
{
    if (a == NULL || b == NULL || kind == NULL)
        return IK_EINVAL;
    *a = *b = NULL;
    /* kind[?query]: "unix?fds=1" */
    char name[32];
    size_t n = strcspn(kind, "?");
    if (n >= sizeof(name))
        return IK_ENOTSUP;
    memcpy(name, kind, n);
    name[n] = '\0';
    const struct ik__transport *tp = find_tp(name);
    if (tp == NULL || tp->pair == NULL)
        return IK_ENOTSUP;
    struct ik_chan_opts o;
    ik__opts_default(&o);
    if (kind[n] == '?' && !pair_query_ok(kind + n + 1))
        return IK_EINVAL;
    int rc = kind[n] == '?' ? ik_chan_opts_parse(&o, kind + n + 1) : 0;
    if (rc == 0)
        rc = check_mode(tp, &o);
    if (rc != 0)
        return rc;
    ik_chan *x, *y;
    rc = chan_new(&x, tp, &o);
    if (rc != 0)
        return rc;
    rc = chan_new(&y, tp, &o);
    if (rc != 0) {
        chan_free(x);
        return rc;
    }
    rc = tp->pair(&x->io, &y->io, &o);
    if (rc != 0) {
        chan_free(x);
        chan_free(y);
        return rc;
    }
    *a = x;
    *b = y;
    return 0;
}

int ik_chan_fd(const ik_chan *ch, int *rfd, int *wfd)
{
    if (ch == NULL || ch->io.rfd < 0)
        return IK_EINVAL;
    if (ch->io.lower != NULL)
        return IK_ENOTSUP; /* layered state (TLS) cannot be inherited */
    if (rfd)
        *rfd = ch->io.rfd;
    if (wfd)
        *wfd = ch->io.wfd;
    return 0;
}

int ik_chan_from_fd(ik_chan **out, const char *kind, int rfd, int wfd, const ik_chan_opts *opts)
{
    if (out == NULL || kind == NULL || rfd < 0 || wfd < 0)
        return IK_EINVAL;
    *out = NULL;
    const struct ik__transport *tp = find_tp(kind);
    if (tp == NULL || tp->adopt == NULL)
        return IK_ENOTSUP;
    struct ik_chan_opts o;
    int rc = resolve_opts(&o, opts, NULL);
    if (rc == 0)
        rc = check_mode(tp, &o);
    if (rc != 0)
        return rc;
    ik_chan *ch;
    rc = chan_new(&ch, tp, &o);
    if (rc != 0)
        return rc;
    rc = tp->adopt(&ch->io, rfd, wfd);
    if (rc == 0 && o.fds && ch->io.fds_refused) {
        ik__set_last_detail("fds=1: this socket refuses fds (its creator did not use fds=1)");
        rc = IK_EINVAL; /* the fds stay the caller's */
    }
    if (rc != 0) {
        chan_free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

void ik_chan_close(ik_chan *ch)
{
    if (ch == NULL)
        return;
    if (ch->io.ops != NULL)
        ch->io.ops->close(&ch->io);
    for (int i = 0; i < ch->msg_nfds; i++)
        close(ch->msg_fds[i]);
    if (ch->live != NULL) {
        atomic_fetch_sub(&ch->live->live, 1);
        live_put(ch->live);
    }
    chan_free(ch);
}

/* ---- failure handling --------------------------------------------------- */

/* The stream is unusable from here on: release the transport now (the peer
 * sees EOF) and make every later call return IK_ECLOSED. */
static int chan_break(ik_chan *ch, int err, const char *why)
{
    if (why != NULL)
        snprintf(ch->detail, sizeof(ch->detail), "%s", why);
    else if (ch->io.detail[0] != '\0')
        snprintf(ch->detail, sizeof(ch->detail), "%s", ch->io.detail);
    if (ch->io.ops != NULL) {
        ch->io.ops->close(&ch->io);
        ch->io.ops = NULL;
    }
    ch->broken = IK_ECLOSED;
    return err;
}

static int wait_io(ik_chan *ch, uint64_t deadline)
{
    if (ch->io.ops->wait != NULL)
        return ch->io.ops->wait(&ch->io, deadline);
    int fd = ch->io.want == POLLOUT ? ch->io.wfd : ch->io.rfd;
    return ik__wait_fd(fd, ch->io.want, deadline);
}

/* ---- send --------------------------------------------------------------- */

/* Write all of cur[0..cnt) (left bytes: one frame, or raw bytes), fds on
 * the first byte. Handles partial writes, packet_max, waits and errors. */
static int send_loop(ik_chan *ch, struct iovec *cur, int cnt, uint64_t left, const int *fds,
                     int nfds, int timeout_ms)
{
    uint64_t deadline = ik__deadline(timeout_ms);
    uint64_t sent = 0;
    int first = 1;
    for (;;) {
        /* Packet transports: at most packet_max bytes per write. */
        struct iovec lim[IK__IOV_MAX + 1];
        struct iovec *wv = cur;
        int wn = cnt;
        if (ch->packet_max > 0 && left > ch->packet_max) {
            size_t budget = ch->packet_max;
            wn = 0;
            for (int i = 0; i < cnt && budget > 0; i++) {
                size_t take = cur[i].iov_len < budget ? cur[i].iov_len : budget;
                lim[wn++] = (struct iovec){cur[i].iov_base, take};
                budget -= take;
            }
            wv = lim;
        }
        ssize_t r = ch->io.ops->writev(&ch->io, wv, wn, first ? fds : NULL, first ? nfds : 0,
                                       deadline == UINT64_MAX);
        if (r >= 0) {
            if (ch->dgram) {
                if ((uint64_t)r != left)
                    return chan_break(ch, IK_EIO, "short datagram write");
                return 0;
            }
            if (r > 0)
                first = 0;
            sent += (uint64_t)r;
            left -= (uint64_t)r;
            if (left == 0)
                return 0;
            size_t adv = (size_t)r;
            while (adv > 0 && adv >= cur->iov_len) {
                adv -= cur->iov_len;
                cur++;
                cnt--;
            }
            if (adv > 0) {
                cur->iov_base = (uint8_t *)cur->iov_base + adv;
                cur->iov_len -= adv;
            }
            continue;
        }
        if (r == IK_EAGAIN) {
            int w = wait_io(ch, deadline);
            if (w == 0)
                continue;
            if (w == IK_EPEERDEAD)
                return chan_break(ch, w, NULL);
            if (sent == 0 &&
                (ch->io.ops->write_committed == NULL || !ch->io.ops->write_committed(&ch->io)))
                return w;
            return chan_break(ch, w, "send timed out mid-message; channel closed");
        }
        if (r == IK_EMSGSIZE && ch->dgram)
            return IK_EMSGSIZE; /* the kernel refused the datagram; nothing sent */
        if (r == IK_EPERM && nfds > 0 && sent == 0)
            return IK_EPERM; /* the peer refuses fds; nothing sent */
        return chan_break(ch, (int)r, NULL);
    }
}

static int send_iov(ik_chan *ch, const struct iovec *uiov, int n, const int *fds, int nfds,
                    int timeout_ms)
{
    if (ch == NULL || n < 0 || n > IK__IOV_MAX || (n > 0 && uiov == NULL) || timeout_ms < -1)
        return IK_EINVAL;
    if (nfds < 0 || nfds > IK_FD_MAX || (nfds > 0 && fds == NULL))
        return IK_EINVAL;
    if (nfds > 0 && !(ch->tp->flags & IK__TF_FDS))
        return IK_ENOTSUP;
    if (ch->broken)
        return ch->broken;
    ch->io.detail[0] = '\0'; /* the detail describes this call's error only */
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (uiov[i].iov_len > 0 && uiov[i].iov_base == NULL)
            return IK_EINVAL;
        if (uiov[i].iov_len > ch->max_msg)
            return IK_EMSGSIZE; /* also keeps the sum below from overflowing */
        total += uiov[i].iov_len;
    }
    if (total > ch->max_msg)
        return IK_EMSGSIZE;
    struct iovec iov[IK__IOV_MAX + 1];
    uint8_t hdr[IK_FRAME_HDR_SIZE];
    int cnt = 0;
    if (!ch->raw && !ch->dgram) {
        ik__frame_encode(hdr, total, (unsigned)nfds);
        iov[cnt++] = (struct iovec){hdr, sizeof(hdr)};
    } else if (nfds > 0 && total == 0) {
        return IK_EINVAL; /* fds need at least one byte to ride on */
    }
    for (int i = 0; i < n; i++)
        if (uiov[i].iov_len > 0)
            iov[cnt++] = uiov[i];
    uint64_t left = total + (cnt > 0 && iov[0].iov_base == hdr ? sizeof(hdr) : 0);
    if (cnt > 1 && left <= IK__TX_COALESCE &&
        (ch->tx != NULL || (ch->tx = malloc(IK__TX_COALESCE)) != NULL)) {
        size_t off = 0;
        for (int i = 0; i < cnt; i++) {
            memcpy(ch->tx + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        iov[0] = (struct iovec){ch->tx, off};
        cnt = 1;
    }
    if (ch->raw && left == 0)
        return 0;
    return send_loop(ch, iov, cnt, left, fds, nfds, timeout_ms);
}

int ik_send(ik_chan *ch, const void *buf, size_t len, int timeout_ms)
{
    /* Common case first: a small framed message, built in the coalescing
     * buffer (same bytes and checks as send_iov, fewer steps). */
    if (ch != NULL && ch->tx != NULL && !ch->broken && !ch->raw && !ch->dgram &&
        len <= IK__TX_COALESCE - IK_FRAME_HDR_SIZE && len <= ch->max_msg &&
        (buf != NULL || len == 0) && timeout_ms >= -1) {
        ch->io.detail[0] = '\0';
        ik__frame_encode(ch->tx, len, 0);
        if (len > 0)
            memcpy(ch->tx + IK_FRAME_HDR_SIZE, buf, len);
        struct iovec v = {ch->tx, IK_FRAME_HDR_SIZE + len};
        return send_loop(ch, &v, 1, IK_FRAME_HDR_SIZE + len, NULL, 0, timeout_ms);
    }
    struct iovec v = {(void *)buf, len};
    return send_iov(ch, &v, 1, NULL, 0, timeout_ms);
}

int ik_sendv(ik_chan *ch, const struct iovec *iov, int n, int timeout_ms)
{
    return send_iov(ch, iov, n, NULL, 0, timeout_ms);
}

int ik_send_fds(ik_chan *ch, const void *buf, size_t len, const int *fds, int nfds, int timeout_ms)
{
    if (nfds < 1)
        return IK_EINVAL;
    struct iovec v = {(void *)buf, len};
    return send_iov(ch, &v, 1, fds, nfds, timeout_ms);
}

/* ---- receive ------------------------------------------------------------ */

/* Read more bytes into the receive buffer (compacting it first). */
static int rx_fill(ik_chan *ch, uint64_t deadline)
{
    if (ch->rxoff > 0) {
        if (ch->rxlen > 0)
            memmove(ch->rx, ch->rx + ch->rxoff, ch->rxlen);
        ch->rxoff = 0;
    }
    for (;;) {
        ssize_t r = ch->io.ops->read(&ch->io, ch->rx + ch->rxlen, IK__RXBUF - ch->rxlen,
                                     deadline == UINT64_MAX);
        if (r > 0) {
            ch->rxlen += (size_t)r;
            return 0;
        }
        if (r == 0)
            return IK_ECLOSED;
        if (r != IK_EAGAIN)
            return (int)r;
        int w = wait_io(ch, deadline);
        if (w != 0)
            return w;
    }
}

/* Direct read into dst (n bytes at most). */
static ssize_t rx_direct(ik_chan *ch, void *dst, size_t n, uint64_t deadline)
{
    for (;;) {
        ssize_t r = ch->io.ops->read(&ch->io, dst, n, deadline == UINT64_MAX);
        if (r > 0)
            return r;
        if (r == 0)
            return IK_ECLOSED;
        if (r != IK_EAGAIN)
            return r;
        int w = wait_io(ch, deadline);
        if (w != 0)
            return w;
    }
}

static int rx_error(ik_chan *ch, int rc, int mid)
{
    if (rc == IK_ETIMEDOUT)
        return rc;
    if (rc == IK_ECLOSED && mid)
        return chan_break(ch, IK_ECLOSED, "truncated frame: peer closed mid-message");
    return chan_break(ch, rc, NULL);
}

/* Decode the next header into ch (have_hdr). */
static int rx_header(ik_chan *ch, uint64_t deadline)
{
    while (!ch->have_hdr) {
        if (ch->rxlen >= IK_FRAME_HDR_SIZE) {
            unsigned nfds = 0;
            int rc =
                ik_frame_decode(ch->rx + ch->rxoff, ch->rxlen, ch->max_msg, &ch->msg_len, &nfds);
            if (rc == IK_EMSGSIZE)
                return chan_break(ch, rc, "incoming message larger than max_msg");
            if (rc != 0)
                return chan_break(ch, IK_EPROTO, "bad frame header (magic/version/fds)");
            if (ch->io.fds_drop)
                nfds = 0; /* closed as they arrived: this end did not ask for fds */
            else if ((int)nfds > ch->io.nfdq)
                return chan_break(ch, IK_EPROTO, "frame announces fds that did not arrive");
            if (nfds > 0) {
                memcpy(ch->msg_fds, ch->io.fdq, sizeof(int) * nfds);
                memmove(ch->io.fdq, ch->io.fdq + nfds,
                        sizeof(int) * (size_t)(ch->io.nfdq - (int)nfds));
                ch->io.nfdq -= (int)nfds;
            }
            ch->msg_nfds = (int)nfds;
            ch->rxoff += IK_FRAME_HDR_SIZE;
            ch->rxlen -= IK_FRAME_HDR_SIZE;
            ch->have_hdr = 1;
            ch->part_got = 0;
            break;
        }
        int rc = rx_fill(ch, deadline);
        if (rc != 0)
            return rx_error(ch, rc, ch->rxlen > 0);
    }
    return 0;
}

/* Receive the payload of the current frame into dst (msg_len bytes). */
static int rx_payload(ik_chan *ch, uint8_t *dst, uint64_t deadline)
{
    uint64_t got = 0;
    if (ch->part != NULL) {
        memcpy(dst, ch->part, ch->part_got);
        got = ch->part_got;
        free(ch->part);
        ch->part = NULL;
        ch->part_got = 0;
    }
    while (got < ch->msg_len) {
        uint64_t need = ch->msg_len - got;
        if (ch->rxlen > 0) {
            size_t take = ch->rxlen < need ? ch->rxlen : (size_t)need;
            memcpy(dst + got, ch->rx + ch->rxoff, take);
            ch->rxoff += take;
            ch->rxlen -= take;
            got += take;
            continue;
        }
        int rc;
        if (need >= IK__RXBUF / 2) {
            size_t ask = need > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)need;
            ssize_t r = rx_direct(ch, dst + got, ask, deadline);
            if (r > 0) {
                got += (uint64_t)r;
                continue;
            }
            rc = (int)r;
        } else {
            rc = rx_fill(ch, deadline);
            if (rc == 0)
                continue;
        }
        if (rc == IK_ETIMEDOUT) {
            /* Keep what arrived; the next call resumes (nothing is lost). */
            if (got == 0)
                return rc;
            ch->part = malloc(ch->msg_len);
            if (ch->part == NULL)
                return chan_break(ch, IK_ENOMEM, "out of memory saving a partial message");
            memcpy(ch->part, dst, got);
            ch->part_got = got;
            return rc;
        }
        return rx_error(ch, rc, 1);
    }
    ch->have_hdr = 0;
    return 0;
}

static void hand_fds(ik_chan *ch, int *fds, int fdcap, int *nfds)
{
    int k = 0;
    for (int i = 0; i < ch->msg_nfds; i++) {
        if (fds != NULL && k < fdcap)
            fds[k++] = ch->msg_fds[i];
        else
            close(ch->msg_fds[i]);
    }
    ch->msg_nfds = 0;
    if (nfds != NULL)
        *nfds = k;
}

/* Datagram mode: one datagram = one message. */
static int rx_dgram(ik_chan *ch, void *buf, size_t cap, void **abuf, size_t *len, uint64_t deadline)
{
    for (;;) {
        ssize_t r;
        if (abuf == NULL && cap >= ch->max_msg) {
            r = ch->io.ops->read(&ch->io, buf, cap, deadline == UINT64_MAX);
            if (r >= 0) {
                if ((uint64_t)r > ch->max_msg)
                    return chan_break(ch, IK_EMSGSIZE, "datagram larger than max_msg");
                *len = (size_t)r;
                return 0;
            }
        } else {
            r = ch->io.ops->peek_len(&ch->io);
            if (r >= 0) {
                if ((uint64_t)r > ch->max_msg)
                    return chan_break(ch, IK_EMSGSIZE, "datagram larger than max_msg");
                if (abuf != NULL) {
                    buf = malloc(r > 0 ? (size_t)r : 1);
                    if (buf == NULL)
                        return IK_ENOMEM;
                    cap = (size_t)r;
                } else if ((size_t)r > cap) {
                    *len = (size_t)r;
                    return IK_ERANGE;
                }
                ssize_t r2 = ch->io.ops->read(&ch->io, buf, cap, 0);
                if (r2 < 0 || r2 != r) {
                    if (abuf != NULL)
                        free(buf);
                    return chan_break(ch, r2 < 0 ? (int)r2 : IK_EIO, NULL);
                }
                if (abuf != NULL)
                    *abuf = buf;
                *len = (size_t)r;
                return 0;
            }
        }
        if (r != IK_EAGAIN)
            return chan_break(ch, (int)r, NULL);
        int w = wait_io(ch, deadline);
        if (w == IK_EPEERDEAD)
            return chan_break(ch, w, NULL);
        if (w != 0)
            return w;
    }
}

static int recv_common(ik_chan *ch, void *buf, size_t cap, void **abuf, size_t *len, int *fds,
                       int fdcap, int *nfds, int timeout_ms)
{
    if (ch == NULL || len == NULL || timeout_ms < -1 || (abuf == NULL && buf == NULL && cap > 0))
        return IK_EINVAL;
    if (nfds != NULL)
        *nfds = 0;
    if (ch->broken)
        return ch->broken;
    ch->io.detail[0] = '\0';
    uint64_t deadline = ik__deadline(timeout_ms);
    if (ch->dgram)
        return rx_dgram(ch, buf, cap, abuf, len, deadline);
    if (ch->raw) {
        size_t want = abuf != NULL ? 65536 : cap;
        if (want == 0)
            return IK_EINVAL;
        uint8_t *dst = abuf != NULL ? malloc(want) : buf;
        if (dst == NULL)
            return IK_ENOMEM;
        ssize_t r;
        if (ch->rxlen > 0) {
            r = (ssize_t)(ch->rxlen < want ? ch->rxlen : want);
            memcpy(dst, ch->rx + ch->rxoff, (size_t)r);
            ch->rxoff += (size_t)r;
            ch->rxlen -= (size_t)r;
        } else {
            r = rx_direct(ch, dst, want, deadline);
        }
        if (r < 0) {
            if (abuf != NULL)
                free(dst);
            return r == IK_ETIMEDOUT ? IK_ETIMEDOUT : chan_break(ch, (int)r, NULL);
        }
        if (abuf != NULL)
            *abuf = dst;
        *len = (size_t)r;
        return 0;
    }
    int rc = rx_header(ch, deadline);
    if (rc != 0)
        return rc;
    uint8_t *dst;
    if (abuf != NULL) {
        /* msg_len <= max_msg was checked by the decoder before this. */
        dst = malloc(ch->msg_len > 0 ? (size_t)ch->msg_len : 1);
        if (dst == NULL)
            return IK_ENOMEM;
    } else {
        if (ch->msg_len > cap) {
            *len = (size_t)ch->msg_len;
            return IK_ERANGE; /* stays queued */
        }
        dst = buf;
    }
    rc = rx_payload(ch, dst, deadline);
    if (rc != 0) {
        if (abuf != NULL)
            free(dst);
        return rc;
    }
    *len = (size_t)ch->msg_len;
    if (abuf != NULL)
        *abuf = dst;
    hand_fds(ch, fds, fdcap, nfds);
    return 0;
}

int ik_recv(ik_chan *ch, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    return recv_common(ch, buf, cap, NULL, len, NULL, 0, NULL, timeout_ms);
}

int ik_recv_alloc(ik_chan *ch, void **buf, size_t *len, int timeout_ms)
{
    if (buf == NULL)
        return IK_EINVAL;
    *buf = NULL;
    return recv_common(ch, NULL, 0, buf, len, NULL, 0, NULL, timeout_ms);
}

int ik_recv_fds(ik_chan *ch, void *buf, size_t cap, size_t *len, int *fds, int fdcap, int *nfds,
                int timeout_ms)
{
    if (fdcap < 0 || (fdcap > 0 && fds == NULL) || nfds == NULL)
        return IK_EINVAL;
    if (ch != NULL && !(ch->tp->flags & IK__TF_FDS))
        return IK_ENOTSUP;
    return recv_common(ch, buf, cap, NULL, len, fds, fdcap, nfds, timeout_ms);
}

/* ---- introspection ------------------------------------------------------ */

int ik_chan_pollfd(const ik_chan *ch)
{
    if (ch == NULL || ch->io.ops == NULL)
        return IK_EINVAL;
    return ch->io.rfd;
}

int ik_chan_pending(const ik_chan *ch)
{
    if (ch == NULL || ch->io.ops == NULL)
        return 0;
    /* Only a whole message (or an error to report) counts: a partial one
     * would make "while pending: ik_recv(…, 0)" spin instead of polling. */
    if (ch->raw) {
        if (ch->rxlen > 0)
            return 1;
    } else if (ch->have_hdr) {
        if (ch->part_got + ch->rxlen >= ch->msg_len)
            return 1;
    } else if (ch->rxlen >= IK_FRAME_HDR_SIZE) {
        uint64_t len;
        if (ik_frame_decode(ch->rx + ch->rxoff, ch->rxlen, ch->max_msg, &len, NULL) != 0)
            return 1; /* ik_recv reports it at once */
        if (ch->rxlen - IK_FRAME_HDR_SIZE >= len)
            return 1;
    }
    /* TLS: decoded bytes still inside the layer; ik_recv moves them. */
    return ch->io.ops->pending != NULL && ch->io.ops->pending(&ch->io) > 0;
}

int ik_chan_peer(const ik_chan *ch, uid_t *uid, gid_t *gid, pid_t *pid)
{
    if (ch == NULL)
        return IK_EINVAL;
    if (ch->io.ops == NULL)
        return IK_ECLOSED;
    if (ch->io.ops->peer == NULL)
        return IK_ENOTSUP;
    return ch->io.ops->peer(&ch->io, uid, gid, pid);
}

int ik_chan_peer_subject(const ik_chan *ch, char *buf, size_t cap)
{
    if (ch == NULL || buf == NULL || cap == 0)
        return IK_EINVAL;
    if (ch->io.ops == NULL)
        return IK_ECLOSED;
    if (ch->io.ops->subject == NULL)
        return IK_ENOTSUP;
    return ch->io.ops->subject(&ch->io, buf, cap);
}

const char *ik_chan_errdetail(const ik_chan *ch)
{
    if (ch == NULL)
        return "";
    if (ch->detail[0] != '\0')
        return ch->detail;
    return ch->io.detail;
}

uint64_t ik_chan_max_msg(const ik_chan *ch)
{
    return ch ? ch->max_msg : 0;
}
