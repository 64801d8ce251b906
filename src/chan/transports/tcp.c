/*
 * tcp://host:port (IPv4, IPv6 as [addr]:port). UNAUTHENTICATED and
 * unencrypted: use tls:// across machines. TCP_NODELAY and keepalive are on;
 * connect honours the dial timeout. Port 0 binds a free port
 * (ik_listener_url tells which).
 */
#include "../chan_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void tune(int fd)
{
    int on = 1, idle = 60, intvl = 10, cnt = 6;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static int resolve(const struct ik__url *u, int passive, struct addrinfo **res, char *detail,
                   size_t cap)
{
    if (u->host[0] == '\0' || u->port[0] == '\0')
        return IK_EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    int g = getaddrinfo(u->host, u->port, &hints, res);
    if (g != 0) {
        snprintf(detail, cap, "resolve %.100s: %s", u->host, gai_strerror(g));
        return g == EAI_MEMORY ? IK_ENOMEM : IK_EADDRNOTAVAIL;
    }
    return 0;
}

int ik__tcp_listen(struct ik_listener *l, const char *scheme)
{
    struct addrinfo *res;
    char detail[256] = "";
    int rc = resolve(&l->url, 1, &res, detail, sizeof(detail));
    if (rc != 0) {
        ik__set_last_detail(detail);
        return rc;
    }
    rc = IK_EADDRNOTAVAIL;
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            rc = ik__errno();
            continue;
        }
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, l->opts.backlog) == 0) {
            rc = 0;
            break;
        }
        rc = ik__errno();
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (rc != 0)
        return rc;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
            port = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
            port = ntohs(s4->sin_port);
        }
    }
    if (ss.ss_family == AF_INET6)
        snprintf(l->bound, sizeof(l->bound), "%s://[%s]:%u", scheme, host, port);
    else
        snprintf(l->bound, sizeof(l->bound), "%s://%s:%u", scheme, host, port);
    l->fd = fd;
    return 0;
}

int ik__tcp_accept(struct ik_listener *l, struct ik__io *io, uint64_t deadline)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            tune(fd);
            ik__io_init(io, &ik__io_sock_ops, fd, fd);
            return 0;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return ik__errno();
        int rc = ik__wait_fd(l->fd, POLLIN, deadline);
        if (rc != 0)
            return rc;
    }
}

void ik__tcp_lst_close(struct ik_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
}

static int connect_one(const struct addrinfo *ai, uint64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ik__errno();
    int rc = 0;
    while (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EINPROGRESS) {
            rc = ik__errno();
            break;
        }
        rc = ik__wait_fd(fd, POLLOUT, deadline);
        if (rc == 0) {
            int err = 0;
            socklen_t sl = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
            rc = err ? -err : 0;
        }
        break;
    }
    if (rc == 0)
        rc = ik__fd_nonblock(fd, 0);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    tune(fd);
    return fd;
}

int ik__tcp_dial(struct ik__io *io, const struct ik__url *u, const struct ik_chan_opts *o,
                 uint64_t deadline)
{
    IK__UNUSED(o);
    struct addrinfo *res;
    int rc = resolve(u, 0, &res, io->detail, sizeof(io->detail));
    if (rc != 0)
        return rc;
    rc = IK_ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = connect_one(ai, deadline);
        if (fd >= 0) {
            ik__io_init(io, &ik__io_sock_ops, fd, fd);
            rc = 0;
            break;
        }
        rc = fd;
        if (rc == IK_ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

static int tcp_listen(struct ik_listener *l)
{
    return ik__tcp_listen(l, "tcp");
}

static int tcp_adopt(struct ik__io *io, int rfd, int wfd)
{
    int dom = 0; /* an IP socket: a Unix one would skip the Unix layer (fds, credentials) */
    socklen_t dl = sizeof(dom);
    if (getsockopt(rfd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) != 0 ||
        (dom != AF_INET && dom != AF_INET6))
        return IK_EINVAL;
    return ik__sock_adopt(io, rfd, wfd, SOCK_STREAM, AF_UNSPEC, &ik__io_sock_ops);
}

const struct ik__transport ik__tp_tcp = {
    .scheme = "tcp",
    .flags = IK__TF_STREAM,
    .listen = tcp_listen,
    .accept = ik__tcp_accept,
    .lst_close = ik__tcp_lst_close,
    .dial = ik__tcp_dial,
    .adopt = tcp_adopt,
};
