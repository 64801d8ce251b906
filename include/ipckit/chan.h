/* ipckit: message channels chosen by URL (pipes, FIFOs, Unix sockets, TCP, TLS). */
#ifndef IPCKIT_CHAN_H
#define IPCKIT_CHAN_H

#include "common.h"

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A channel carries whole messages, in order, between two endpoints. The
 * transport is chosen by URL:
 *   pipe:                  anonymous duplex pipe pair (ik_chan_pair only)
 *   fifo://NAME            two FIFOs in the private runtime directory
 *   unix://NAME            Unix stream socket in the runtime directory
 *   unix:///abs/path       Unix stream socket at an absolute path
 *   unix+seq://NAME        SOCK_SEQPACKET
 *   unix+dgram://NAME      SOCK_DGRAM (one datagram per message, one peer)
 *   unix+abstract://NAME   Unix stream socket in the abstract namespace
 *   tcp://host:port        TCP, IPv4 or IPv6 ("[::1]:port"); UNAUTHENTICATED
 *   tls://host:port        TLS 1.3 (1.2 if configured) over TCP
 * Query options: max_msg, timeout (ms, dial/handshake), raw=1, fds=1, ca, cert,
 * key, verify=0|1, tls12=1, backlog, max_conns, hs_timeout, allow_uid,
 * allow_gid.
 *
 * Message semantics, identical on every transport: a message arrives whole or
 * not at all, in order, 0..max_msg bytes (default 16 MiB, up to 4 GiB). An
 * incoming length above max_msg gives IK_EMSGSIZE before any allocation and
 * closes the channel. A peer that goes away gives IK_ECLOSED; SIGPIPE is
 * never raised. EINTR and partial I/O are handled inside. A send that times
 * out after part of a message left also closes the channel (the receiver
 * never sees a partial message). Wire format: docs/wire.md.
 *
 * Thread-safety: a channel or listener is used by one thread at a time
 * (different channels are independent). Share one across threads with a lock.
 */
typedef struct ik_chan ik_chan;
typedef struct ik_listener ik_listener;
typedef struct ik_chan_opts ik_chan_opts;

#define IK_CHAN_MAX_MSG_DEFAULT ((uint64_t)16 << 20)
#define IK_CHAN_MAX_MSG_LIMIT   ((uint64_t)4 << 30)

/* ---- options ------------------------------------------------------------ */

/* Allocate options with defaults. *out owns them; free with
 * ik_chan_opts_free. Errors: IK_EINVAL, IK_ENOMEM. Thread-safe. */
IK_EXPORT IK_NODISCARD int ik_chan_opts_new(ik_chan_opts **out);
/* Free options (NULL is fine). The options are copied by ik_listen/ik_dial,
 * so they may be freed right after. */
IK_EXPORT void ik_chan_opts_free(ik_chan_opts *o);
/* Largest message accepted, 0..IK_CHAN_MAX_MSG_LIMIT. IK_EINVAL above. */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_max_msg(ik_chan_opts *o, uint64_t bytes);
/* Timeout for dial/connect and the TLS handshake, ms (-1: forever). */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_timeout(ik_chan_opts *o, int ms);
/* Raw byte stream without framing (stream transports only). */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_raw(ik_chan_opts *o, int on);
/* Unix stream/seqpacket: 1 lets this end receive fds (ik_recv_fds). Default
 * 0: the kernel refuses fds sent to it (Linux 6.16+ SO_PASSRIGHTS; the
 * sender's ik_send_fds gets IK_EPERM), so no peer can push fds into this
 * process, and receiving is one recv(2); before 6.16 such an end closes fds
 * as they arrive. A listener passes it on to the channels it accepts. Not
 * for ik_chan_from_fd: an adopted socket keeps its creator's setting (fds=1
 * on one that refuses fds is IK_EINVAL). Other transports: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_fds(ik_chan_opts *o, int on);
/* TLS files (PEM). ca: trust anchors (client: verify server; server: require
 * and verify client certificates = mutual TLS). cert/key: own identity. */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_tls_files(ik_chan_opts *o, const char *ca,
                                                      const char *cert, const char *key);
/* verify=0 turns certificate verification OFF (loud: a warning is logged
 * once per channel). Default 1. */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_verify(ik_chan_opts *o, int on);
/* Allow TLS 1.2 as minimum (default: TLS 1.3 only). */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_tls12(ik_chan_opts *o, int on);
/* Listener limits: live connections (default 256) and handshake timeout ms
 * (default 10000). */
IK_EXPORT IK_NODISCARD int ik_chan_opts_set_limits(ik_chan_opts *o, int max_conns,
                                                   int handshake_ms);
/* Unix peer policy, checked by ik_accept on clients and by ik_dial on the
 * server (stream/seqpacket; a root server is also accepted there): default
 * same effective uid only. Each call adds a uid (or gid) that is also
 * accepted. At most 16 of each; (uid_t)-1 / (gid_t)-1 are IK_EINVAL (they
 * stand for a peer without credentials). */
IK_EXPORT IK_NODISCARD int ik_chan_opts_allow_uid(ik_chan_opts *o, uid_t uid);
IK_EXPORT IK_NODISCARD int ik_chan_opts_allow_gid(ik_chan_opts *o, gid_t gid);
/* Apply a query string "k=v&k=v" (without '?'). Unknown keys: IK_EINVAL. */
IK_EXPORT IK_NODISCARD int ik_chan_opts_parse(ik_chan_opts *o, const char *query);

/* ---- endpoints ---------------------------------------------------------- */

/*
 * Listen on url. Options come from opts (may be NULL) and then from the URL
 * query (which wins). Unix sockets and FIFOs are created 0600; a symlink at
 * the path is refused (IK_EUNSAFE); a stale socket whose server is dead is
 * replaced, a live one gives IK_EADDRINUSE. tcp/tls port 0 picks a free port:
 * see ik_listener_url. *out owns the listener (ik_listener_close).
 * Errors: IK_EINVAL (malformed URL or options), IK_ENOTSUP (scheme), IK_EBADNAME,
 * IK_EADDRINUSE, IK_EUNSAFE, IK_EPERM_OWNER, IK_EAUTH (TLS files), IK_EBUSY
 * (unix:// in a shared directory whose lock someone holds for over 2 s),
 * IK_ENAMETOOLONG, system errors.
 */
IK_EXPORT IK_NODISCARD int ik_listen(ik_listener **out, const char *url, const ik_chan_opts *opts);

/*
 * Wait up to timeout_ms (-1 forever) for a peer. *out owns the new channel.
 * Errors: IK_ETIMEDOUT, IK_EAUTH (peer rejected by the uid policy or the TLS
 * handshake failed: the connection is closed, call again), IK_EBUSY
 * (connection limit reached: the connection was dropped; unix+dgram: the
 * listener already has its one peer; fifo: a channel it accepted is still
 * open, one client at a time), IK_ECLOSED / IK_EPROTO (fifo: the dialer
 * went away or spoke garbage mid-handshake; call again), system errors.
 */
IK_EXPORT IK_NODISCARD int ik_accept(ik_listener *lst, ik_chan **out, int timeout_ms);

/* The listener's address as a URL (the real port for tcp://...:0). Writes
 * into buf (IK_ENAMETOOLONG if cap is too small). */
IK_EXPORT IK_NODISCARD int ik_listener_url(const ik_listener *lst, char *buf, size_t cap);
/* Pollable fd (readable when a connection is waiting; then call ik_accept
 * with timeout 0, which may still give IK_ETIMEDOUT). Owned by lst. tls://:
 * an epoll fd that is also readable when a pending handshake can progress,
 * so an event loop keeps handshakes moving. IK_ENOTSUP for fifo:// (FIFOs
 * have no such event). */
IK_EXPORT int ik_listener_pollfd(const ik_listener *lst);
/* Close the listener and remove its socket/FIFO files. Live channels stay. */
IK_EXPORT void ik_listener_close(ik_listener *lst);

/*
 * Connect to url (timeout: opts/?timeout=, default 10 s). *out owns the channel.
 * Errors: IK_EINVAL, IK_ENOTSUP, IK_ECONNREFUSED/IK_ENOENT (nobody listens),
 * IK_EBUSY (fifo: the server has a client, or a channel of a gone one),
 * IK_ETIMEDOUT, IK_EAUTH (TLS: see ik_chan_errdetail; Unix stream/seqpacket:
 * the server's uid is not ours, root or on the allow-list), system errors.
 */
IK_EXPORT IK_NODISCARD int ik_dial(ik_chan **out, const char *url, const ik_chan_opts *opts);

/*
 * A connected pair for a parent and its child: kind "pipe" (two pipes, duplex)
 * or "unix" (socketpair, also carries credentials, and fds with
 * "unix?fds=1"). fds are O_CLOEXEC. Also "unix+seq" and "unix+dgram"
 * (datagrams: a receive notices the other end's death while waiting,
 * IK_EPEERDEAD). A query sets max_msg, raw or fds for both ends
 * ("unix+seq?fds=1&max_msg=1024"); other keys are IK_EINVAL.
 */
IK_EXPORT IK_NODISCARD int ik_chan_pair(ik_chan **a, ik_chan **b, const char *kind);

/*
 * The channel's fds, to hand it to a child across fork/exec: rfd is read from,
 * wfd written to (equal for sockets). They stay owned by ch and are
 * O_CLOEXEC: clear FD_CLOEXEC in the child (or before exec) to inherit them.
 * IK_ENOTSUP for tls:// (the TLS session state cannot follow the fd),
 * IK_EINVAL for a closed or broken channel.
 */
IK_EXPORT IK_NODISCARD int ik_chan_fd(const ik_chan *ch, int *rfd, int *wfd);
/*
 * Adopt inherited fds as a channel of scheme kind ("pipe", "fifo", "unix",
 * "unix+seq", "unix+dgram", "tcp"). On success ch owns the fds; on error they
 * are left open. opts may be NULL. The fds' status flags (O_NONBLOCK) are
 * never changed, since other processes may share their open file
 * descriptions: blocking or not, timeouts work the same. Likewise a Unix
 * socket keeps its creator's fds choice (fds=1 in opts on a socket that
 * refuses fds is IK_EINVAL).
 */
IK_EXPORT IK_NODISCARD int ik_chan_from_fd(ik_chan **out, const char *kind, int rfd, int wfd,
                                           const ik_chan_opts *opts);

/* ---- messages ----------------------------------------------------------- */

/* Send one message (len <= max_msg, else IK_EMSGSIZE). Waits up to
 * timeout_ms. Errors: IK_EMSGSIZE, IK_ETIMEDOUT, IK_ECLOSED, IK_EPEERDEAD,
 * IK_EPERM (unix+dgram: the listener took another peer). */
IK_EXPORT IK_NODISCARD int ik_send(ik_chan *ch, const void *buf, size_t len, int timeout_ms);
/* Send the concatenation of iov[0..n) (n <= 64) as one message. */
IK_EXPORT IK_NODISCARD int ik_sendv(ik_chan *ch, const struct iovec *iov, int n, int timeout_ms);
/*
 * Receive one message into buf (cap bytes); *len gets its size. A message
 * larger than cap stays queued: IK_ERANGE with *len = its size. In raw mode,
 * returns whatever bytes arrived (1..cap). Errors: IK_ETIMEDOUT (nothing
 * consumed), IK_ECLOSED, IK_EMSGSIZE (incoming > max_msg: channel closed),
 * IK_EPROTO (bad frame: channel closed), IK_EPEERDEAD (unix+dgram, which has
 * no end-of-stream: the peer's socket was found gone while waiting, within
 * about 100 ms, also with timeout -1; channel closed).
 */
IK_EXPORT IK_NODISCARD int ik_recv(ik_chan *ch, void *buf, size_t cap, size_t *len, int timeout_ms);
/* Receive a message of unknown size into a malloc'd buffer (*buf, free()
 * it; never NULL on success, even for 0 bytes). Errors as ik_recv. */
IK_EXPORT IK_NODISCARD int ik_recv_alloc(ik_chan *ch, void **buf, size_t *len, int timeout_ms);

/*
 * fd passing (unix, unix+seq, unix+abstract, unix pairs): a message with
 * 1..16 fds (the caller keeps its copies). The receiving end must have been
 * opened with fds=1 (ik_chan_opts_set_fds); otherwise ik_send_fds gives
 * IK_EPERM, sends nothing, and the channel stays usable (on kernels before
 * 6.16, which cannot refuse, the message arrives and its fds are closed).
 * An fds=1 end trusts its peer to announce the fds it sends in the frame
 * (docs/wire.md): unannounced ones wait in the channel (at most 64) for
 * the next frame that announces fds, or its close.
 * ik_recv_fds stores up to fdcap received fds (O_CLOEXEC, caller closes) and
 * closes the rest; *nfds gets the number stored. Other transports:
 * IK_ENOTSUP.
 */
IK_EXPORT IK_NODISCARD int ik_send_fds(ik_chan *ch, const void *buf, size_t len, const int *fds,
                                       int nfds, int timeout_ms);
IK_EXPORT IK_NODISCARD int ik_recv_fds(ik_chan *ch, void *buf, size_t cap, size_t *len, int *fds,
                                       int fdcap, int *nfds, int timeout_ms);

/* fd to poll for POLLIN (a message or EOF may be ready). Owned by ch. Note
 * that data may already be buffered: call ik_recv with timeout 0 first. */
IK_EXPORT int ik_chan_pollfd(const ik_chan *ch);
/* 1 if a whole received message (or an error to report) is already
 * buffered inside the channel, so ik_recv(…, 0) returns without I/O; 0 if
 * only part of one is (then poll ik_chan_pollfd). TLS: also 1 while the TLS
 * layer holds decoded bytes or a whole undecoded record (the fd no longer
 * announces them); an ik_recv(…, 0) then makes progress, though it may
 * still return IK_ETIMEDOUT if the record held only part of a message. */
IK_EXPORT int ik_chan_pending(const ik_chan *ch);

/* Peer credentials (Unix stream/seqpacket sockets and pairs, SO_PEERCRED at
 * connect time). Any pointer may be NULL. IK_ENOTSUP on other transports,
 * unix+dgram included (no connection, no credentials; the policy there is
 * checked on the first datagram at ik_accept). */
IK_EXPORT IK_NODISCARD int ik_chan_peer(const ik_chan *ch, uid_t *uid, gid_t *gid, pid_t *pid);
/* TLS: the peer certificate's subject (one line), IK_ENOENT if none. */
IK_EXPORT IK_NODISCARD int ik_chan_peer_subject(const ik_chan *ch, char *buf, size_t cap);
/* Detail of the last error on ch (e.g. the OpenSSL reason), "" if none.
 * Owned by ch, valid until the next call on ch. */
IK_EXPORT const char *ik_chan_errdetail(const ik_chan *ch);
/* Detail of the last failed ik_dial/ik_listen/ik_accept in this thread. */
IK_EXPORT const char *ik_chan_last_errdetail(void);
/* The channel's max_msg. */
IK_EXPORT uint64_t ik_chan_max_msg(const ik_chan *ch);

/* Close ch and free it (NULL is fine). The peer sees IK_ECLOSED. */
IK_EXPORT void ik_chan_close(ik_chan *ch);

/* ---- frame decoder (exposed for tools and fuzzing) ---------------------- */

#define IK_FRAME_HDR_SIZE 12
/*
 * Decode a frame header from buf (n bytes). Returns 0 and sets *len and *nfds,
 * IK_EAGAIN if n < IK_FRAME_HDR_SIZE, IK_EPROTO (magic, version, flags) or
 * IK_EMSGSIZE (len > max_msg). Pure function. Thread-safe.
 */
IK_EXPORT IK_NODISCARD int ik_frame_decode(const void *buf, size_t n, uint64_t max_msg,
                                           uint64_t *len, unsigned *nfds);

#ifdef __cplusplus
}
#endif
#endif
