/* sock_diag (NETLINK_SOCK_DIAG) queries about Unix sockets. */
#include "../../core/internal.h"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* sock_diag: inode of fd's peer socket (0: released or none), or a
 * negative IK_E* when the kernel cannot tell. */
int64_t ik__sockdiag_unix_peer_ino(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ik__errno();
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return ik__errno();
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req = {
        .h = {.nlmsg_len = sizeof(req),
              .nlmsg_type = SOCK_DIAG_BY_FAMILY,
              .nlmsg_flags = NLM_F_REQUEST,
              .nlmsg_seq = 1},
        .r = {.sdiag_family = AF_UNIX,
              .udiag_states = ~0u,
              .udiag_ino = (uint32_t)st.st_ino,
              .udiag_show = UDIAG_SHOW_PEER,
              .udiag_cookie = {~0u, ~0u}},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int64_t rc = IK_EIO;
    if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        rc = ik__errno();
        close(nl);
        return rc;
    }
    union {
        char buf[1024];
        struct nlmsghdr align;
    } ans;
    ssize_t n;
    do /* answered inside sendto: never blocks */
        n = recv(nl, ans.buf, sizeof(ans.buf), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    close(nl);
    if (n < 0)
        return ik__errno();
    struct nlmsghdr *h = &ans.align;
    if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return IK_ENOTSUP; /* NLMSG_ERROR: no unix_diag in this kernel */
    size_t off = NLMSG_LENGTH(sizeof(struct unix_diag_msg));
    off = (off + 3) & ~(size_t)3;
    while (off + sizeof(struct nlattr) <= h->nlmsg_len) {
        struct nlattr a;
        memcpy(&a, (char *)h + off, sizeof(a));
        if (a.nla_len < sizeof(a) || off + a.nla_len > h->nlmsg_len)
            break;
        if (a.nla_type == UNIX_DIAG_PEER && a.nla_len >= sizeof(a) + sizeof(uint32_t)) {
            uint32_t ino;
            memcpy(&ino, (char *)h + off + sizeof(a), sizeof(ino));
            return ino;
        }
        off += ((size_t)a.nla_len + 3) & ~(size_t)3;
    }
    return IK_ENOTSUP;
}
