/* ik_log files may be written by a hostile or crashed process: opening,
 * tailing and appending to arbitrary bytes must give records or errors,
 * never a crash, an overrun, a SIGBUS or a hang.
 *
 * Input: byte 0 picks the mode, the rest is the material.
 *   even: the material is the whole file (seeds: real log files).
 *   odd:  a valid header is synthesised (capacity and tail from material
 *         bytes 0..3, writer slots and the data area from the rest), so the
 *         fuzzer spends its time on records rather than on the magic. */
#include "core/internal.h"
#include "map/log_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void cleanup(void)
{
    unlink(path);
}

static int write_file(const uint8_t *buf, size_t n)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = n > 0 ? write(fd, buf, n) : 0;
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static void exercise(unsigned flags)
{
    ik_log *log;
    if (ik_log_open(&log, path, 0, flags) != 0)
        return;
    static uint8_t buf[1 << 17];
    uint64_t cur = 0;
    size_t len;
    (void)ik_log_end(log);
    for (int i = 0; i < 256; i++) {
        int rc = ik_log_read(log, &cur, buf, sizeof(buf), &len, 0);
        if (rc == IK_EMSGSIZE)
            break;
        if (rc != 0)
            break;
        if (len > 0) /* the record lies within buf: touch its ends */
            (void)((volatile uint8_t *)buf)[len - 1];
    }
    if (!(flags & IK_LOG_RDONLY)) {
        static const char rec[64] = "fuzz";
        for (int i = 0; i < 4; i++)
            if (ik_log_append(log, rec, 4 + (size_t)i * 13) != 0)
                break;
        cur = 0;
        for (int i = 0; i < 256; i++)
            if (ik_log_read(log, &cur, buf, sizeof(buf), &len, 0) != 0)
                break;
    }
    ik_log_close(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1 << 16) + IK__LOG_HDR_SIZE + 1)
        return 0;
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/ik-fuzz-log-%d", (int)getpid());
        atexit(cleanup);
    }
    if (size == 0)
        return 0;
    bool synth = data[0] & 1;
    data++;
    size--;
    if (!synth) {
        if (write_file(data, size) != 0)
            return 0;
    } else {
        static uint8_t file[IK__LOG_HDR_SIZE + (1 << 16) + 8];
        memset(file, 0, IK__LOG_HDR_SIZE);
        struct ik__log_hdr h;
        memset(&h, 0, sizeof(h));
        h.magic = IK__LOG_MAGIC;
        h.version = IK__LOG_VERSION;
        h.hdr_size = IK__LOG_HDR_SIZE;
        h.slot_count = IK__LOG_SLOTS;
        uint8_t b1 = size > 0 ? data[0] : 0, b2 = size > 1 ? data[1] : 0;
        uint8_t b3 = size > 2 ? data[2] : 0, b4 = size > 3 ? data[3] : 0;
        h.capacity = (uint64_t)IK__LOG_CAP_MIN * (1 + (b1 & 15));
        h.tail = (((uint64_t)b2 << 8) | b3) * 8;
        if (b4 & 1)
            h.tail %= h.capacity + 8; /* mostly in range, sometimes one past */
        memcpy(file, &h, sizeof(h));
        size_t rest = size > 4 ? size - 4 : 0;
        const uint8_t *p = data + 4;
        /* Slots from the first 256 bytes of the rest (b4 bit 1), data after. */
        if ((b4 & 2) && rest > 0) {
            size_t n = rest < 256 ? rest : 256;
            memcpy(file + IK__LOG_SLOT_OFF, p, n);
            p += n;
            rest -= n;
        }
        memcpy(file + IK__LOG_HDR_SIZE, p, rest);
        if (write_file(file, IK__LOG_HDR_SIZE + rest) != 0)
            return 0;
    }
    exercise(IK_LOG_RDONLY);
    exercise(0);
    return 0;
}
