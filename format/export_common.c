/*
 * export_common.c - the pieces of the export format that writer and
 * reader share: the end index codec and the package-name rule.
 */
#include <string.h>

#include "kvm/export.h"
#include "export_int.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void kvm_export_index_encode(uint8_t out[KVM_EXPORT_INDEX_SIZE],
                             uint64_t end_frame_offset)
{
	put_le32(out, KVM_EXPORT_INDEX_MAGIC);
	put_le32(out + 4, KVM_EXPORT_INDEX_SIZE - 8);
	memcpy(out + 8, KVM_EXPORT_INDEX_TAG, 8);
	put_le32(out + 16, (uint32_t)end_frame_offset);
	put_le32(out + 20, (uint32_t)(end_frame_offset >> 32));
}

int kvm_export_index_decode(const uint8_t buf[KVM_EXPORT_INDEX_SIZE],
                            uint64_t *end_frame_offset)
{
	if (get_le32(buf) != KVM_EXPORT_INDEX_MAGIC ||
	    get_le32(buf + 4) != KVM_EXPORT_INDEX_SIZE - 8 ||
	    memcmp(buf + 8, KVM_EXPORT_INDEX_TAG, 8) != 0)
		return 0;
	*end_frame_offset = (uint64_t)get_le32(buf + 16) |
	                    (uint64_t)get_le32(buf + 20) << 32;
	return 1;
}

int kvm_export_package_name_ok(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}
