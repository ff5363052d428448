-- Every node keeps clients, APIs and allowances in memory; a change to any of
-- their tables tells them all to reload (LISTEN lanyard_catalog). NOTIFY is
-- delivered at commit, once per transaction and payload.
CREATE FUNCTION lanyard_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lanyard_catalog', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
CREATE TRIGGER client_trusts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_trusts
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
CREATE TRIGGER apis_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apis
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
CREATE TRIGGER api_scopes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_scopes
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
CREATE TRIGGER api_resource_servers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_resource_servers
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
CREATE TRIGGER client_api_access_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_api_access
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
