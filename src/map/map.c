/* Memory-mapped files: a shared view of a regular file that can grow in place.
 *
 * The mapping sits at the start of a larger PROT_NONE address-space
 * reservation (MAP_PRIVATE|MAP_NORESERVE: costs no memory), so ik_map_grow
 * can map the file's new pages right behind the old ones with MAP_FIXED and
 * the caller's pointers stay valid. Only when the reservation is exhausted
 * does the mapping move (ik_map_grow returns 1). See docs/map.md. */
#include "../core/internal.h"
#include "map_internal.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct ik_map {
    int fd;
    uint8_t *base;   /* start of the reservation and of the file mapping */
    size_t size;     /* bytes of the file the caller may use */
    size_t map_len;  /* page-aligned bytes mapped from the file */
    size_t reserved; /* page-aligned bytes of address space reserved at base */
    bool rdonly;
};

static const unsigned map_flags_all = IK_MAP_RDONLY | IK_MAP_CREATE | IK_MAP_EXCL;

/* Largest mapping we accept (64 TiB, as segments). */
#define MAP_MAX_SIZE    ((uint64_t)1 << 46)
/* Minimum address space reserved beyond the mapping, for in-place growth. */
#define MAP_MIN_RESERVE ((size_t)1 << 30)

size_t ik__page_size(void)
{
    static size_t ps;
    if (ps == 0)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

int ik__file_extend(int fd, uint64_t size)
{
    if (size > (uint64_t)INT64_MAX)
        return IK_EFBIG;
    /* fallocate never shrinks a file, so concurrent growers cannot undo each
     * other (ftruncate can). */
    int r;
    while ((r = fallocate(fd, 0, 0, (off_t)size)) != 0 && errno == EINTR)
        ;
    if (r == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return errno == EFBIG ? IK_EFBIG : ik__errno();
    /* No fallocate on this file system: ftruncate, only upward. Racing
     * growers may still shrink each other here; callers that need
     * monotonicity use one fixed final size on such file systems. */
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ik__errno();
    if ((uint64_t)st.st_size >= size)
        return 0;
    while ((r = ftruncate(fd, (off_t)size)) != 0 && errno == EINTR)
        ;
    return r == 0 ? 0 : ik__errno();
}

/* Reserve len bytes of inaccessible address space. */
static void *reserve(size_t len)
{
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t reserve_len(size_t map_len)
{
    size_t r = map_len > MAP_MIN_RESERVE / 4 ? map_len * 4 : MAP_MIN_RESERVE;
    if (r / 4 < map_len / 4 || r < map_len) /* overflow: no slack */
        r = map_len;
    return IK__ALIGN_UP(r, ik__page_size());
}

/* Map [off, off+len) of the file over base+off inside the reservation. */
static int map_fixed(struct ik_map *m, size_t off, size_t len)
{
    int prot = PROT_READ | (m->rdonly ? 0 : PROT_WRITE);
    void *p = mmap(m->base + off, len, prot, MAP_SHARED | MAP_FIXED, m->fd, (off_t)off);
    if (p == MAP_FAILED)
        return ik__errno();
    return 0;
}

/* Build a fresh reservation and map map_len bytes of the file at its start. */
static int map_new(struct ik_map *m, size_t map_len, uint8_t **base, size_t *reserved)
{
    size_t want = reserve_len(map_len);
    uint8_t *b = reserve(want);
    if (b == NULL && want > map_len) {
        want = map_len; /* no room for slack: map exactly */
        b = reserve(want);
    }
    if (b == NULL)
        return IK_ENOMEM;
    int prot = PROT_READ | (m->rdonly ? 0 : PROT_WRITE);
    if (mmap(b, map_len, prot, MAP_SHARED | MAP_FIXED, m->fd, 0) == MAP_FAILED) {
        int rc = ik__errno();
        munmap(b, want);
        return rc;
    }
    *base = b;
    *reserved = want;
    return 0;
}

/* Open (creating if asked) and report whether we created the file. */
static int open_file(const char *path, unsigned flags, const ik_perm *perm, struct stat *st,
                     bool *created)
{
    /* ik__open_checked opens non-blocking (a FIFO is refused, never waited
     * for) and gives the fd back blocking. */
    int acc = (flags & IK_MAP_RDONLY) ? O_RDONLY : O_RDWR;
    *created = false;
    if (!(flags & IK_MAP_CREATE))
        return ik__open_checked(path, acc, perm, st);
    /* Create exclusively first, so we know whether the file is ours (and fix
     * its mode despite the umask); fall back to opening an existing one. */
    for (int tries = 0; tries < 16; tries++) {
        int fd = ik__open_checked(path, acc | O_CREAT | O_EXCL, perm, st);
        if (fd >= 0) {
            *created = true;
            if (fchmod(fd, ik__perm_mode(perm)) != 0) {
                int rc = ik__errno();
                close(fd);
                return rc;
            }
            return fd;
        }
        if (fd != IK_EEXIST || (flags & IK_MAP_EXCL))
            return fd;
        fd = ik__open_checked(path, acc, perm, st);
        if (fd != IK_ENOENT) /* ENOENT: removed in between, retry */
            return fd;
    }
    return IK_EAGAIN;
}

int ik_map_open_ex(ik_map **out, const char *path, size_t size, unsigned flags, const ik_perm *perm)
{
    if (out == NULL || path == NULL || path[0] == '\0' || (flags & ~map_flags_all))
        return IK_EINVAL;
    if ((flags & IK_MAP_EXCL) && !(flags & IK_MAP_CREATE))
        return IK_EINVAL;
    if ((flags & IK_MAP_RDONLY) && (flags & IK_MAP_CREATE))
        return IK_EINVAL; /* a new file is empty: nothing to view read-only */
    if ((uint64_t)size > MAP_MAX_SIZE)
        return IK_EINVAL;
    if (size == 0 && (flags & IK_MAP_EXCL))
        return IK_EINVAL;

    struct ik_map *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return IK_ENOMEM;
    m->rdonly = (flags & IK_MAP_RDONLY) != 0;
    struct stat st;
    bool created;
    int rc = open_file(path, flags, perm, &st, &created);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->fd = rc;
    rc = 0;
    uint64_t fsize = (uint64_t)st.st_size;
    if (size == 0) {
        if (fsize == 0 || fsize > MAP_MAX_SIZE) {
            rc = IK_EINVAL;
            goto fail;
        }
        size = (size_t)fsize;
    } else if ((uint64_t)size > fsize) {
        if (m->rdonly) {
            rc = IK_EINVAL;
            goto fail;
        }
        if ((rc = ik__file_extend(m->fd, size)) != 0)
            goto fail;
    }
    m->size = size;
    m->map_len = IK__ALIGN_UP(size, ik__page_size());
    if ((rc = map_new(m, m->map_len, &m->base, &m->reserved)) != 0)
        goto fail;
    *out = m;
    return 0;
fail:
    if (created)
        unlink(path);
    close(m->fd);
    free(m);
    return rc == IK_EFBIG ? IK_EINVAL : rc;
}

int ik_map_open(ik_map **out, const char *path, size_t size, unsigned flags)
{
    return ik_map_open_ex(out, path, size, flags, NULL);
}

void *ik_map_ptr(const ik_map *map)
{
    return map != NULL ? map->base : NULL;
}

size_t ik_map_size(const ik_map *map)
{
    return map != NULL ? map->size : 0;
}

int ik_map_fd(const ik_map *map)
{
    return map != NULL ? map->fd : IK_EINVAL;
}

int ik_map_grow(ik_map *map, size_t new_size)
{
    if (map == NULL || (uint64_t)new_size > MAP_MAX_SIZE)
        return IK_EINVAL;
    if (new_size == 0) {
        /* Pick up growth done by another process. */
        struct stat st;
        if (fstat(map->fd, &st) != 0)
            return ik__errno();
        if ((uint64_t)st.st_size > MAP_MAX_SIZE)
            return IK_EOVERFLOW;
        new_size = (size_t)st.st_size;
        if (new_size <= map->size)
            return 0;
    } else {
        if (map->rdonly)
            return IK_EINVAL;
        if (new_size <= map->size)
            return 0;
        int rc = ik__file_extend(map->fd, new_size);
        if (rc != 0)
            return rc == IK_EFBIG ? IK_EINVAL : rc;
    }
    size_t new_len = IK__ALIGN_UP(new_size, ik__page_size());
    if (new_len == map->map_len) {
        map->size = new_size;
        return 0;
    }
    if (new_len <= map->reserved) {
        /* Stay in place: map only the new pages behind the old ones. */
        int rc = map_fixed(map, map->map_len, new_len - map->map_len);
        if (rc != 0)
            return rc;
        map->map_len = new_len;
        map->size = new_size;
        return 0;
    }
    uint8_t *base;
    size_t reserved;
    int rc = map_new(map, new_len, &base, &reserved);
    if (rc != 0)
        return rc;
    munmap(map->base, map->reserved);
    map->base = base;
    map->reserved = reserved;
    map->map_len = new_len;
    map->size = new_size;
    return 1;
}

int ik_map_sync(ik_map *map, size_t off, size_t len, unsigned flags)
{
    if (map == NULL || (flags != IK_SYNC && flags != IK_ASYNC))
        return IK_EINVAL;
    if (off > map->size)
        return IK_EINVAL;
    if (len == 0)
        len = map->size - off;
    if (len > map->size - off)
        return IK_EINVAL;
    if (len == 0)
        return 0;
    size_t start = off & ~(ik__page_size() - 1);
    int r = msync(map->base + start, off + len - start, flags == IK_SYNC ? MS_SYNC : MS_ASYNC);
    if (r != 0)
        return errno == ENOMEM ? IK_EINVAL : ik__errno();
    return 0;
}

void ik_map_close(ik_map *map)
{
    if (map == NULL)
        return;
    munmap(map->base, map->reserved);
    close(map->fd);
    free(map);
}
