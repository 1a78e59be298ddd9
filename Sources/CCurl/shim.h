#ifndef BLOBFERRY_CCURL_H
#define BLOBFERRY_CCURL_H
#include <curl/curl.h>
#endif
