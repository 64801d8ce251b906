/* pipe: anonymous duplex pipe pairs (two pipes), framed by the channel layer. */
#include "../chan_int.h"

#include <unistd.h>

static int pipe_pair(struct ik__io *a, struct ik__io *b, const struct ik_chan_opts *o)
{
    IK__UNUSED(o);
    int p1[2], p2[2];
    if (pipe2(p1, O_CLOEXEC) != 0)
        return ik__errno();
    if (pipe2(p2, O_CLOEXEC) != 0) {
        int rc = ik__errno();
        close(p1[0]);
        close(p1[1]);
        return rc;
    }
    /* All four ends stay blocking: they are handed to children (ik_chan_fd),
     * so the layer never relies on their flags (RWF_NOWAIT per call). */
    ik__io_init(a, &ik__io_pipe_ops, p1[0], p2[1]);
    ik__io_init(b, &ik__io_pipe_ops, p2[0], p1[1]);
    return 0;
}

/* Inherited pipe (or FIFO) ends: rfd must be readable, wfd writable. */
static int pipe_adopt(struct ik__io *io, int rfd, int wfd)
{
    struct stat st;
    if (fstat(rfd, &st) != 0 || !S_ISFIFO(st.st_mode))
        return IK_EINVAL;
    if (fstat(wfd, &st) != 0 || !S_ISFIFO(st.st_mode))
        return IK_EINVAL;
    /* Read-only and write-only: a read end opened O_RDWR is also a writer,
     * so the channel would never see its peer's end of stream. */
    int acc_r = fcntl(rfd, F_GETFL) & O_ACCMODE, acc_w = fcntl(wfd, F_GETFL) & O_ACCMODE;
    if (acc_r != O_RDONLY || acc_w == O_RDONLY)
        return IK_EINVAL;
    if (rfd == wfd)
        return IK_EINVAL;
    /* Their flags are left alone: the open file descriptions may be shared
     * with other processes (the layer does non-blocking I/O per call). */
    ik__io_init(io, &ik__io_pipe_ops, rfd, wfd);
    return 0;
}

const struct ik__transport ik__tp_pipe = {
    .scheme = "pipe",
    .flags = IK__TF_STREAM,
    .adopt = pipe_adopt,
    .pair = pipe_pair,
};
