#ifndef BLOBFERRY_CHIREDIS_H
#define BLOBFERRY_CHIREDIS_H
#include <hiredis/hiredis.h>
#endif
