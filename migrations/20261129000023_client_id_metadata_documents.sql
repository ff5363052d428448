-- Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document);
-- README "Client ID Metadata Documents".

-- A client whose client_id is an https URL and whose metadata Lanyard
-- fetched from it is a row like any other (grants, codes and consents
-- reference it), marked `metadata_document`, with when it was fetched and
-- until when that fetch is fresh (the document's Cache-Control max-age,
-- within 5 minutes and 24 hours); after that it is fetched again.
-- Migration 0021 says client ids are unreserved characters; a URL client_id
-- is not, but it is in its normal form, percent-encoded (the URL parser's
-- serialization must equal it), so it never holds a space either.
ALTER TABLE clients DROP CONSTRAINT clients_registered_via_check;
ALTER TABLE clients
    ADD CONSTRAINT clients_registered_via_check
        CHECK (registered_via IN ('admin', 'dynamic', 'metadata_document')),
    ADD COLUMN metadata_fetched_at timestamptz,
    ADD COLUMN metadata_fresh_until timestamptz,
    ADD CONSTRAINT clients_metadata_document_fetched
        CHECK ((registered_via = 'metadata_document') = (metadata_fresh_until IS NOT NULL));
