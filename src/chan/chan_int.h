/* Channel internals: byte/packet I/O layers, transports, URLs, options. */
#ifndef IK_CHAN_INT_H
#define IK_CHAN_INT_H

#include "../core/internal.h"
#include "ipckit/chan.h"

#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* ---- URL (url.c) -------------------------------------------------------- */

#define IK__URL_MAX 4096

struct ik__url {
    char scheme[24];
    char host[256];      /* tcp/tls: host (IPv6 without brackets) */
    char port[8];        /* tcp/tls: decimal port */
    char name[PATH_MAX]; /* fifo/unix: NAME or /abs/path (leading '/') */
    char query[1024];
};

/* Parse url into u. IK_EINVAL for anything malformed. Never reads past the
 * terminating NUL. */
int ik__url_parse(struct ik__url *u, const char *url);

/* Filesystem path of a fifo/unix URL name into out (cap bytes): a name with
 * a leading '/' as is, else "<runtime dir>/<name><suffix>" after
 * ik_name_check, where the name plus leaf_extra (the longest suffix the
 * transport appends to it) must fit IK_NAME_MAX. 0, IK_ENAMETOOLONG, or
 * the name/runtime-dir error. */
int ik__url_fs_path(const struct ik__url *u, const char *suffix, size_t leaf_extra, char *out,
                    size_t cap);

/* ---- options (opts.c) --------------------------------------------------- */

#define IK__ALLOW_MAX 16

struct ik_chan_opts {
    uint64_t max_msg;
    int timeout_ms;
    int raw;
    int fds; /* Unix: this end accepts fds (SO_PASSRIGHTS stays on) */
    int verify;
    int tls12;
    int backlog;
    int max_conns;
    int hs_timeout_ms;
    int n_uid, n_gid;
    uid_t allow_uid[IK__ALLOW_MAX];
    gid_t allow_gid[IK__ALLOW_MAX];
    char ca[PATH_MAX];
    char cert[PATH_MAX];
    char key[PATH_MAX];
};

void ik__opts_default(struct ik_chan_opts *o);

/* ---- frames (frame.c) --------------------------------------------------- */

#define IK__FRAME_MAGIC0  0x49 /* 'I' */
#define IK__FRAME_MAGIC1  0x4b /* 'K' */
#define IK__FRAME_VERSION 1
void ik__frame_encode(uint8_t hdr[IK_FRAME_HDR_SIZE], uint64_t len, unsigned nfds);

/* ---- I/O layers --------------------------------------------------------- */

#define IK__FDQ_MAX 64

struct ik__io;

/* One layer of a connection (socket, pipe pair, TLS over a lower layer).
 * A wait without deadline is a single read()/write() (wait=1) on the fd as
 * it is (an inherited O_NONBLOCK fd gives IK_EAGAIN and the channel polls);
 * with wait=0 a call never blocks (MSG_DONTWAIT, RWF_NOWAIT, or a private
 * O_NONBLOCK reopening of a pipe). Flags of fds are never changed. */
struct ik__io_ops {
    /* Read up to n bytes: count > 0, 0 at orderly EOF, IK_EAGAIN (io->want
     * says POLLIN/POLLOUT) or a negative IK_E*. Packet transports return one
     * packet and IK_EPROTO if it did not fit. Received fds go to io->fdq.
     * wait=1: block until something arrives (no deadline). */
    ssize_t (*read)(struct ik__io *io, void *buf, size_t n, int wait);
    /* Write from iov (with fds attached to the first byte if nfds > 0):
     * count >= 0, IK_EAGAIN (io->want set) or a negative IK_E*. Never
     * SIGPIPE; a gone peer is IK_ECLOSED. wait=1: may block (no deadline),
     * so a socket takes a large message in one call. */
    ssize_t (*writev)(struct ik__io *io, const struct iovec *iov, int n, const int *fds, int nfds,
                      int wait);
    /* Datagram transports: size of the next datagram without consuming it
     * (IK_EAGAIN if none). NULL elsewhere. */
    ssize_t (*peek_len)(struct ik__io *io);
    /* Bytes already decoded and buffered inside the layer (TLS), else NULL. */
    int (*pending)(const struct ik__io *io);
    /* 1 if a writev that returned IK_EAGAIN has nevertheless committed data
     * that the next writev must finish (TLS: a record already built), so a
     * timeout then cannot report "nothing sent". NULL: never. */
    int (*write_committed)(const struct ik__io *io);
    /* Wait until io->want (POLLIN/POLLOUT) is ready on the layer's fd, or
     * the deadline: 0, IK_ETIMEDOUT, or IK_EPEERDEAD for a layer without
     * end-of-stream (datagrams) that found its peer gone while waiting.
     * NULL: a plain poll (ik__wait_fd). */
    int (*wait)(struct ik__io *io, uint64_t deadline);
    /* Peer credentials; NULL if unsupported. */
    int (*peer)(const struct ik__io *io, uid_t *uid, gid_t *gid, pid_t *pid);
    /* Peer certificate subject; NULL if unsupported. */
    int (*subject)(const struct ik__io *io, char *buf, size_t cap);
    /* Release the layer and everything under it. */
    void (*close)(struct ik__io *io);
};

struct ik__io {
    const struct ik__io_ops *ops;
    int rfd, wfd; /* rfd is polled for input, wfd for output */
    short want;   /* after IK_EAGAIN: POLLIN or POLLOUT */
    void *ctx;    /* layer state */
    struct ik__io *lower;
    bool fds_refused;     /* Unix: the socket refuses fds, reads use recv(2) */
    bool fds_drop;        /* Unix: cannot refuse, did not ask: close on arrival */
    int fdq[IK__FDQ_MAX]; /* fds received, not yet handed out */
    int nfdq;
    char detail[256]; /* last error detail */
};

/* Close queued fds. */
void ik__io_fdq_clear(struct ik__io *io);
/* Queue a received fd (closed if the queue is full). */
void ik__io_fdq_push(struct ik__io *io, int fd);

/* Common fd-based layers, usable by transports (io_fd.c, io_udgram.c,
 * io_pipe.c). */
extern const struct ik__io_ops ik__io_sock_ops;   /* stream socket, MSG_NOSIGNAL */
extern const struct ik__io_ops ik__io_unix_ops;   /* Unix stream: + SCM_RIGHTS, SO_PEERCRED */
extern const struct ik__io_ops ik__io_upkt_ops;   /* Unix seqpacket: packets + fds + creds */
extern const struct ik__io_ops ik__io_udgram_ops; /* Unix datagram */
extern const struct ik__io_ops ik__io_pipe_ops;   /* read/write on pipes, SIGPIPE blocked */
void ik__io_init(struct ik__io *io, const struct ik__io_ops *ops, int rfd, int wfd);
/* Build io as a Unix datagram layer around fd (rfd == wfd). 0 or
 * IK_ENOMEM. */
int ik__udgram_io_init(struct ik__io *io, int fd);
/* Remember the peer's address for the peer check where sock_diag is
 * missing: path (a socket file, held by an O_PATH fd) or, with path NULL,
 * sa/len (a filesystem address is held the same way, an abstract one kept
 * as is). Best effort: without it the check says "alive". */
struct sockaddr_un;
void ik__udgram_watch_addr(struct ik__io *io, const struct sockaddr_un *sa, socklen_t len,
                           const char *path);
/* Tests: 1 makes datagram peer checks skip sock_diag (the fallbacks). */
void ik__udgram_test_no_diag(int on);
/* Tests: 1 makes every pipe layer use private O_NONBLOCK reopenings
 * (/proc/self/fd/N) as on kernels that refuse RWF_NOWAIT; 0 restores. */
#define IK__CHAN_TEST_HOOKS 1
void ik__pipe_test_force_reopen(int on);
/* Tests: 1 makes pipe writes ignore RWF_NOSIGNAL (the signal-mask path of
 * older kernels); 0 re-probes. */
void ik__pipe_test_no_nosignal(int on);
/* Shared by the fd layers (io_fd.c, io_udgram.c, io_pipe.c). */
int ik__io_map_errno(int e);
/* A failed transfer: "would block" records what to poll for, else maps e. */
ssize_t ik__io_fail(struct ik__io *io, int e, short want);
ssize_t ik__io_recv_retry(int fd, void *buf, size_t n, int flags);
void ik__io_fd_close(struct ik__io *io);
ssize_t ik__io_unix_send(struct ik__io *io, const struct iovec *iov, int n, const int *fds,
                         int nfds, int wait);
int ik__io_unix_peer(const struct ik__io *io, uid_t *uid, gid_t *gid, pid_t *pid);
/* SO_PASSRIGHTS (Linux 6.16) from the libc headers, else its number on the
 * architectures with asm-generic socket option numbers; elsewhere left
 * undefined (no socket refuses fds, the recvmsg path is used). */
#if defined(SO_PASSRIGHTS)
#define IK__SO_PASSRIGHTS SO_PASSRIGHTS
#elif defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) ||      \
    defined(__riscv) || defined(__loongarch__)
#define IK__SO_PASSRIGHTS 83
#endif
/* Unix sockets: unless accept_fds, make fd refuse incoming fds
 * (SO_PASSRIGHTS off; a peer's ik_send_fds then fails with IK_EPERM).
 * Older kernels cannot refuse. Call before connect/listen/use. */
void ik__unix_fds_policy(int fd, int accept_fds);
/* ik__io_init for a Unix stream/seqpacket socket. Reads the socket's
 * SO_PASSRIGHTS into io->fds_refused (so an adopted socket keeps its
 * creator's choice). want_fds 0 (this end did not opt in) on a kernel that
 * cannot refuse: received fds are closed on arrival (io->fds_drop); 1 or
 * -1 (adopted, unknown): they are queued for ik_recv_fds. */
void ik__unix_io_init(struct ik__io *io, const struct ik__io_ops *ops, int fd, int want_fds);
/* Tests: 1 makes ipckit act as on a kernel without SO_PASSRIGHTS (never set,
 * never read: every socket accepts fds); 0 restores. */
void ik__unix_test_no_passrights(int on);
/* Set or clear O_NONBLOCK (only on fds ipckit opened itself). */
int ik__fd_nonblock(int fd, int on);
/* Build io (ops) around an inherited socket: rfd == wfd, of socket type
 * `type` and (unless AF_UNSPEC) address family `family`, else IK_EINVAL;
 * its flags are left as they are (O_NONBLOCK or not). */
int ik__sock_adopt(struct ik__io *io, int rfd, int wfd, int type, int family,
                   const struct ik__io_ops *ops);

/* ---- listeners and transports ------------------------------------------ */

struct ik__lst_count; /* shared live-connection counter */

struct ik_listener {
    const struct ik__transport *tp;
    struct ik_chan_opts opts;
    struct ik__url url;
    int fd;              /* listening socket / FIFO fd */
    int pollfd;          /* for ik_listener_pollfd if >= 0 (else fd) */
    int aux;             /* transport use */
    char path[PATH_MAX]; /* filesystem object to remove at close ("" none) */
    char path2[PATH_MAX];
    char bound[PATH_MAX + 64]; /* URL with the real address */
    void *ctx;                 /* transport/layer state (TLS context) */
    struct ik__lst_count *live;
};

enum {
    IK__TF_STREAM = 1u << 0, /* byte stream: framing, raw mode allowed */
    IK__TF_DGRAM = 1u << 1,  /* one datagram per message, no header */
    IK__TF_FDS = 1u << 2,    /* can carry fds */
};

/*
 * A transport, registered under its URL scheme. The channel layer only talks
 * to these ops and to struct ik__io; it has no per-transport code.
 */
struct ik__transport {
    const char *scheme;
    unsigned flags;    /* IK__TF_* */
    size_t packet_max; /* >0: writes are split in packets of at most this size
                          and the reader always offers at least this much */
    /* Bind/listen per u and o; fill l->fd, l->path, l->bound. On error nothing
     * is left behind. */
    int (*listen)(struct ik_listener *l);
    /* Wait (deadline) and accept one connection into io (allocated by the
     * caller). Policy checks live here. */
    int (*accept)(struct ik_listener *l, struct ik__io *io, uint64_t deadline);
    /* Release transport state of l (fd, files). */
    void (*lst_close)(struct ik_listener *l);
    /* Connect io per u/o before deadline. */
    int (*dial)(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                uint64_t deadline);
    /* Build io around inherited fds (validate their type). */
    int (*adopt)(struct ik__io *io, int rfd, int wfd);
    /* Connected pair (NULL: not offered); o from the kind's query. */
    int (*pair)(struct ik__io *a, struct ik__io *b, const struct ik_chan_opts *o);
};

extern const struct ik__transport ik__tp_pipe, ik__tp_fifo, ik__tp_unix, ik__tp_unix_seq,
    ik__tp_unix_dgram, ik__tp_unix_abstract, ik__tp_tcp, ik__tp_tls;

/* Wait until fd is ready for events or the deadline passes: 0, IK_ETIMEDOUT. */
int ik__wait_fd(int fd, short events, uint64_t deadline);

/* Unix accept policy (policy.c): the listener's euid, or a uid/gid of the
 * allow-list. ik__unix_policy_check reads SO_PEERCRED of a connected socket:
 * 0 or IK_EAUTH with the peer's uid/gid/pid in detail. */
int ik__policy_allows(const struct ik_chan_opts *o, uid_t uid, gid_t gid);
int ik__unix_policy_check(int fd, const struct ik_chan_opts *o, char *detail, size_t cap);

/* TCP helpers used by the TLS layer (tcp.c). */
int ik__tcp_listen(struct ik_listener *l, const char *scheme);
int ik__tcp_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline);
void ik__tcp_lst_close(struct ik_listener *l);
int ik__tcp_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                 uint64_t deadline);

/* Thread-local detail of the last failed endpoint call. */
void ik__set_last_detail(const char *s);

#endif
