-- When a client's secret last changed (made or rotated): its admin-API tokens
-- issued before then stop working at once. Clients from before this
-- migration count from now: no admin token issued before it is trusted.
ALTER TABLE clients ADD COLUMN secret_changed_at timestamptz;
UPDATE clients SET secret_changed_at = now();
ALTER TABLE clients ALTER COLUMN secret_changed_at SET NOT NULL;
ALTER TABLE clients ALTER COLUMN secret_changed_at SET DEFAULT now();
