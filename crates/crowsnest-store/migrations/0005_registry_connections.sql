-- How Crowsnest reaches a registry it synchronises itself (`crowsnest registry add`, the admin
-- API). Registries known only from a cloud seed have no row here.
CREATE TABLE registry_connections (
    registry_id BIGINT PRIMARY KEY REFERENCES registries(id),
    -- https://host[:port] or http://host[:port].
    url TEXT NOT NULL,
    username TEXT NOT NULL DEFAULT '',
    -- The password or token sealed with the server key in the data directory; '' when anonymous.
    secret_sealed TEXT NOT NULL DEFAULT '',
    -- JSON arrays: namespaces to keep (empty keeps all), and repositories to walk when the
    -- registry has no _catalog.
    namespace_filters TEXT NOT NULL DEFAULT '[]',
    repositories TEXT NOT NULL DEFAULT '[]',
    insecure_tls BIGINT NOT NULL DEFAULT 0,
    ca_cert_pem TEXT NOT NULL DEFAULT '',
    latest_sync_ms BIGINT NOT NULL DEFAULT 0,
    -- '' after a good sync, else `code: message`.
    latest_sync_error TEXT NOT NULL DEFAULT ''
);
