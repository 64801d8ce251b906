/*
 * Unix domain sockets: unix:// (stream), unix+seq:// (SOCK_SEQPACKET),
 * unix+dgram:// (SOCK_DGRAM, one peer per listener) and unix+abstract://
 * (stream, abstract namespace). unix://NAME lives at <rundir>/<NAME>.sock,
 * unix:///abs/path at that path. Socket files are 0600 (fchmod before bind).
 * A stale path whose server is dead is replaced; a live one is never stolen.
 */
#include "../chan_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SEQ_PACKET_MAX (64 * 1024)

struct uaddr {
    struct sockaddr_un sa;
    socklen_t len;
    int abstract;
};

static int make_addr(const struct ik__url *u, int abstract, struct uaddr *a, char *path,
                     size_t pcap)
{
    memset(a, 0, sizeof(*a));
    a->sa.sun_family = AF_UNIX;
    a->abstract = abstract;
    path[0] = '\0';
    if (abstract) {
        int rc = ik_name_check(u->name);
        if (rc != 0)
            return rc;
        size_t n = strlen(u->name);
        memcpy(a->sa.sun_path + 1, u->name, n);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
        return 0;
    }
    int rc = ik__url_fs_path(u, ".sock", sizeof(".sock") - 1, path, pcap);
    if (rc != 0)
        return rc;
    size_t n = strlen(path);
    if (n >= sizeof(a->sa.sun_path))
        return IK_ENAMETOOLONG;
    memcpy(a->sa.sun_path, path, n + 1);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* An existing path must be a socket owned by a trusted user, never a symlink. */
static int path_check(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? IK_ENOENT : ik__errno();
    if (!S_ISSOCK(st.st_mode))
        return IK_EUNSAFE;
    return ik__perm_check(&st, NULL);
}

static int map_connect_err(int e)
{
    if (e == ENOENT)
        return IK_ENOENT;
    if (e == ECONNREFUSED)
        return IK_ECONNREFUSED;
    return -e;
}

/*
 * Does /proc/net/unix list a socket of this type bound to path that serves
 * (listening, or any bound datagram socket)? 1 yes, 0 not found. Only our
 * network namespace is visible, so "not found" still needs the probe.
 */
static int proc_serves(const char *path, int type)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL)
        return 0;
    char line[PATH_MAX + 128];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        /* Num RefCount Protocol Flags Type St Inode Path */
        unsigned long flags;
        unsigned typ, st;
        int pos = 0;
        if (sscanf(line, "%*s %*s %*s %lx %x %x %*s %n", &flags, &typ, &st, &pos) < 3 || pos == 0)
            continue;
        char *p = line + pos;
        p[strcspn(p, "\n")] = '\0';
        if ((int)typ == type && strcmp(p, path) == 0 &&
            (type == SOCK_DGRAM || (flags & 0x10000) != 0)) /* __SO_ACCEPTCON */
            found = 1;
    }
    fclose(f);
    return found;
}

/* Is a server alive at a? Listed as serving in /proc/net/unix, or a probe
 * connect succeeds or finds its backlog full. /proc first: a probe
 * connection would sit in a live server's accept queue and come out of its
 * next ik_accept as a phantom client. */
static int addr_live(const struct uaddr *a, int type)
{
    if (!a->abstract && proc_serves(a->sa.sun_path, type))
        return 1;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1; /* cannot tell: assume live, never steal */
    int r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
    int e = errno;
    close(fd);
    if (r == 0)
        return 1;
    return !(e == ECONNREFUSED || e == ENOENT);
}

static void grow_buffers(int fd, const struct ik_chan_opts *o)
{
    /* Datagram size is bounded by the sender's buffer: ask for max_msg. */
    uint64_t want = o->max_msg + 4096;
    int v = want > (64u << 20) ? (64 << 20) : (int)want;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* The socket file this listener created, so closing never removes a file
 * that replaced it. */
struct sock_id {
    dev_t dev;
    ino_t ino;
};

/*
 * Serialise bind..listen and the stale check among listeners in one
 * directory (flock on the directory). Without it a listener could judge a
 * fresh server dead in the window between its bind() and listen() (connect
 * gives ECONNREFUSED there), or two listeners replacing the same stale path
 * could both unlink-and-bind, the second one stealing the first's live path.
 * Best effort: -1 if the directory cannot be opened for reading.
 */
/* flock the directory of path: its fd, -1 if it cannot be locked at all
 * (go on without), or IK_EBUSY if someone holds it for over 2 s. */
static int lock_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return -1;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* Bounded: in a directory anyone can open (/tmp), anyone can hold this
     * lock, and a listener must not wait on them forever. Listeners hold it
     * only from bind to listen, so 2 s is plenty for a real one. */
    uint64_t give_up = ik__now_ns() + 2000000000u;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EINTR && errno != EWOULDBLOCK) {
            close(fd);
            return -1;
        }
        if (ik__now_ns() >= give_up) {
            close(fd);
            return IK_EBUSY;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return fd;
}

static int do_listen(struct ik_listener *l, int type, int abstract, const char *scheme)
{
    struct uaddr a;
    int rc = make_addr(&l->url, abstract, &a, l->path, sizeof(l->path));
    if (rc != 0)
        return rc;
    struct sock_id *id = NULL;
    if (!abstract && (id = malloc(sizeof(*id))) == NULL)
        return IK_ENOMEM;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = ik__errno();
        free(id);
        return rc;
    }
    /* Datagram sockets never take fds in ipckit: refuse them too. Stream
     * sockets accepted later inherit the choice, with no window. */
    ik__unix_fds_policy(fd, type != SOCK_DGRAM && l->opts.fds);
    int dlk = abstract ? -1 : lock_dir(l->path);
    if (dlk == IK_EBUSY) {
        rc = IK_EBUSY; /* someone else holds the directory's lock */
        dlk = -1;
        goto fail;
    }
    /* Linux takes the socket file's mode from the socket inode: 0600. */
    if (!abstract && fchmod(fd, 0600) != 0) {
        rc = ik__errno();
        goto fail;
    }
    for (int attempt = 0;; attempt++) {
        if (bind(fd, (const struct sockaddr *)&a.sa, a.len) == 0)
            break;
        if (errno != EADDRINUSE || abstract || attempt > 0) {
            rc = errno == EADDRINUSE ? IK_EADDRINUSE : ik__errno();
            goto fail;
        }
        rc = path_check(l->path);
        if (rc == IK_ENOENT)
            continue;
        if (rc != 0)
            goto fail;
        if (addr_live(&a, type)) {
            rc = IK_EADDRINUSE;
            goto fail;
        }
        unlink(l->path); /* stale: its server is dead */
    }
    if (type != SOCK_DGRAM && listen(fd, l->opts.backlog) != 0) {
        rc = ik__errno();
        if (!abstract)
            unlink(l->path);
        goto fail;
    }
    if (!abstract) {
        struct stat st;
        if (lstat(l->path, &st) != 0) {
            rc = ik__errno();
            unlink(l->path);
            goto fail;
        }
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        l->ctx = id;
    }
    if (dlk >= 0)
        close(dlk);
    if (type == SOCK_DGRAM) {
        grow_buffers(fd, &l->opts);
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
    }
    l->fd = fd;
    snprintf(l->bound, sizeof(l->bound), "%s://%s", scheme, l->url.name);
    return 0;
fail:
    if (dlk >= 0)
        close(dlk);
    close(fd);
    free(id);
    l->path[0] = '\0';
    return rc;
}

static int unix_listen(struct ik_listener *l)
{
    return do_listen(l, SOCK_STREAM, 0, "unix");
}
static int seq_listen(struct ik_listener *l)
{
    return do_listen(l, SOCK_SEQPACKET, 0, "unix+seq");
}
static int abs_listen(struct ik_listener *l)
{
    return do_listen(l, SOCK_STREAM, 1, "unix+abstract");
}
static int dgram_listen(struct ik_listener *l)
{
    return do_listen(l, SOCK_DGRAM, 0, "unix+dgram");
}

static int do_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline,
                     const struct ik__io_ops *ops)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return ik__errno();
            int rc = ik__wait_fd(l->fd, POLLIN, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        int rc = ik__unix_policy_check(fd, &l->opts, io->detail, sizeof(io->detail));
        if (rc != 0) {
            close(fd);
            return rc;
        }
        ik__unix_io_init(io, ops, fd, l->opts.fds);
        return 0;
    }
}

static int unix_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline)
{
    return do_accept(l, io, deadline, &ik__io_unix_ops);
}
static int seq_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline)
{
    return do_accept(l, io, deadline, &ik__io_upkt_ops);
}

/* Datagrams: the first sender becomes the one peer (the socket is connected
 * to its address); later accepts give IK_EBUSY. */
static int dgram_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline)
{
    if (l->aux == 1)
        return IK_EBUSY;
    for (;;) {
        struct sockaddr_un from;
        union {
            char buf[CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } ctl;
        char c;
        struct iovec v = {&c, 0};
        struct msghdr m = {.msg_name = &from,
                           .msg_namelen = sizeof(from),
                           .msg_iov = &v,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof(ctl.buf)};
        ssize_t r = recvmsg(l->fd, &m, MSG_PEEK | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return ik__errno();
            int rc = ik__wait_fd(l->fd, POLLIN, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        struct ucred cr = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS)
                memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
        int ok = ik__policy_allows(&l->opts, cr.uid, cr.gid);
        if (!ok || m.msg_namelen <= offsetof(struct sockaddr_un, sun_path)) {
            while (recv(l->fd, &c, 0, MSG_DONTWAIT | MSG_TRUNC) < 0 && errno == EINTR)
                ;
            snprintf(io->detail, sizeof(io->detail), "datagram from uid %u rejected by policy",
                     (unsigned)cr.uid);
            return IK_EAUTH;
        }
        if (r == 0) /* the dialer's empty hello datagram */
            while (recv(l->fd, &c, 0, MSG_DONTWAIT | MSG_TRUNC) < 0 && errno == EINTR)
                ;
        int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return ik__errno();
        if (connect(fd, (struct sockaddr *)&from, m.msg_namelen) != 0) {
            int rc = ik__errno();
            close(fd);
            return rc;
        }
        int rc = ik__udgram_io_init(io, fd);
        if (rc != 0) {
            close(fd);
            return rc;
        }
        ik__udgram_watch_addr(io, &from, m.msg_namelen, NULL);
        l->aux = 1;
        return 0;
    }
}

static void unix_lst_close(struct ik_listener *l)
{
    /* Remove the file only if it is still the one we bound (while our
     * socket is open nobody can replace it, so no race). */
    struct sock_id *id = l->ctx;
    struct stat st;
    if (l->path[0] != '\0' && id != NULL && path_check(l->path) == 0 && lstat(l->path, &st) == 0 &&
        st.st_dev == id->dev && st.st_ino == id->ino)
        unlink(l->path);
    free(id);
    l->ctx = NULL;
    if (l->fd >= 0)
        close(l->fd);
}

static int do_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                   uint64_t deadline, int type, int abstract, const struct ik__io_ops *ops)
{
    struct uaddr a;
    char path[PATH_MAX];
    int rc = make_addr(u, abstract, &a, path, sizeof(path));
    if (rc != 0)
        return rc;
    if (!abstract && (rc = path_check(path)) != 0)
        return rc; /* symlink, not a socket, or an untrusted owner */
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ik__errno();
    if (type == SOCK_DGRAM) {
        /* autobind (address length = the family only): the server needs an
         * address to reply to */
        struct sockaddr_un self = {.sun_family = AF_UNIX};
        if (bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)) != 0) {
            rc = ik__errno();
            close(fd);
            return rc;
        }
        grow_buffers(fd, o);
    }
    ik__unix_fds_policy(fd, type != SOCK_DGRAM && o->fds);
    for (;;) {
        if (connect(fd, (const struct sockaddr *)&a.sa, a.len) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) { /* backlog full: wait for room */
            rc = ik__wait_fd(fd, POLLOUT, deadline);
            if (rc == 0 && ik__ms_left(deadline) > 0) {
                poll(NULL, 0, 1);
                continue;
            }
            close(fd);
            return rc ? rc : IK_ETIMEDOUT;
        }
        rc = map_connect_err(errno);
        close(fd);
        return rc;
    }
    if ((rc = ik__fd_nonblock(fd, 0)) != 0) {
        close(fd);
        return rc;
    }
    if (type != SOCK_DGRAM) {
        /* The server must be us, root, or on the allow-list: an abstract
         * name has no owner check, so anyone could squat it, and a path may
         * have been swapped between path_check and connect. */
        struct ucred cr;
        socklen_t sl = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) != 0) {
            rc = ik__errno();
            close(fd);
            return rc;
        }
        if (cr.uid != 0 && !ik__policy_allows(o, cr.uid, cr.gid)) {
            snprintf(io->detail, sizeof(io->detail),
                     "server uid %u gid %u pid %d not allowed by policy", (unsigned)cr.uid,
                     (unsigned)cr.gid, (int)cr.pid);
            close(fd);
            return IK_EAUTH;
        }
    }
    if (type == SOCK_DGRAM) {
        if ((rc = ik__udgram_io_init(io, fd)) != 0) {
            close(fd);
            return rc;
        }
        ik__udgram_watch_addr(io, &a.sa, a.len, abstract ? NULL : path);
    } else {
        ik__unix_io_init(io, ops, fd, o->fds);
    }
    if (type == SOCK_DGRAM) {
        /* Say hello so the listener learns our address (an empty datagram
         * the listener's ik_accept consumes). */
        char c = 0;
        if (send(fd, &c, 0, MSG_NOSIGNAL) != 0) {
            rc = ik__errno();
            io->ops->close(io); /* the fd and the layer state */
            return rc;
        }
    }
    return 0;
}

static int unix_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                     uint64_t deadline)
{
    return do_dial(io, u, o, deadline, SOCK_STREAM, 0, &ik__io_unix_ops);
}
static int seq_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                    uint64_t deadline)
{
    return do_dial(io, u, o, deadline, SOCK_SEQPACKET, 0, &ik__io_upkt_ops);
}
static int abs_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                    uint64_t deadline)
{
    return do_dial(io, u, o, deadline, SOCK_STREAM, 1, &ik__io_unix_ops);
}
static int dgram_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                      uint64_t deadline)
{
    return do_dial(io, u, o, deadline, SOCK_DGRAM, 0, &ik__io_udgram_ops);
}

static int unix_adopt(struct ik__io *io, int rfd, int wfd)
{
    return ik__sock_adopt(io, rfd, wfd, SOCK_STREAM, AF_UNIX, &ik__io_unix_ops);
}
static int seq_adopt(struct ik__io *io, int rfd, int wfd)
{
    return ik__sock_adopt(io, rfd, wfd, SOCK_SEQPACKET, AF_UNIX, &ik__io_upkt_ops);
}
static int dgram_adopt(struct ik__io *io, int rfd, int wfd)
{
    int rc = ik__sock_adopt(io, rfd, wfd, SOCK_DGRAM, AF_UNIX, &ik__io_udgram_ops);
    return rc != 0 ? rc : ik__udgram_io_init(io, rfd);
}

static int do_pair(struct ik__io *a, struct ik__io *b, const struct ik_chan_opts *o, int type,
                   const struct ik__io_ops *ops)
{
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
        return ik__errno();
    ik__unix_fds_policy(sv[0], o->fds);
    ik__unix_fds_policy(sv[1], o->fds);
    ik__unix_io_init(a, ops, sv[0], o->fds);
    ik__unix_io_init(b, ops, sv[1], o->fds);
    return 0;
}

/* Datagram pair: each end's peer is the other socket (watched through
 * sock_diag while waiting). Buffers sized for max_msg. */
static int dgram_pair(struct ik__io *a, struct ik__io *b, const struct ik_chan_opts *o)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0)
        return ik__errno();
    grow_buffers(sv[0], o);
    grow_buffers(sv[1], o);
    ik__unix_fds_policy(sv[0], 0);
    ik__unix_fds_policy(sv[1], 0);
    int rc = ik__udgram_io_init(a, sv[0]);
    if (rc == 0 && (rc = ik__udgram_io_init(b, sv[1])) != 0)
        a->ops->close(a); /* closes sv[0] */
    else if (rc != 0)
        close(sv[0]);
    if (rc != 0)
        close(sv[1]);
    return rc;
}

static int unix_pair(struct ik__io *a, struct ik__io *b, const struct ik_chan_opts *o)
{
    return do_pair(a, b, o, SOCK_STREAM, &ik__io_unix_ops);
}
static int seq_pair(struct ik__io *a, struct ik__io *b, const struct ik_chan_opts *o)
{
    return do_pair(a, b, o, SOCK_SEQPACKET, &ik__io_upkt_ops);
}

const struct ik__transport ik__tp_unix = {
    .scheme = "unix",
    .flags = IK__TF_STREAM | IK__TF_FDS,
    .listen = unix_listen,
    .accept = unix_accept,
    .lst_close = unix_lst_close,
    .dial = unix_dial,
    .adopt = unix_adopt,
    .pair = unix_pair,
};

const struct ik__transport ik__tp_unix_seq = {
    .scheme = "unix+seq",
    .flags = IK__TF_FDS,
    .packet_max = SEQ_PACKET_MAX,
    .listen = seq_listen,
    .accept = seq_accept,
    .lst_close = unix_lst_close,
    .dial = seq_dial,
    .adopt = seq_adopt,
    .pair = seq_pair,
};

const struct ik__transport ik__tp_unix_abstract = {
    .scheme = "unix+abstract",
    .flags = IK__TF_STREAM | IK__TF_FDS,
    .listen = abs_listen,
    .accept = unix_accept,
    .lst_close = unix_lst_close,
    .dial = abs_dial,
    .adopt = unix_adopt,
};

const struct ik__transport ik__tp_unix_dgram = {
    .scheme = "unix+dgram",
    .flags = IK__TF_DGRAM,
    .listen = dgram_listen,
    .accept = dgram_accept,
    .lst_close = unix_lst_close,
    .dial = dgram_dial,
    .adopt = dgram_adopt,
    .pair = dgram_pair,
};
