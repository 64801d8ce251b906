/*
 * The seed's "web server": HTTP/1.1 over an ipckit raw TCP channel
 * (tcp://...?raw=1: plain bytes, no ipckit framing), so any browser or curl
 * can talk to it. Plain tcp:// is unauthenticated; use tls:// with cert=/key=
 * for anything beyond loopback.
 *
 * usage: web_server [URL [COUNT]]   (default tcp://127.0.0.1:8080, serve forever)
 * Prints "http://HOST:PORT/" once listening (port 0 picks a free port).
 */
#include <ipckit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char page[] =
    "<!doctype html>\n<html><body><h1>hello from ipckit</h1>\n"
    "<p>served over an ipckit tcp:// channel in raw mode</p></body></html>\n";

/* Read the request head (up to the blank line). */
static int read_request(ik_chan *ch, char *req, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        size_t got;
        int rc = ik_recv(ch, req + n, cap - 1 - n, &got, 5000);
        if (rc != 0)
            return rc;
        n += got;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            return 0;
    }
    return IK_EMSGSIZE;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:8080";
    long count = argc > 2 ? atol(argv[2]) : -1;
    ik_chan_opts *o;
    if (ik_chan_opts_new(&o) != 0 || ik_chan_opts_set_raw(o, 1) != 0)
        return 1;
    ik_listener *l;
    int rc = ik_listen(&l, url, o);
    ik_chan_opts_free(o);
    if (rc != 0) {
        fprintf(stderr, "web_server: listen %s: %s\n", url, ik_strerror(rc));
        return 1;
    }
    char real[256];
    if (ik_listener_url(l, real, sizeof(real)) != 0)
        return 1;
    printf("http://%s/\n", strstr(real, "://") + 3);
    fflush(stdout);
    for (long served = 0; count < 0 || served < count;) {
        ik_chan *ch;
        rc = ik_accept(l, &ch, -1);
        if (rc != 0) {
            fprintf(stderr, "web_server: accept: %s\n", ik_strerror(rc));
            continue;
        }
        char req[8192];
        if (read_request(ch, req, sizeof(req)) == 0) {
            int ok = strncmp(req, "GET ", 4) == 0;
            char head[256];
            int hn = snprintf(head, sizeof(head),
                              "HTTP/1.1 %s\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\nServer: ipckit-example\r\n\r\n",
                              ok ? "200 OK" : "405 Method Not Allowed", ok ? sizeof(page) - 1 : 0);
            struct iovec iov[2] = {{head, (size_t)hn}, {(void *)page, ok ? sizeof(page) - 1 : 0}};
            if (ik_sendv(ch, iov, 2, 5000) != 0)
                fprintf(stderr, "web_server: send failed\n");
            served++;
        }
        ik_chan_close(ch);
    }
    ik_listener_close(l);
    return 0;
}
