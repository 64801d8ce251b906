/* Frames come from a possibly hostile peer. Two levels: the pure header
 * decoder on the buffer, then the whole receive path (header, payload,
 * partial frames, raw bytes after a frame) with the input written into a
 * socketpair: any error must close the channel cleanly, never crash or
 * allocate more than max_msg. */
#include "chan/chan_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_MAX_MSG 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t len = 0;
    unsigned nfds = 0;
    int rc = ik_frame_decode(data, size, FUZZ_MAX_MSG, &len, &nfds);
    if (rc == 0 && (len > FUZZ_MAX_MSG || nfds > IK_FD_MAX || size < IK_FRAME_HDR_SIZE))
        abort();
    if (size > 100000)
        return 0;
    ik_chan *a, *b;
    if (ik_chan_pair(&a, &b, "unix") != 0)
        return 0;
    int r, w;
    if (ik_chan_fd(b, &r, &w) != 0 || write(w, data, size) != (ssize_t)size) {
        ik_chan_close(a);
        ik_chan_close(b);
        return 0;
    }
    ik_chan_close(b); /* EOF after the input */
    for (int i = 0; i < 10000; i++) {
        void *buf;
        size_t n;
        rc = ik_recv_alloc(a, &buf, &n, 0);
        if (rc != 0)
            break;
        if (n > IK_CHAN_MAX_MSG_DEFAULT)
            abort();
        free(buf);
    }
    if (rc == 0 || ik_recv_alloc(a, &(void *){NULL}, &(size_t){0}, 0) != IK_ECLOSED)
        abort(); /* after any failure the channel stays closed */
    ik_chan_close(a);
    return 0;
}
