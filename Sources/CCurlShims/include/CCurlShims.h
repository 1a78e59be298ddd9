#ifndef BLOBFERRY_CCURLSHIMS_H
#define BLOBFERRY_CCURLSHIMS_H
#include <curl/curl.h>
/* Typed wrappers for curl's variadic functions (not callable from Swift). */
#endif
