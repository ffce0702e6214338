/*
 * multiparts.c - multipart uploads in progress, in partition "gateway".
 *
 * Rows written by old releases have NULL metadata and content_type; they
 * are migrated with nil values like any other NULL.
 */
#include "kvm/migrator.h"
#include "rowval.h"

static const char *const multiparts_tables[] = { "gateway_multiparts", NULL };

static const struct kvm_rowval_col upload_cols[] = {
	{ "upload_id", 0, KVM_RV_TEXT },
	{ "path", 1, KVM_RV_TEXT },
	{ "creation_date", 2, KVM_RV_TS },
	{ "physical_address", 3, KVM_RV_TEXT },
	{ "metadata", 4, KVM_RV_JSONB },
	{ "content_type", 5, KVM_RV_TEXT },
};

static const struct kvm_rowval_record upload_rec = {
	.part = KVM_RV_LIT("gateway"), .part_field = -1,
	.key = KVM_RV_LIT("multipart/"), .key_field = 0,
	.cols = upload_cols, .ncols = KVM_RV_COUNT(upload_cols),
};

static int upload_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &upload_rec, err);
}

static const struct kvm_source multiparts_sources[] = {
	{
		.table = "gateway_multiparts", .ncols = 6, .row = upload_row,
		.query = "SELECT upload_id, path, creation_date, "
		         "physical_address, metadata, content_type "
		         "FROM gateway_multiparts "
		         "ORDER BY upload_id COLLATE \"C\"",
	},
};

const struct kvm_migrator kvm_migrator_multiparts = {
	.abi = KVM_MIGRATOR_ABI,
	.name = "multiparts",
	.tables = multiparts_tables,
	.sources = multiparts_sources,
	.nsources = KVM_RV_COUNT(multiparts_sources),
};
