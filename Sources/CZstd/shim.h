#include <zstd.h>

/* ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are expression macros
 * Swift does not import. Returns 1 and sets *size when the frame header declares
 * its content size, 0 when it does not, -1 when the header is not a valid one. */
static inline int nt_zstd_frame_content_size(const void *src, size_t n, unsigned long long *size) {
	unsigned long long v = ZSTD_getFrameContentSize(src, n);
	if (v == ZSTD_CONTENTSIZE_ERROR) return -1;
	if (v == ZSTD_CONTENTSIZE_UNKNOWN) return 0;
	*size = v;
	return 1;
}
