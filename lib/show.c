/*
 * show.c - bytes of a key or partition, shown in a one-line message.
 */
#include <stdio.h>

#include "show.h"

void kvm_show_bytes(char *out, size_t size, const void *p, size_t len,
                    size_t max)
{
	const unsigned char *b = p;
	size_t n = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < len && n + 8 < size; i++) {
		if (i == max) {
			n += (size_t)snprintf(out + n, size - n, "...");
			break;
		}
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\'' && b[i] != '\\')
			out[n++] = (char)b[i];
		else
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", b[i]);
	}
	out[n] = '\0';
}
