/* Segments: the header-prefixed shared memory every named ipckit object uses. */
#include "../core/internal.h"

#include <linux/magic.h>
#include <linux/memfd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static const char *const kind_names[] = {
    [IK__KIND_SHM] = "shm",         [IK__KIND_MUTEX] = "mutex", [IK__KIND_SEM] = "sem",
    [IK__KIND_COND] = "cond",       [IK__KIND_EVENT] = "event", [IK__KIND_RWLOCK] = "rwlock",
    [IK__KIND_BARRIER] = "barrier", [IK__KIND_QUEUE] = "queue", [IK__KIND_RING] = "ring",
    [IK__KIND_SYNCREG] = "syncreg",
};

const char *ik__kind_name(unsigned kind)
{
    if (kind < IK__ARRAY_LEN(kind_names) && kind_names[kind] != NULL)
        return kind_names[kind];
    return "?";
}

int ik__seg_path(char *buf, size_t cap, const char *name)
{
    int rc = ik_name_check(name);
    if (rc != 0)
        return rc;
    int n = snprintf(buf, cap, IK__SHM_DIR "/" IK__SEG_PREFIX "%s", name);
    return (n < 0 || (size_t)n >= cap) ? IK_ENAMETOOLONG : 0;
}

int ik__seg_hdr_check(const struct ik__seg_hdr *hdr, uint64_t file_size, unsigned kind)
{
    if (hdr->magic != IK__SEG_MAGIC || hdr->version != IK__SEG_VERSION ||
        hdr->hdr_size != IK__SEG_HDR_SIZE)
        return IK_EPROTO;
    if (hdr->kind == 0 || hdr->kind >= IK__KIND_MAX)
        return IK_EPROTO;
    if (file_size < IK__SEG_HDR_SIZE || hdr->user_size == 0 ||
        hdr->user_size > file_size - IK__SEG_HDR_SIZE || hdr->user_size > IK__SEG_MAX_SIZE)
        return IK_EPROTO;
    if (kind != 0 && hdr->kind != kind)
        return IK_EKIND;
    return 0;
}

static size_t page_size(void)
{
    static size_t ps;
    if (ps == 0)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

static int check_size(size_t user_size, size_t *total)
{
    if (user_size == 0 || user_size > IK__SEG_MAX_SIZE)
        return IK_EINVAL;
    *total = IK__ALIGN_UP(user_size + IK__SEG_HDR_SIZE, page_size());
    return 0;
}

static void hdr_fill(struct ik__seg_hdr *h, unsigned kind, size_t user_size, uint32_t flags)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    memset(h, 0, sizeof(*h));
    h->version = IK__SEG_VERSION;
    h->kind = (uint16_t)kind;
    h->hdr_size = IK__SEG_HDR_SIZE;
    h->flags = flags;
    h->user_size = user_size;
    h->creator_pid = getpid();
    h->creator_uid = geteuid();
    h->creator_start = ik__self_start_time();
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    h->magic = IK__SEG_MAGIC;
}

/* Map fd, write the header (magic last) and run init. */
static int seg_map_new(struct ik__seg *seg, int fd, unsigned kind, size_t user_size, size_t total,
                       uint32_t hflags, ik__seg_init_fn init, void *arg)
{
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return ik__errno();
    struct ik__seg_hdr h;
    hdr_fill(&h, kind, user_size, hflags);
    memcpy(base, &h, sizeof(h));
    ((struct ik__seg_hdr *)base)->magic = 0;
    *seg = (struct ik__seg){.fd = fd,
                            .base = base,
                            .map_len = total,
                            .user = (char *)base + IK__SEG_HDR_SIZE,
                            .user_size = user_size,
                            .hdr = h};
    if (init != NULL) {
        int rc = init(seg->user, user_size, arg);
        if (rc != 0) {
            munmap(base, total);
            return rc;
        }
    }
    atomic_store_explicit((_Atomic uint32_t *)&((struct ik__seg_hdr *)base)->magic, h.magic,
                          memory_order_release);
    return 0;
}

int ik__seg_create(struct ik__seg *seg, const char *name, unsigned kind, size_t user_size,
                   unsigned flags, const ik_perm *perm, ik__seg_init_fn init, void *arg)
{
    char path[128];
    size_t total;
    int rc = ik__seg_path(path, sizeof(path), name);
    if (rc != 0)
        return rc;
    if ((rc = check_size(user_size, &total)) != 0)
        return rc;
    if (flags & IK_SHM_HUGE_REQUIRED)
        return IK_ENOTSUP; /* tmpfs huge pages depend on mount options; use ik_shm_anon */
    mode_t mode = ik__perm_mode(perm);

    /* Build the segment unnamed, then link it in: openers never see it half-made. */
    bool tmpfile = true;
    int fd = open(IK__SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
    if (fd < 0) {
        tmpfile = false;
        fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, mode);
    }
    if (fd < 0)
        return ik__errno();
    if (fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)total) != 0) {
        rc = errno == EFBIG ? IK_EINVAL : ik__errno();
        goto fail;
    }
    if ((rc = seg_map_new(seg, fd, kind, user_size, total, 0, init, arg)) != 0)
        goto fail;
    if (flags & IK_SHM_HUGE)
        (void)madvise(seg->base, total, MADV_HUGEPAGE); /* best effort on tmpfs */
    if (tmpfile) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0) {
            rc = ik__errno();
            munmap(seg->base, seg->map_len);
            goto fail;
        }
    }
    return 0;
fail:
    if (!tmpfile)
        unlink(path);
    close(fd);
    return rc;
}

/* Read and validate the header of an fd of st_size bytes, then map it. */
static int seg_map_existing(struct ik__seg *seg, int fd, uint64_t file_size, unsigned kind,
                            bool rdonly)
{
    struct ik__seg_hdr h;
    if (file_size < sizeof(h))
        return IK_EPROTO;
    ssize_t n = pread(fd, &h, sizeof(h), 0);
    if (n != (ssize_t)sizeof(h))
        return n < 0 ? ik__errno() : IK_EPROTO;
    if (h.magic == 0 && h.version == IK__SEG_VERSION)
        return IK_EAGAIN; /* still being created (no O_TMPFILE support) */
    int rc = ik__seg_hdr_check(&h, file_size, kind);
    if (rc != 0)
        return rc;
    size_t len = (size_t)(h.hdr_size + h.user_size);
    /* hugetlbfs (a received MFD_HUGETLB memfd): munmap needs a length in
     * whole huge pages, or it fails and the mapping leaks. Its size is one
     * (the file system's block size), so the rounded length stays inside. */
    struct statfs sfs;
    bool huge = fstatfs(fd, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC && sfs.f_bsize > 0 &&
                ((uint64_t)sfs.f_bsize & ((uint64_t)sfs.f_bsize - 1)) == 0;
    if (huge)
        len = IK__ALIGN_UP(len, (size_t)sfs.f_bsize);
    void *base = mmap(NULL, len, PROT_READ | (rdonly ? 0 : PROT_WRITE), MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return ik__errno();
    *seg = (struct ik__seg){.fd = fd,
                            .base = base,
                            .map_len = len,
                            .user = (char *)base + h.hdr_size,
                            .user_size = (size_t)h.user_size,
                            .hdr = h,
                            .rdonly = rdonly,
                            .huge = huge};
    return 0;
}

int ik__seg_open(struct ik__seg *seg, const char *name, unsigned kind, unsigned flags,
                 const ik_perm *perm)
{
    char path[128];
    int rc = ik__seg_path(path, sizeof(path), name);
    if (rc != 0)
        return rc;
    bool rdonly = (flags & IK_SHM_RDONLY) != 0;
    struct stat st;
    int fd = ik__open_checked(path, rdonly ? O_RDONLY : O_RDWR, perm, &st);
    if (fd < 0)
        return fd;
    rc = seg_map_existing(seg, fd, (uint64_t)st.st_size, kind, rdonly);
    if (rc != 0)
        close(fd);
    return rc;
}

int ik__seg_anon(struct ik__seg *seg, unsigned kind, size_t user_size, unsigned flags)
{
    size_t total;
    int rc = check_size(user_size, &total);
    if (rc != 0)
        return rc;
    bool want_huge = (flags & (IK_SHM_HUGE | IK_SHM_HUGE_REQUIRED)) != 0;
    for (int attempt = want_huge ? 0 : 1; attempt < 2; attempt++) {
        bool huge = attempt == 0;
        size_t len = total;
        unsigned mfd = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0);
        int fd = memfd_create("ik.anon", mfd);
        struct statfs sfs;
        if (fd >= 0 && huge) /* whole default huge pages (2 MiB, or 1 GiB ...) */
            len =
                IK__ALIGN_UP(total, fstatfs(fd, &sfs) == 0 && sfs.f_bsize > 0 ? (size_t)sfs.f_bsize
                                                                              : (size_t)2 << 20);
        if (fd < 0) {
            rc = ik__errno();
        } else if (ftruncate(fd, (off_t)len) != 0) {
            rc = ik__errno();
            close(fd);
        } else if ((rc = seg_map_new(seg, fd, kind, user_size, len,
                                     IK__SEG_F_ANON | (huge ? IK__SEG_F_HUGE : 0), NULL, NULL)) !=
                   0) {
            close(fd);
        } else {
            seg->huge = huge;
            if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
                rc = ik__errno();
                ik__seg_close(seg);
                return rc;
            }
            return 0;
        }
        if (huge && (flags & IK_SHM_HUGE_REQUIRED))
            return rc == IK_EINVAL ? IK_ENOTSUP : rc;
    }
    return rc;
}

int ik__seg_from_fd(struct ik__seg *seg, int fd, unsigned kind, unsigned flags)
{
    struct stat st;
    if (fd < 0)
        return IK_EBADF;
    if (fstat(fd, &st) != 0)
        return ik__errno();
    if (!S_ISREG(st.st_mode))
        return IK_EUNSAFE;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & (F_SEAL_GROW | F_SEAL_SHRINK)) != (F_SEAL_GROW | F_SEAL_SHRINK))
        return IK_EUNSAFE; /* an unsealed file could shrink under us: SIGBUS */
    return seg_map_existing(seg, fd, (uint64_t)st.st_size, kind, (flags & IK_SHM_RDONLY) != 0);
}

void ik__seg_close(struct ik__seg *seg)
{
    if (seg->base != NULL)
        munmap(seg->base, seg->map_len);
    if (seg->fd >= 0)
        close(seg->fd);
    seg->base = NULL;
    seg->fd = -1;
}

int ik__seg_unlink(const char *name, const ik_perm *perm)
{
    char path[128];
    int rc = ik__seg_path(path, sizeof(path), name);
    if (rc != 0)
        return rc;
    struct stat st;
    if (lstat(path, &st) != 0)
        return ik__errno();
    if (!S_ISREG(st.st_mode))
        return IK_EUNSAFE;
    if ((rc = ik__perm_check(&st, perm)) != 0)
        return rc;
    return unlink(path) == 0 ? 0 : ik__errno();
}
