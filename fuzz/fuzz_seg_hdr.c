/* Segment headers come from files and fds a hostile peer may have written:
 * ik_shm_from_fd must refuse or map, never crash or overrun. */
#include "core/internal.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    int fd = memfd_create("fuzz", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    /* The first byte of input also picks the claimed file size and seals. */
    off_t len = (off_t)size;
    if (size > 0 && (data[0] & 1))
        len = (off_t)size + data[0] * 64;
    if (ftruncate(fd, len) != 0) {
        close(fd);
        return 0;
    }
    if (size == 0 || !(data[0] & 2))
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
    ik_shm *shm;
    if (ik_shm_from_fd(&shm, fd, IK_SHM_RDONLY) == 0) {
        volatile const char *p = ik_shm_ptr(shm);
        size_t n = ik_shm_size(shm);
        (void)p[0];
        (void)p[n - 1];
        ik_shm_close(shm); /* owns fd */
    } else {
        close(fd);
    }
    if (size >= sizeof(struct ik__seg_hdr)) {
        struct ik__seg_hdr h;
        memcpy(&h, data, sizeof(h));
        (void)ik__seg_hdr_check(&h, size, 0);
    }
    return 0;
}
