/* Peer libraries for bench_peers that need their own language: C entry
 * points into peer_boost.cpp (Boost.Interprocess message_queue). */
#ifndef IK_BENCH_PEERS_H
#define IK_BENCH_PEERS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Create the two queues "<name>.a2b" / "<name>.b2a" (server side). */
void *ikb_boost_bind(const char *name, size_t max_msg);
/* Open them from the client side. */
void *ikb_boost_dial(const char *name);
/* timeout_ms < 0: wait forever; a timeout is an error (-1). */
int ikb_boost_send(void *c, const void *p, size_t n, int timeout_ms);
/* Bytes received, -1 on error or timeout. */
long ikb_boost_recv(void *c, void *p, size_t cap, int timeout_ms);
/* Remove the queues of name (whoever made them). */
void ikb_boost_remove(const char *name);
/* Close; the server side also removes the queues. */
void ikb_boost_close(void *c);
/* BOOST_LIB_VERSION, e.g. "1_74". */
const char *ikb_boost_version(void);

#ifdef __cplusplus
}
#endif

#endif
