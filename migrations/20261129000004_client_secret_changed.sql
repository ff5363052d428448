-- When a client's secret last changed (made or rotated): its admin-API tokens
-- issued before then stop working at once.
ALTER TABLE clients ADD COLUMN secret_changed_at timestamptz;
UPDATE clients SET secret_changed_at = created_at;
ALTER TABLE clients ALTER COLUMN secret_changed_at SET NOT NULL;
ALTER TABLE clients ALTER COLUMN secret_changed_at SET DEFAULT now();
