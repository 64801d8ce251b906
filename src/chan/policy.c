/* Who may connect to a Unix-socket listener: same euid by default, plus an
 * explicit uid/gid allow-list. Checked at accept from kernel credentials. */
#include "chan_int.h"

#include <stdio.h>
#include <unistd.h>

int ik__policy_allows(const struct ik_chan_opts *o, uid_t uid, gid_t gid)
{
    if (uid == geteuid())
        return 1;
    for (int i = 0; i < o->n_uid; i++)
        if (o->allow_uid[i] == uid)
            return 1;
    for (int i = 0; i < o->n_gid; i++)
        if (o->allow_gid[i] == gid)
            return 1;
    return 0;
}

int ik__unix_policy_check(int fd, const struct ik_chan_opts *o, char *detail, size_t cap)
{
    struct ucred cr;
    socklen_t sl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) != 0)
        return ik__errno();
    if (ik__policy_allows(o, cr.uid, cr.gid))
        return 0;
    snprintf(detail, cap, "peer uid %u gid %u pid %d not allowed by policy", (unsigned)cr.uid,
             (unsigned)cr.gid, (int)cr.pid);
    return IK_EAUTH;
}
