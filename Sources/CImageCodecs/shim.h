// CImageCodecs: libpng and libjpeg(-turbo) behind three functions Swift can call safely.
//
// Why a shim: libjpeg reports errors by calling error_exit, which by default prints and exit()s the
// process; the only way back is setjmp/longjmp, which Swift cannot express. These static inline
// helpers keep the setjmp in C so a corrupt or truncated image becomes an error message, not an
// abort. PNG uses libpng's simplified API (png_image_*), which does the same internally.
#ifndef ALEXCONV_IMAGE_CODECS_SHIM_H
#define ALEXCONV_IMAGE_CODECS_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

/// Largest image accepted, in pixels (checked before any pixel buffer is allocated).
#define ACX_MAX_PIXELS (100u * 1000u * 1000u)

/// A decoded 8-bit RGB image (pixels interleaved, row-major), or an error message.
typedef struct {
    unsigned char *pixels;
    unsigned int width;
    unsigned int height;
    char message[200];
} acx_image;

static inline void acx_image_free(acx_image *image) {
    if (image->pixels) { free(image->pixels); image->pixels = NULL; }
}

/// Decodes PNG bytes to RGB (palette, gray, 16-bit and alpha are converted; alpha is dropped by
/// compositing on black as libpng's simplified API does). Returns 1 on success, 0 with a message.
static inline int acx_decode_png(const unsigned char *data, size_t size, acx_image *out) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    out->pixels = NULL;
    out->message[0] = 0;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(out->message, sizeof out->message, "%s", image.message);
        return 0;
    }
    if (image.width == 0 || image.height == 0 || (unsigned long long)image.width * image.height > ACX_MAX_PIXELS) {
        snprintf(out->message, sizeof out->message, "image of %ux%u pixels is empty or larger than the limit of %u",
                 image.width, image.height, ACX_MAX_PIXELS);
        png_image_free(&image);
        return 0;
    }
    image.format = PNG_FORMAT_RGB;
    size_t bytes = (size_t)PNG_IMAGE_SIZE(image);
    out->pixels = (unsigned char *)malloc(bytes);
    if (!out->pixels) {
        snprintf(out->message, sizeof out->message, "out of memory for %zu bytes", bytes);
        png_image_free(&image);
        return 0;
    }
    if (!png_image_finish_read(&image, NULL, out->pixels, 0, NULL)) {
        snprintf(out->message, sizeof out->message, "%s", image.message);
        acx_image_free(out);
        png_image_free(&image);
        return 0;
    }
    out->width = image.width;
    out->height = image.height;
    return 1;
}

/// libjpeg error manager that jumps back to the decoder instead of exiting.
typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    size_t capacity;
    int truncated;
} acx_jpeg_error;

static inline void acx_jpeg_error_exit(j_common_ptr cinfo) {
    acx_jpeg_error *error = (acx_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->message, error->capacity, "%s", text);
    longjmp(error->jump, 1);
}

static inline void acx_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; /* warnings stay quiet */ }

/// Counts warnings quietly and notes the one that means the data ended early.
static inline void acx_jpeg_emit_message(j_common_ptr cinfo, int level) {
    acx_jpeg_error *error = (acx_jpeg_error *)cinfo->err;
    if (level < 0) {
        error->base.num_warnings++;
        if (error->base.msg_code == JWRN_JPEG_EOF) error->truncated = 1;
    }
}

/// Decodes JPEG bytes (baseline or progressive; gray and YCbCr) to RGB with libjpeg's accurate
/// integer IDCT, reduced by libjpeg-turbo's DCT scaling (1/2, 1/4 or 1/8, the largest reduction
/// that keeps the image at least twice `min_width` x `min_height`; 0 x 0 decodes at full size).
/// Returns 1 on success, 0 with a message (corrupt data, CMYK, too large).
static inline int acx_decode_jpeg_at_least(const unsigned char *data, size_t size, unsigned int min_width,
                                           unsigned int min_height, acx_image *out) {
    struct jpeg_decompress_struct cinfo;
    acx_jpeg_error error;
    unsigned char *volatile pixels = NULL;
    out->pixels = NULL;
    out->message[0] = 0;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&error.base);
    error.base.error_exit = acx_jpeg_error_exit;
    error.base.output_message = acx_jpeg_output_message;
    error.base.emit_message = acx_jpeg_emit_message;
    error.truncated = 0;
    error.message = out->message;
    error.capacity = sizeof out->message;
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&cinfo);
        if (pixels) free(pixels);
        return 0;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(out->message, sizeof out->message, "CMYK JPEG images are not supported (expected RGB or grayscale)");
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
        (unsigned long long)cinfo.image_width * cinfo.image_height > ACX_MAX_PIXELS) {
        snprintf(out->message, sizeof out->message, "image of %ux%u pixels is empty or larger than the limit of %u",
                 cinfo.image_width, cinfo.image_height, ACX_MAX_PIXELS);
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    cinfo.out_color_space = JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    if (min_width > 0 && min_height > 0) {
        unsigned int denominator = 1;
        while (denominator < 8 &&
               cinfo.image_width / (denominator * 2) >= 2ull * min_width &&
               cinfo.image_height / (denominator * 2) >= 2ull * min_height) {
            denominator *= 2;
        }
        cinfo.scale_num = 1;
        cinfo.scale_denom = denominator;
    }
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    pixels = (unsigned char *)malloc(stride * cinfo.output_height);
    if (!pixels) {
        snprintf(out->message, sizeof out->message, "out of memory");
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (error.truncated) {
        snprintf(out->message, sizeof out->message, "truncated JPEG data (premature end of file)");
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 0;
    }
    jpeg_finish_decompress(&cinfo);
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    out->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return 1;
}

/// The full-size decode.
static inline int acx_decode_jpeg(const unsigned char *data, size_t size, acx_image *out) {
    return acx_decode_jpeg_at_least(data, size, 0, 0, out);
}

/// Encodes (height, width, 3) RGB pixels as a baseline JPEG of `quality` (1-100) into a buffer
/// libjpeg allocates (`*jpeg`, `*jpeg_size`; release with `acx_jpeg_free`). Returns 1 on success,
/// 0 with `message` set.
static inline int acx_encode_jpeg(const unsigned char *pixels, unsigned int width, unsigned int height, int quality,
                                  unsigned char **jpeg, unsigned long *jpeg_size, char *message, size_t capacity) {
    struct jpeg_compress_struct cinfo;
    acx_jpeg_error error;
    *jpeg = NULL;
    *jpeg_size = 0;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&error.base);
    error.base.error_exit = acx_jpeg_error_exit;
    error.base.output_message = acx_jpeg_output_message;
    error.base.emit_message = acx_jpeg_emit_message;
    error.truncated = 0;
    error.message = message;
    error.capacity = capacity;
    if (setjmp(error.jump)) {
        jpeg_destroy_compress(&cinfo);
        if (*jpeg) { free(*jpeg); *jpeg = NULL; }
        return 0;
    }
    if (width == 0 || height == 0 || (unsigned long long)width * height > ACX_MAX_PIXELS) {
        snprintf(message, capacity, "image of %ux%u pixels is empty or larger than the limit of %u", width, height, ACX_MAX_PIXELS);
        return 0;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, jpeg, jpeg_size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return 1;
}

/// Releases a buffer `acx_encode_jpeg` returned.
static inline void acx_jpeg_free(unsigned char *jpeg) { free(jpeg); }

#endif
