#ifndef BLOBFERRY_COPENSSL_H
#define BLOBFERRY_COPENSSL_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#endif
