-- With 100,000 clients (issue 16):
-- a statement touching thousands of clients says `all` before it builds a
-- payload of their ids (migration 0021 built it first, then measured it);
CREATE OR REPLACE FUNCTION lanyard_catalog_clients_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- Client ids are at most 64 characters: 120 of them always fit the
    -- 8000-byte payload; past that, measure only what is still small.
    IF cardinality(ids) > 2000 THEN
        payload := 'all';
    ELSE
        payload := 'clients ' || array_to_string(ids, ' ');
        IF octet_length(payload) > 7900 THEN
            payload := 'all';
        END IF;
    END IF;
    PERFORM pg_notify('lanyard_catalog', payload);
    RETURN NULL;
END
$$;

-- and the catalog's reads of a few clients, and the cascades when a client
-- or an API scope is deleted, use an index instead of scanning a table.
CREATE INDEX client_trusts_trusted ON client_trusts (trusted_client_id);
CREATE INDEX api_resource_servers_client ON api_resource_servers (client_id);
CREATE INDEX client_api_access_scope ON client_api_access (api_id, scope);
