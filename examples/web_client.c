/*
 * The seed's "web client": fetch http://HOST:PORT/PATH over an ipckit raw TCP
 * channel and print the response body. Exit 0 on HTTP 200.
 *
 * usage: web_client http://127.0.0.1:PORT/
 */
#include <ipckit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2 || strncmp(argv[1], "http://", 7) != 0) {
        fprintf(stderr, "usage: web_client http://HOST:PORT/PATH\n");
        return 2;
    }
    const char *hostport = argv[1] + 7;
    const char *slash = strchr(hostport, '/');
    const char *path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - hostport) : strlen(hostport);
    char url[300], host[256];
    if (hl >= sizeof(host))
        return 2;
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    snprintf(url, sizeof(url), "tcp://%s?raw=1", host);
    ik_chan *ch;
    int rc = ik_dial(&ch, url, NULL);
    if (rc != 0) {
        fprintf(stderr, "web_client: %s: %s\n", url, ik_strerror(rc));
        return 1;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ipckit-web-client\r\n"
                     "Connection: close\r\n\r\n",
                     path, host);
    if (ik_send(ch, req, (size_t)n, 5000) != 0)
        return 1;
    size_t cap = 1 << 16, len = 0;
    char *resp = malloc(cap + 1);
    while (resp != NULL && len < cap) {
        size_t got;
        rc = ik_recv(ch, resp + len, cap - len, &got, 5000);
        if (rc != 0)
            break; /* IK_ECLOSED: the server is done (Connection: close) */
        len += got;
    }
    ik_chan_close(ch);
    if (resp == NULL)
        return 1;
    resp[len] = '\0';
    char *body = strstr(resp, "\r\n\r\n");
    int ok = strncmp(resp, "HTTP/1.1 200", 12) == 0 && body != NULL;
    if (body != NULL)
        fputs(body + 4, stdout);
    free(resp);
    return ok ? 0 : 1;
}
