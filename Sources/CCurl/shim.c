#include "CCurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

// libcurl is opened on first use, not linked: a command that never talks to Azure does not
// load libcurl and the thirty-odd libraries it needs (TLS, Kerberos, LDAP, ...), which took
// about 6 ms of every start-up. Every function blockyard calls is looked up once, here.
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_pause)(CURL *, int);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

#define LOOKUP(field, symbol)                                                                     \
    do {                                                                                          \
        *(void **)(&fn.field) = dlsym(lib, symbol);                                               \
        if (!fn.field) {                                                                          \
            snprintf(load_error, sizeof load_error, "libcurl.so.4 has no %s", symbol);             \
            return;                                                                               \
        }                                                                                         \
    } while (0)

static void load(void) {
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "libcurl could not be loaded: %s (Debian package libcurl4)",
                 why ? why : "unknown error");
        return;
    }
    LOOKUP(global_init, "curl_global_init");
    LOOKUP(easy_init, "curl_easy_init");
    LOOKUP(easy_cleanup, "curl_easy_cleanup");
    LOOKUP(easy_reset, "curl_easy_reset");
    LOOKUP(easy_pause, "curl_easy_pause");
    LOOKUP(easy_strerror, "curl_easy_strerror");
    LOOKUP(easy_setopt, "curl_easy_setopt");
    LOOKUP(easy_getinfo, "curl_easy_getinfo");
    LOOKUP(multi_init, "curl_multi_init");
    LOOKUP(multi_setopt, "curl_multi_setopt");
    LOOKUP(multi_add_handle, "curl_multi_add_handle");
    LOOKUP(multi_remove_handle, "curl_multi_remove_handle");
    LOOKUP(multi_perform, "curl_multi_perform");
    LOOKUP(multi_poll, "curl_multi_poll");
    LOOKUP(multi_wakeup, "curl_multi_wakeup");
    LOOKUP(multi_info_read, "curl_multi_info_read");
    LOOKUP(slist_append, "curl_slist_append");
    LOOKUP(slist_free_all, "curl_slist_free_all");
}

const char *by_curl_load(void) {
    pthread_once(&once, load);
    return load_error[0] ? load_error : NULL;
}

CURLcode by_curl_global_init(long flags) { return fn.global_init(flags); }
CURL *by_curl_easy_init(void) { return fn.easy_init(); }
void by_curl_easy_cleanup(CURL *h) { fn.easy_cleanup(h); }
void by_curl_easy_reset(CURL *h) { fn.easy_reset(h); }
CURLcode by_curl_easy_pause(CURL *h, int bitmask) { return fn.easy_pause(h, bitmask); }
const char *by_curl_easy_strerror(CURLcode code) { return fn.easy_strerror(code); }
CURLM *by_curl_multi_init(void) { return fn.multi_init(); }
CURLMcode by_curl_multi_add_handle(CURLM *m, CURL *h) { return fn.multi_add_handle(m, h); }
CURLMcode by_curl_multi_remove_handle(CURLM *m, CURL *h) { return fn.multi_remove_handle(m, h); }
CURLMcode by_curl_multi_perform(CURLM *m, int *running) { return fn.multi_perform(m, running); }
CURLMcode by_curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned int n, int timeout_ms, int *ret) {
    return fn.multi_poll(m, fds, n, timeout_ms, ret);
}
CURLMcode by_curl_multi_wakeup(CURLM *m) { return fn.multi_wakeup(m); }
CURLMsg *by_curl_multi_info_read(CURLM *m, int *queued) { return fn.multi_info_read(m, queued); }
struct curl_slist *by_curl_slist_append(struct curl_slist *list, const char *s) { return fn.slist_append(list, s); }
void by_curl_slist_free_all(struct curl_slist *list) { fn.slist_free_all(list); }

CURLcode by_curl_easy_setopt_long(CURL *h, CURLoption opt, long value) { return fn.easy_setopt(h, opt, value); }
CURLcode by_curl_easy_setopt_offt(CURL *h, CURLoption opt, curl_off_t value) { return fn.easy_setopt(h, opt, value); }
CURLcode by_curl_easy_setopt_string(CURL *h, CURLoption opt, const char *value) { return fn.easy_setopt(h, opt, value); }
CURLcode by_curl_easy_setopt_pointer(CURL *h, CURLoption opt, void *value) { return fn.easy_setopt(h, opt, value); }
CURLcode by_curl_easy_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value) { return fn.easy_setopt(h, opt, value); }

CURLcode by_curl_easy_setopt_write_function(CURL *h, by_curl_data_callback cb) { return fn.easy_setopt(h, CURLOPT_WRITEFUNCTION, cb); }
CURLcode by_curl_easy_setopt_read_function(CURL *h, by_curl_data_callback cb) { return fn.easy_setopt(h, CURLOPT_READFUNCTION, cb); }
CURLcode by_curl_easy_setopt_header_function(CURL *h, by_curl_data_callback cb) { return fn.easy_setopt(h, CURLOPT_HEADERFUNCTION, cb); }
CURLcode by_curl_easy_setopt_seek_function(CURL *h, by_curl_seek_callback cb) { return fn.easy_setopt(h, CURLOPT_SEEKFUNCTION, cb); }

CURLcode by_curl_easy_getinfo_long(CURL *h, CURLINFO info, long *out) { return fn.easy_getinfo(h, info, out); }
CURLcode by_curl_easy_getinfo_offt(CURL *h, CURLINFO info, curl_off_t *out) { return fn.easy_getinfo(h, info, out); }
CURLcode by_curl_easy_getinfo_pointer(CURL *h, CURLINFO info, void **out) { return fn.easy_getinfo(h, info, out); }

CURLMcode by_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long value) { return fn.multi_setopt(m, opt, value); }
