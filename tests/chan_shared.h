/* Helpers shared by the channel tests (test_chan.c, test_chan_security.c).
 * Include after helpers.h (which has no include guard). */
#ifndef IKT_CHAN_SHARED_H
#define IKT_CHAN_SHARED_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Child side of ikt_spawn_ready: listen on url, then write 'L' (or 'E' on
 * failure) to the ready fd given as a decimal string. 0 or -1. */
static inline int ikt_listen_ready(ik_listener **l, const char *url, const char *readyfd)
{
    int rc = ik_listen(l, url, NULL);
    char c = rc == 0 ? 'L' : 'E';
    return write(atoi(readyfd), &c, 1) == 1 && rc == 0 ? 0 : -1;
}

/* Listen on url, dial it and accept (5 s): *l, client *c, server *s. */
static inline void ikt_connect(const char *url, ik_listener **l, ik_chan **c, ik_chan **s)
{
    assert_ok(ik_listen(l, url, NULL));
    assert_ok(ik_dial(c, url, NULL));
    assert_ok(ik_accept(*l, s, 5000));
}

/* Send msg (len bytes, its first 4 bytes overwritten with the message
 * index) on c with timeout 0 until a send fails, at most max tries (an
 * assertion). Returns how many sends succeeded; *rc gets the failing one. */
static inline uint32_t ikt_fill_until_blocked(ik_chan *c, uint8_t *msg, size_t len, uint32_t max,
                                              int *rc)
{
    uint32_t k = 0;
    for (;; k++) {
        assert_true(k < max);
        memcpy(msg, &k, 4);
        *rc = ik_send(c, msg, len, 0);
        if (*rc != 0)
            return k;
    }
}

/* Thread that receives on s (into a cap-byte buffer, wait 10 s each) until
 * a receive fails (kept in rc), counting messages in n and setting bad for
 * one that is not len bytes, does not carry index n in its first 4 bytes,
 * or (last >= 0) does not end with the byte last. */
struct ikt_seq_reader {
    ik_chan *s;
    size_t cap, len;
    int last;
    unsigned n;
    int bad, rc;
    pthread_t th;
};

static inline void *ikt_seq_reader_main(void *p)
{
    struct ikt_seq_reader *r = p;
    for (;;) {
        uint8_t buf[2048];
        size_t len;
        r->rc = ik_recv(r->s, buf, r->cap, &len, 10000);
        if (r->rc != 0)
            return NULL;
        uint32_t idx;
        memcpy(&idx, buf, 4);
        if (len != r->len || idx != r->n || (r->last >= 0 && buf[len - 1] != r->last))
            r->bad = 1;
        r->n++;
    }
}

static inline void ikt_seq_reader_start(struct ikt_seq_reader *r)
{
    assert_true(r->cap <= 2048);
    pthread_create(&r->th, NULL, ikt_seq_reader_main, r);
}

/* Send on a raw socket fd one frame of payload "x" announcing nfds fds,
 * with k (0..4) fresh /dev/null fds attached as SCM_RIGHTS (closed again
 * here). sendmsg's result; errno is kept. */
static inline ssize_t ikt_send_frame_fds(int fd, unsigned nfds, int k)
{
    uint8_t f[13] = {'I', 'K', 1, (uint8_t)nfds, 1, 0, 0, 0, 0, 0, 0, 0, 'x'};
    int fds[4];
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec v = {f, sizeof(f)};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    if (k > 0) {
        for (int i = 0; i < k; i++)
            fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)k);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)k);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)k);
    }
    ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
    int e = errno;
    for (int i = 0; i < k; i++)
        close(fds[i]);
    errno = e;
    return r;
}

#endif
