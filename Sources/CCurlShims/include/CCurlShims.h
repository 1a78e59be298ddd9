#ifndef BLOBFERRY_CCURLSHIMS_H
#define BLOBFERRY_CCURLSHIMS_H
#include <curl/curl.h>

/*
 * Typed wrappers for curl's variadic functions (curl_easy_setopt, curl_easy_getinfo,
 * curl_multi_setopt), which Swift cannot call, plus one helper that flattens
 * curl_multi_info_read's union. Each wrapper passes exactly one argument of one type, so
 * the type curl reads with va_arg is the type Swift passed.
 */

CURLcode bf_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode bf_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode bf_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode bf_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode bf_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);

/* CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION, CURLOPT_READFUNCTION, CURLOPT_SEEKFUNCTION. */
CURLcode bf_easy_setopt_write_callback(CURL *handle, curl_write_callback callback);
CURLcode bf_easy_setopt_header_callback(CURL *handle, curl_write_callback callback);
CURLcode bf_easy_setopt_read_callback(CURL *handle, curl_read_callback callback);
CURLcode bf_easy_setopt_seek_callback(CURL *handle, curl_seek_callback callback);

CURLcode bf_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode bf_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value);
CURLcode bf_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);
CURLcode bf_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);

CURLMcode bf_multi_setopt_long(CURLM *multi, CURLMoption option, long value);

/* curl_share_setopt(share, CURLSHOPT_SHARE, data): share one kind of data (an int). */
CURLSHcode bf_share_setopt_share(CURLSH *share, curl_lock_data data);

/*
 * The CA bundle file and CA directory libcurl was built with (curl_version_info's cainfo
 * and capath), or NULL when it has none. Debian's: /etc/ssl/certs/ca-certificates.crt and
 * /etc/ssl/certs.
 */
const char *bf_curl_builtin_cainfo(void);
const char *bf_curl_builtin_capath(void);

/*
 * Reads the next finished transfer from curl_multi_info_read, skipping other message
 * kinds. Returns 1 and fills *easy and *result when one was read, 0 when none is left.
 */
int bf_multi_info_read_done(CURLM *multi, CURL **easy, CURLcode *result);

#endif
