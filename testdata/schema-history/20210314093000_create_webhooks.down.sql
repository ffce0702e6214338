DROP TABLE webhooks;
DROP FUNCTION touch_updated_at();
