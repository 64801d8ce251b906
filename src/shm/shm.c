/* Public shared-memory handles over segments. */
#include "../core/internal.h"

#include <stdlib.h>
#include <unistd.h>

struct ik_shm {
    struct ik__seg seg;
};

static const unsigned shm_flags_all = IK_SHM_RDONLY | IK_SHM_HUGE | IK_SHM_HUGE_REQUIRED;

/* Allocate the handle first, so that a published object never leaks on ENOMEM. */
static ik_shm *shm_alloc(void)
{
    ik_shm *shm = calloc(1, sizeof(*shm));
    if (shm != NULL)
        shm->seg.fd = -1;
    return shm;
}

static int shm_finish(ik_shm **out, ik_shm *shm, int rc)
{
    if (rc != 0) {
        free(shm);
        return rc;
    }
    *out = shm;
    return 0;
}

int ik_shm_create_ex(ik_shm **out, const char *name, size_t size, unsigned flags,
                     const ik_perm *perm)
{
    if (out == NULL || (flags & ~shm_flags_all) || (flags & IK_SHM_RDONLY))
        return IK_EINVAL;
    ik_shm *shm = shm_alloc();
    if (shm == NULL)
        return IK_ENOMEM;
    int rc = ik__seg_create(&shm->seg, name, IK__KIND_SHM, size, flags, perm, NULL, NULL);
    return shm_finish(out, shm, rc);
}

int ik_shm_create(ik_shm **out, const char *name, size_t size, unsigned flags)
{
    return ik_shm_create_ex(out, name, size, flags, NULL);
}

int ik_shm_open_ex(ik_shm **out, const char *name, unsigned flags, const ik_perm *perm)
{
    if (out == NULL || (flags & ~IK_SHM_RDONLY))
        return IK_EINVAL;
    ik_shm *shm = shm_alloc();
    if (shm == NULL)
        return IK_ENOMEM;
    return shm_finish(out, shm, ik__seg_open(&shm->seg, name, IK__KIND_SHM, flags, perm));
}

int ik_shm_open(ik_shm **out, const char *name, unsigned flags)
{
    return ik_shm_open_ex(out, name, flags, NULL);
}

int ik_shm_anon(ik_shm **out, size_t size, unsigned flags)
{
    if (out == NULL || (flags & ~shm_flags_all) || (flags & IK_SHM_RDONLY))
        return IK_EINVAL;
    ik_shm *shm = shm_alloc();
    if (shm == NULL)
        return IK_ENOMEM;
    return shm_finish(out, shm, ik__seg_anon(&shm->seg, IK__KIND_SHM, size, flags));
}

int ik_shm_from_fd(ik_shm **out, int fd, unsigned flags)
{
    if (out == NULL || (flags & ~IK_SHM_RDONLY))
        return IK_EINVAL;
    ik_shm *shm = shm_alloc();
    if (shm == NULL)
        return IK_ENOMEM;
    return shm_finish(out, shm, ik__seg_from_fd(&shm->seg, fd, IK__KIND_SHM, flags));
}

void *ik_shm_ptr(const ik_shm *shm)
{
    return shm != NULL ? shm->seg.user : NULL;
}

size_t ik_shm_size(const ik_shm *shm)
{
    return shm != NULL ? shm->seg.user_size : 0;
}

int ik_shm_fd(const ik_shm *shm)
{
    return shm != NULL ? shm->seg.fd : IK_EBADF;
}

int ik_shm_is_huge(const ik_shm *shm)
{
    return shm != NULL && shm->seg.huge;
}

void ik_shm_close(ik_shm *shm)
{
    if (shm == NULL)
        return;
    ik__seg_close(&shm->seg);
    free(shm);
}

int ik_shm_unlink(const char *name)
{
    return ik__seg_unlink(name, NULL);
}
