// The least any default verify must do with a block's bytes: read every byte of the given
// files (pread, 256 KiB windows, as blockyard's local walk reads) and CRC32C it once, on
// THREADS threads, each taking the next window. No structure is decoded: the time it takes
// is a floor under "every section and chunk CRC", not an estimate of a verifier.
// Built with Sources/CCRC32C/crc32c.c (the CRC blockyard runs) by scripts/bench-verify.sh.
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "CCRC32C.h"

#define WINDOW (256 << 10)

struct job { int fd; off_t at; size_t len; };
static struct job *jobs;
static size_t njobs;
static size_t next_job;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    uint8_t *buf = aligned_alloc(4096, WINDOW);
    uint64_t acc = 0;
    for (;;) {
        pthread_mutex_lock(&lock);
        size_t k = next_job++;
        pthread_mutex_unlock(&lock);
        if (k >= njobs) break;
        ssize_t got = pread(jobs[k].fd, buf, jobs[k].len, jobs[k].at);
        if (got != (ssize_t)jobs[k].len) { perror("pread"); exit(1); }
        acc ^= by_crc32c_extend(0, buf, (size_t)got); // blockyard's own CRC code
    }
    free(buf);
    *(uint64_t *)arg = acc;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s THREADS FILE...\n", argv[0]); return 2; }
    int threads = atoi(argv[1]);
    if (threads < 1 || threads > 64) { fprintf(stderr, "THREADS must be 1-64\n"); return 2; }
    size_t cap = 1024;
    jobs = malloc(cap * sizeof *jobs);
    for (int f = 2; f < argc; f++) {
        int fd = open(argv[f], O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[f]); return 1; }
        for (off_t at = 0; at < st.st_size; at += WINDOW) {
            if (njobs == cap) jobs = realloc(jobs, (cap *= 2) * sizeof *jobs);
            size_t len = (size_t)(st.st_size - at < WINDOW ? st.st_size - at : WINDOW);
            jobs[njobs++] = (struct job){fd, at, len};
        }
    }
    pthread_t t[64];
    uint64_t out[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &out[i]);
    uint64_t acc = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        acc ^= out[i];
    }
    // Printed so the work cannot be optimised away.
    printf("%016llx\n", (unsigned long long)acc);
    return 0;
}
