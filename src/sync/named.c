/* Named sync objects: an ipckit segment whose user area is the object. */
#include "sync_int.h"

#include <sys/mman.h>
#include <unistd.h>

int ik__sync_open(void **out, const char *name, unsigned kind, size_t size, unsigned flags,
                  const ik_perm *perm, ik__seg_init_fn init, void *arg, ik__sync_check_fn check)
{
    if (out == NULL)
        return IK_EINVAL;
    *out = NULL;
    if ((flags & IK_EXCL) && !(flags & IK_CREATE))
        return IK_EINVAL;
    int rc = ik_name_check(name);
    if (rc != 0)
        return rc;
    /* A racing creator/remover can make create and open both miss: retry. */
    for (int attempt = 0; attempt < 64; attempt++) {
        struct ik__seg seg;
        if (flags & IK_CREATE) {
            rc = ik__seg_create(&seg, name, kind, size, 0, perm, init, arg);
            if (rc == 0) {
                close(seg.fd);
                *out = seg.user;
                return 0;
            }
            if (rc != IK_EEXIST || (flags & IK_EXCL))
                return rc;
        }
        rc = ik__seg_open(&seg, name, kind, 0, perm);
        if ((rc == IK_ENOENT && (flags & IK_CREATE)) || rc == IK_EAGAIN)
            continue;
        if (rc != 0)
            return rc;
        if (seg.user_size != size)
            rc = IK_EPROTO;
        else
            rc = check(seg.user);
        if (rc != 0) {
            ik__seg_close(&seg);
            return rc;
        }
        close(seg.fd);
        *out = seg.user;
        return 0;
    }
    return IK_EAGAIN;
}

void ik__sync_close(void *obj, size_t size)
{
    if (obj == NULL)
        return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)obj - IK__SEG_HDR_SIZE;
    if (ps <= 0 || (base & (uintptr_t)(ps - 1)) != 0)
        return; /* not a named object: leave it alone */
    munmap((void *)base, IK__SEG_HDR_SIZE + size);
}

int ik_sync_unlink(const char *name)
{
    struct ik__seg seg;
    int rc = ik__seg_open(&seg, name, 0, IK_SHM_RDONLY, NULL);
    if (rc != 0)
        return rc;
    unsigned kind = seg.hdr.kind;
    ik__seg_close(&seg);
    switch (kind) {
    case IK__KIND_MUTEX:
    case IK__KIND_SEM:
    case IK__KIND_COND:
    case IK__KIND_EVENT:
    case IK__KIND_RWLOCK:
    case IK__KIND_BARRIER:
        break;
    default:
        return IK_EKIND;
    }
    return ik__seg_unlink(name, NULL);
}
