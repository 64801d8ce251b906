/* Frame header for stream transports: see docs/wire.md. */
#include "chan_int.h"

#include <string.h>

/*
 * 12 bytes: 'I' 'K' version(1) nfds(1) length(u64 little-endian).
 */
void ik__frame_encode(uint8_t hdr[IK_FRAME_HDR_SIZE], uint64_t len, unsigned nfds)
{
    hdr[0] = IK__FRAME_MAGIC0;
    hdr[1] = IK__FRAME_MAGIC1;
    hdr[2] = IK__FRAME_VERSION;
    hdr[3] = (uint8_t)nfds;
    for (int i = 0; i < 8; i++)
        hdr[4 + i] = (uint8_t)(len >> (8 * i));
}

int ik_frame_decode(const void *buf, size_t n, uint64_t max_msg, uint64_t *len, unsigned *nfds)
{
    if (buf == NULL && n > 0)
        return IK_EINVAL;
    if (n < IK_FRAME_HDR_SIZE)
        return IK_EAGAIN;
    const uint8_t *h = buf;
    if (h[0] != IK__FRAME_MAGIC0 || h[1] != IK__FRAME_MAGIC1 || h[2] != IK__FRAME_VERSION)
        return IK_EPROTO;
    if (h[3] > IK_FD_MAX)
        return IK_EPROTO;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)h[4 + i] << (8 * i);
    if (v > max_msg)
        return IK_EMSGSIZE;
    if (len != NULL)
        *len = v;
    if (nfds != NULL)
        *nfds = h[3];
    return 0;
}
