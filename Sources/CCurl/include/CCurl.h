#ifndef BLOCKYARD_CCURL_H
#define BLOCKYARD_CCURL_H
// libcurl's curl_easy_setopt/curl_easy_getinfo/curl_multi_setopt are variadic,
// which Swift cannot call. One typed wrapper per argument kind.
#include <curl/curl.h>

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
