// CImageCodecs: libpng and libjpeg(-turbo).
#include <stdio.h>
#include <png.h>
#include <jpeglib.h>
