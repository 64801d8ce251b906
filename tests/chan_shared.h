/* Helpers shared by the channel tests (test_chan.c, test_chan_security.c).
 * Include after helpers.h (which has no include guard). */
#ifndef IKT_CHAN_SHARED_H
#define IKT_CHAN_SHARED_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

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

#endif
