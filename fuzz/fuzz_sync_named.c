/* Named sync objects live in files a same-uid peer (or a crash) may have
 * scribbled on: ik_*_open must refuse bad layouts (IK_EPROTO) or open them,
 * never crash; non-blocking operations on what opens must not crash. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned kinds[] = {IK__KIND_MUTEX, IK__KIND_SEM,    IK__KIND_COND,
                                 IK__KIND_EVENT, IK__KIND_RWLOCK, IK__KIND_BARRIER};
static const size_t sizes[] = {sizeof(ik_mutex), sizeof(ik_sem),    sizeof(ik_cond),
                               sizeof(ik_event), sizeof(ik_rwlock), sizeof(ik_barrier)};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    unsigned k = data[0] % 6;
    char name[64], path[128];
    snprintf(name, sizeof(name), "fuzz-sync-%d", (int)getpid());
    snprintf(path, sizeof(path), "/dev/shm/ik.%s", name);
    /* A valid header so the sync layer's own checks are what gets fuzzed. */
    uint8_t buf[IK__SEG_HDR_SIZE + 512] = {0};
    struct ik__seg_hdr *h = (struct ik__seg_hdr *)buf;
    h->magic = IK__SEG_MAGIC;
    h->version = IK__SEG_VERSION;
    h->kind = (uint16_t)kinds[k];
    h->hdr_size = IK__SEG_HDR_SIZE;
    h->user_size = (data[0] & 0x80) ? size - 1 : sizes[k]; /* sometimes a wrong size */
    if (h->user_size == 0 || h->user_size > 512)
        h->user_size = sizes[k];
    size_t n = size - 1 < 512 ? size - 1 : 512;
    memcpy(buf + IK__SEG_HDR_SIZE, data + 1, n);
    unlink(path);
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || ftruncate(fd, 4096) != 0) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    switch (k) {
    case 0: {
        ik_mutex *m;
        if (ik_mutex_open(&m, name, 0) == 0) {
            if (ik_mutex_trylock(m) == 0)
                (void)ik_mutex_unlock(m);
            ik_mutex_close(m);
        }
        break;
    }
    case 1: {
        ik_sem *s;
        if (ik_sem_open(&s, name, 0, 0) == 0)
            ik_sem_close(s); /* undo ops may wait on a peer's guard: not called */
        break;
    }
    case 2: {
        ik_cond *c;
        if (ik_cond_open(&c, name, 0) == 0) {
            (void)ik_cond_signal(c);
            ik_cond_close(c);
        }
        break;
    }
    case 3: {
        ik_event *e;
        if (ik_event_open(&e, name, 0) == 0) {
            (void)ik_event_timedwait(e, 0);
            (void)ik_event_set(e);
            ik_event_close(e);
        }
        break;
    }
    case 4: {
        ik_rwlock *l;
        if (ik_rwlock_open(&l, name, 0) == 0)
            ik_rwlock_close(l);
        break;
    }
    default: {
        ik_barrier *b;
        if (ik_barrier_open(&b, name, 0, 0) == 0)
            ik_barrier_close(b);
        break;
    }
    }
    unlink(path);
    return 0;
}
