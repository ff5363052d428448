-- The catalog holds 100,000 clients: a change names what it touched, so each
-- node reloads that part, not the whole catalog (issue 16). Payloads on the
-- `lanyard_catalog` channel:
--   `clients ID ID …`   these clients' rows, API allowances, trusts and
--                        introspection rights (ids are RFC 3986 unreserved
--                        characters: never a space);
--   `all`                too many clients for one payload, or TRUNCATE;
--   `apis`, `upstreams` those small tables (migration 0004's function sends
--                        the table's name).
-- NOTIFY is delivered at commit, once per transaction and payload.

CREATE FUNCTION lanyard_catalog_clients_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text[];
    payload text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('lanyard_catalog', 'all');
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT client_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT client_id) INTO ids
            FROM (SELECT client_id FROM new_rows UNION SELECT client_id FROM old_rows) changed;
    ELSE
        SELECT array_agg(DISTINCT client_id) INTO ids FROM old_rows;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    payload := 'clients ' || array_to_string(ids, ' ');
    -- pg_notify's payload is at most 8000 bytes.
    IF octet_length(payload) > 7900 THEN
        payload := 'all';
    END IF;
    PERFORM pg_notify('lanyard_catalog', payload);
    RETURN NULL;
END
$$;

-- A trigger with transition tables fires on one event only: three per table,
-- and one for TRUNCATE (which has no transition tables).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['clients', 'client_trusts', 'client_api_access', 'api_resource_servers'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_changed', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_clients_changed()',
                       t || '_inserted', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_clients_changed()',
                       t || '_updated', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_clients_changed()',
                       t || '_deleted', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I
                            FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_clients_changed()',
                       t || '_truncated', t);
    END LOOP;
END
$$;

-- The other catalog tables keep migration 0004's trigger (payload: the
-- table's name); api_scopes says `apis`, as the scope list is not in memory
-- and removing a scope removes allowances (their own trigger names the clients).
CREATE OR REPLACE FUNCTION lanyard_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lanyard_catalog', CASE TG_TABLE_NAME WHEN 'api_scopes' THEN 'apis' ELSE TG_TABLE_NAME END);
    RETURN NULL;
END
$$;
