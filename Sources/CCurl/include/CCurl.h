#ifndef BLOCKYARD_CCURL_H
#define BLOCKYARD_CCURL_H
// libcurl, opened on first use (by_curl_load) rather than linked, so commands that never
// reach Azure do not load it. Call only these by_ functions: libcurl's own symbols are not
// linked. curl_easy_setopt/curl_easy_getinfo/curl_multi_setopt are variadic, which Swift
// cannot call: one typed wrapper per argument kind.
#include <curl/curl.h>

/// Opens libcurl.so.4 and looks up every function below, once per process; NULL on
/// success, else why not (no other by_ function may be called then).
const char *by_curl_load(void);

CURLcode by_curl_global_init(long flags);
CURL *by_curl_easy_init(void);
void by_curl_easy_cleanup(CURL *h);
void by_curl_easy_reset(CURL *h);
CURLcode by_curl_easy_pause(CURL *h, int bitmask);
const char *by_curl_easy_strerror(CURLcode code);
CURLM *by_curl_multi_init(void);
CURLMcode by_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode by_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode by_curl_multi_perform(CURLM *m, int *running);
CURLMcode by_curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned int n, int timeout_ms, int *ret);
CURLMcode by_curl_multi_wakeup(CURLM *m);
CURLMsg *by_curl_multi_info_read(CURLM *m, int *queued);
struct curl_slist *by_curl_slist_append(struct curl_slist *list, const char *s);
void by_curl_slist_free_all(struct curl_slist *list);

CURLcode by_curl_easy_setopt_long(CURL *h, CURLoption opt, long value);
CURLcode by_curl_easy_setopt_offt(CURL *h, CURLoption opt, curl_off_t value);
CURLcode by_curl_easy_setopt_string(CURL *h, CURLoption opt, const char *value);
CURLcode by_curl_easy_setopt_pointer(CURL *h, CURLoption opt, void *value);
CURLcode by_curl_easy_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value);

typedef size_t (*by_curl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
CURLcode by_curl_easy_setopt_write_function(CURL *h, by_curl_data_callback cb);
CURLcode by_curl_easy_setopt_read_function(CURL *h, by_curl_data_callback cb);
CURLcode by_curl_easy_setopt_header_function(CURL *h, by_curl_data_callback cb);

typedef int (*by_curl_seek_callback)(void *userdata, curl_off_t offset, int origin);
CURLcode by_curl_easy_setopt_seek_function(CURL *h, by_curl_seek_callback cb);

CURLcode by_curl_easy_getinfo_long(CURL *h, CURLINFO info, long *out);
CURLcode by_curl_easy_getinfo_offt(CURL *h, CURLINFO info, curl_off_t *out);
CURLcode by_curl_easy_getinfo_pointer(CURL *h, CURLINFO info, void **out);

CURLMcode by_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long value);

#endif
